"""Time cuDNN's transposed convolutions (torch.nn.functional.conv_transpose2d) on the records of
a `wino bench --suite dcgan|unet --json ours.json` run, with each mode's error against a float64
transposed convolution of the same data: the counterpart of torch_conv_bench.py for
ConvTranspose2d, in the same output format (one line per record, ours beside cuDNN, totals).

usage: python3 gpu/torch_transpose_bench.py --from-json ours.json [--no-error] [--json FILE]

Conventions as torch_conv_bench.py (torch_common.py): fp32 with TF32 off, TF32 on, fp16. A
record is `c` -> `k` channels, weight (c, k/groups, r, r), output padding 0.
"""
import argparse
import torch
from torch_common import banner, compare, records, require, write_json


def layer(row):
    (n, c, h, w, k, r, s, pad, g, cnt) = row
    x = torch.randn(n, c, h, w, device="cuda"); wt = torch.randn(c, k // g, r, r, device="cuda")
    conv = lambda xx, ww: torch.nn.functional.conv_transpose2d(xx, ww, stride=s, padding=pad, groups=g)

    def make(dtype):
        xx, ww = x.to(dtype), wt.to(dtype)
        return lambda: conv(xx, ww)

    label = f"n={n} c={c} h={h} w={w} k={k} {r}x{r} s{s} p{pad} g{g} x{cnt} transposed"
    # Every input element times every tap (cropped ones included), as PyTorch's profiler counts.
    return label, make, lambda: conv(x.double(), wt.double()), 2 * n * c * h * w * (k // g) * r * r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--from-json", required=True)
    p.add_argument("--no-error", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    rows, ours = records(a.from_json, lambda r: r.get("transposed") or "_t_" in r.get("name", ""))
    require(rows, a.from_json, "transposed (wino bench --suite dcgan|unet)")
    banner()
    out, total = compare(rows, ours, layer, errors=not a.no_error)
    if a.json:
        write_json(a.json, out, total)


if __name__ == "__main__":
    main()
