"""Time cuDNN's transposed convolutions (torch.nn.functional.conv_transpose2d) on the records of
a `wino bench --suite dcgan|unet --json ours.json` run, with each mode's error against a float64
transposed convolution of the same data: the counterpart of torch_conv_bench.py for
ConvTranspose2d, in the same output format (one line per record, ours beside cuDNN, totals).

usage: python3 gpu/torch_transpose_bench.py --from-json ours.json [--no-error]

Conventions as torch_conv_bench.py: median of 50 CUDA-event-timed calls after warm-up,
cudnn.benchmark on, fp32 with TF32 off, TF32 on (PyTorch's default), and fp16. A record is
`c` → `k` channels, weight (c, k/groups, r, r), output padding 0.
"""
import argparse, json
import torch

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

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--from-json", required=True)
    p.add_argument("--no-error", action="store_true")
    a = p.parse_args()
    data = json.load(open(a.from_json))
    rows, ours = [], {}
    for r in data.get("results", data):
        if not (r.get("transposed") or "_t_" in r.get("name", "")):
            continue
        row = (r["n"], r["c"], r["h"], r["w"], r["k"], r["kernel"], r["stride"], r["padding"], r.get("groups", 1), r.get("count", 1))
        if row not in ours:
            rows.append(row)
        if r.get("gpu_ms") is not None:
            ours.setdefault(row, []).append(r["gpu_ms"])
    torch.backends.cudnn.benchmark = True
    print(torch.cuda.get_device_name(0), "torch", torch.__version__, "cudnn", torch.backends.cudnn.version())
    total = {"fp32": 0.0, "tf32": 0.0, "fp16": 0.0, "ours": 0.0}
    for shape in rows:
        (n, c, h, w, k, r, s, pad, g, cnt) = shape
        x = torch.randn(n, c, h, w, device="cuda"); wt = torch.randn(c, k // g, r, r, device="cuda")
        conv = lambda xx, ww: torch.nn.functional.conv_transpose2d(xx, ww, stride=s, padding=pad, groups=g)
        ref = None if a.no_error else conv(x.double(), wt.double())
        ms, err = {}, {}
        for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("fp16", torch.float16, False)):
            torch.backends.cudnn.allow_tf32 = tf32
            xx, ww = x.to(dtype), wt.to(dtype)
            ms[name] = time_ms(lambda: conv(xx, ww))
            if ref is not None:
                err[name] = float((conv(xx, ww).double() - ref).abs().max() / ref.abs().max())
            total[name] += ms[name] * cnt
        line = (f"n={n} c={c} h={h} w={w} k={k} {r}x{r} s{s} p{pad} g{g} x{cnt} transposed: fp32 {ms['fp32']:.4f} ms  "
                f"tf32 {ms['tf32']:.4f}  fp16 {ms['fp16']:.4f}")
        if err:
            line += f"  err fp32 {err['fp32']:.1e} tf32 {err['tf32']:.1e} fp16 {err['fp16']:.1e}"
        if shape in ours:
            o = min(ours[shape]); total["ours"] += o * cnt
            line += f"  | ours {o:.4f} = {o / ms['fp32']:.2f}x fp32, {o / ms['tf32']:.2f}x tf32"
        print(line)
    line = f"total (each layer x its count): fp32 {total['fp32']:.3f} ms  tf32 {total['tf32']:.3f}  fp16 {total['fp16']:.3f}"
    if total["ours"]:
        line += f"  | ours {total['ours']:.3f} = {total['ours'] / total['fp32']:.2f}x fp32, {total['ours'] / total['tf32']:.2f}x tf32"
    print(line)

if __name__ == "__main__":
    main()
