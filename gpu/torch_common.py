"""What the cuDNN counterparts of `wino bench` share: CUDA-event timing, errors against float64,
the records of a `wino bench --json` file, and the per-layer and total lines in
torch_conv_bench.py's format (`| ours X = Rx fp32, Rx tf32`). Imported by torch_grad_bench.py,
torch_transpose_bench.py and torch_conv1d_bench.py (Python puts a script's own directory on the
import path, so they run from any directory).

Conventions: median of 50 CUDA-event-timed calls after 5 warm-up calls, cudnn.benchmark on; fp32
with TF32 off (like for like with the f32 WGSL), TF32 on (PyTorch's default for convolutions)
and fp16. Errors are max|y - y64| / max|y64| against a float64 result of the same (fp32) data on
the GPU.
"""
import json
import torch

# (name, dtype of the operands, cudnn.allow_tf32)
MODES = (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("fp16", torch.float16, False))


def time_ms(fn, iters=50):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record(); fn(); end.record(); torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def rel_err(got, ref):
    return float((got.double() - ref).abs().max() / ref.abs().max())


def banner():
    """cudnn.benchmark on, and the device, torch and cuDNN versions printed."""
    torch.backends.cudnn.benchmark = True
    print(torch.cuda.get_device_name(0), "torch", torch.__version__, "cudnn", torch.backends.cudnn.version())


def records(path, keep):
    """The distinct layers of the records of a `wino bench --json` file that `keep(record)`
    accepts, in order of first occurrence, as (n, c, h, w, k, kernel, stride, padding, groups,
    count) (a conv1d's h is 1 and w its length), and our fastest gpu_ms per layer."""
    data = json.load(open(path))
    rows, ours = [], {}
    for r in data.get("results", data):
        if not keep(r):
            continue
        row = (r["n"], r["c"], r["h"], r["w"], r["k"], r["kernel"], r["stride"], r["padding"],
               r.get("groups", 1), r.get("count", 1))
        if row not in rows:
            rows.append(row)
        if r.get("gpu_ms") is not None:
            ours[row] = min(ours.get(row, r["gpu_ms"]), r["gpu_ms"])
    return rows, ours


def require(rows, path, what):
    """Exits with a message where `path` has no records of `what`."""
    if not rows:
        raise SystemExit(f"{path}: no {what} records")


def _vs(o, ms, digits):
    return f"  | ours {o:.{digits}f} = {o / ms['fp32']:.2f}x fp32, {o / ms['tf32']:.2f}x tf32"


def compare(rows, ours, layer, errors=True, tag=""):
    """Times every row in each of MODES and prints one line per row and a total line (each
    layer times its count), ours beside cuDNN where `ours` has the row. `layer(row)` gives
    (label, make, ref, flop): `make(dtype)` returns the call on operands of that dtype,
    `ref()` the float64 result, `flop` the call's multiply-adds x 2. `tag` names the total
    (` dx`). Returns the rows as dicts and the totals, for --json."""
    total = {"fp32": 0.0, "tf32": 0.0, "fp16": 0.0, "ours": 0.0}
    out = []
    for row in rows:
        cnt = row[-1]
        label, make, ref, flop = layer(row)
        want = ref() if errors else None
        ms, err = {}, {}
        for name, dtype, tf32 in MODES:
            torch.backends.cudnn.allow_tf32 = tf32
            call = make(dtype)
            ms[name] = time_ms(call)
            if want is not None:
                err[name] = rel_err(call(), want)
            total[name] += ms[name] * cnt
        line = (f"{label}: fp32 {ms['fp32']:.4f} ms ({flop / ms['fp32'] / 1e9:.1f} TFLOP/s)  "
                f"tf32 {ms['tf32']:.4f}  fp16 {ms['fp16']:.4f}")
        if err:
            line += f"  err fp32 {err['fp32']:.1e} tf32 {err['tf32']:.1e} fp16 {err['fp16']:.1e}"
        result = dict(zip(("n", "c", "h", "w", "k", "kernel", "stride", "padding", "groups", "count"), row))
        result.update({f"{m}_ms": v for m, v in ms.items()})
        result.update({f"{m}_err": v for m, v in err.items()})
        if row in ours:
            total["ours"] += ours[row] * cnt
            result["ours_ms"] = ours[row]
            line += _vs(ours[row], ms, 4)
        print(line, flush=True)
        out.append(result)
    line = (f"total{tag} (each layer x its count): fp32 {total['fp32']:.3f} ms  tf32 {total['tf32']:.3f}  "
            f"fp16 {total['fp16']:.3f}")
    if total["ours"]:
        line += _vs(total["ours"], total, 3)
    print(line)
    return out, total


def write_json(path, rows, total):
    json.dump({"device": torch.cuda.get_device_name(0), "rows": rows, "total": total}, open(path, "w"), indent=1)
