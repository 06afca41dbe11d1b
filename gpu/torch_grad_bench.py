"""Time cuDNN's convolution gradients on the GPU, torch.nn.grad.conv2d_input (dx) and
conv2d_weight (dw): the counterpart of `wino bench --grad` / `wino grad` (InputGrad, WeightGrad).

usage: python3 gpu/torch_grad_bench.py --from-json ours.json [--no-error] [--json FILE]
       python3 gpu/torch_grad_bench.py [--batch N] [--json FILE] [--no-error]

--from-json reads a `wino bench --suite resnet50 --grad input|weight --json ours.json` file and
times cuDNN's gradient of each record's kind on exactly its layers, in torch_conv_bench.py's
format (fp32, TF32 and fp16, errors, `| ours X = Rx fp32, Rx tf32` per layer, a total line per
gradient; torch_common.py). Without it: ResNet-50's convolutions (batch 32 by default), dw and
dx beside the forward conv2d in fp32 and TF32, one line per distinct layer, then totals.

Conventions as torch_conv_bench.py: median of 50 CUDA-event-timed calls after warm-up,
cudnn.benchmark on, fp32 with TF32 off (like for like with the f32 WGSL) and TF32 on (PyTorch's
default for convolutions). Errors are max|g - g64| / max|g64| against the float64 gradient of
the same fp32 data on the GPU.
"""
import argparse
import torch
from torch_common import banner, compare, records, rel_err, require, time_ms, write_json

# What each gradient is called in the lines.
SHORT = {"input": "dx", "weight": "dw"}

def resnet50(n):
    """Every conv of ResNet-50 v1.5 (224x224, stride on the 3x3), merged into distinct shapes:
    (n, c, h, w, k, kernel, stride, padding, groups, count)."""
    rows = [(n, 3, 224, 224, 64, 7, 2, 3, 1)]
    c, h = 64, 56
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            rows.append((n, c, h, h, width, 1, 1, 0, 1))
            rows.append((n, width, h, h, width, 3, s, 1, 1))
            if i == 0:
                rows.append((n, c, h, h, width * 4, 1, s, 0, 1))  # downsample
            h = (h + 2 - 3) // s + 1
            rows.append((n, width, h, h, width * 4, 1, 1, 0, 1))
            c = width * 4
    counts = {}
    for r in rows:
        counts[r] = counts.get(r, 0) + 1
    return [r + (cnt,) for r, cnt in counts.items()]

def grad_layer(grad):
    """`compare`'s layer for the gradient `grad` (input or weight) of a forward conv2d row."""
    def layer(row):
        (n, c, h, w, k, r, s, p, g, cnt) = row
        x = torch.randn(n, c, h, w, device="cuda"); wt = torch.randn(k, c // g, r, r, device="cuda")
        oh, ow = (h + 2 * p - r) // s + 1, (w + 2 * p - r) // s + 1
        dy = torch.randn(n, k, oh, ow, device="cuda")
        if grad == "input":
            op = lambda ww, gg: torch.nn.grad.conv2d_input(x.shape, ww, gg, stride=s, padding=p, groups=g)
            operands = (wt, dy)
        else:
            op = lambda xx, gg: torch.nn.grad.conv2d_weight(xx, wt.shape, gg, stride=s, padding=p, groups=g)
            operands = (x, dy)

        def make(dtype):
            a, b = (t.to(dtype) for t in operands)
            return lambda: op(a, b)

        label = f"n={n} c={c} h={h} w={w} k={k} {r}x{r} s{s} p{p} g{g} x{cnt} {SHORT[grad]}"
        ref = lambda: op(*(t.double() for t in operands))
        return label, make, ref, 2 * n * (c // g) * k * r * r * oh * ow
    return layer

def from_json(a):
    """Each gradient kind in the file against cuDNN's, one total line per kind."""
    kinds = [(grad, *records(a.from_json, lambda r, grad=grad: r.get("grad") == grad)) for grad in SHORT]
    kinds = [kind for kind in kinds if kind[1]]
    require(kinds, a.from_json, "gradient (wino bench --grad input|weight)")
    banner()
    out, totals = [], {}
    for grad, rows, ours in kinds:
        got, totals[grad] = compare(rows, ours, grad_layer(grad), errors=not a.no_error, tag=f" {SHORT[grad]}")
        out += [dict(r, grad=grad) for r in got]
    if a.json:
        write_json(a.json, out, totals)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-json")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json")
    ap.add_argument("--no-error", action="store_true")
    a = ap.parse_args()
    if a.from_json:
        return from_json(a)
    banner()
    keys = [f"{op}_{p}_ms" for op in ("fwd", "dw", "dx") for p in ("fp32", "tf32")]
    rows, total = [], {k: 0.0 for k in keys}
    for (n, c, h, w, k, r, s, p, g, cnt) in resnet50(a.batch):
        x = torch.randn(n, c, h, w, device="cuda"); wt = torch.randn(k, c // g, r, r, device="cuda")
        oh, ow = (h + 2 * p - r) // s + 1, (w + 2 * p - r) // s + 1
        dy = torch.randn(n, k, oh, ow, device="cuda")
        fwd = lambda xx, ww: torch.nn.functional.conv2d(xx, ww, stride=s, padding=p, groups=g)
        dw = lambda xx, gg: torch.nn.grad.conv2d_weight(xx, wt.shape, gg, stride=s, padding=p, groups=g)
        dx = lambda ww, gg: torch.nn.grad.conv2d_input(x.shape, ww, gg, stride=s, padding=p, groups=g)
        row = dict(n=n, c=c, h=h, w=w, k=k, kernel=r, stride=s, padding=p, groups=g, count=cnt)
        for name, tf32 in (("fp32", False), ("tf32", True)):
            torch.backends.cudnn.allow_tf32 = tf32
            row[f"fwd_{name}_ms"] = time_ms(lambda: fwd(x, wt))
            row[f"dw_{name}_ms"] = time_ms(lambda: dw(x, dy))
            row[f"dx_{name}_ms"] = time_ms(lambda: dx(wt, dy))
            if not a.no_error:
                row[f"dw_{name}_err"] = rel_err(dw(x, dy), dw(x.double(), dy.double()))
                row[f"dx_{name}_err"] = rel_err(dx(wt, dy), torch.nn.grad.conv2d_input(
                    x.shape, wt.double(), dy.double(), stride=s, padding=p, groups=g))
        flops = 2 * n * (c // g) * k * r * r * oh * ow
        row["dw_fp32_tflops"] = flops / row["dw_fp32_ms"] / 1e9
        line = (f"n={n} c={c} h={h} w={w} k={k} {r}x{r} s{s} p{p} g{g} x{cnt}: fwd fp32 {row['fwd_fp32_ms']:.4f} ms  "
                f"dw fp32 {row['dw_fp32_ms']:.4f} ({row['dw_fp32_tflops']:.1f} TFLOP/s) tf32 {row['dw_tf32_ms']:.4f}  "
                f"dx fp32 {row['dx_fp32_ms']:.4f} tf32 {row['dx_tf32_ms']:.4f}")
        if not a.no_error:
            line += f"  err dw fp32 {row['dw_fp32_err']:.1e} tf32 {row['dw_tf32_err']:.1e}"
        for key in total:
            total[key] += cnt * row[key]
        rows.append(row)
        print(line, flush=True)
    print("total (each layer x its count): " + "  ".join(f"{k[:-3]} {v:.3f} ms" for k, v in total.items()))
    if a.json:
        write_json(a.json, rows, total)

if __name__ == "__main__":
    main()
