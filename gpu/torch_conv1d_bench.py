"""Time cuDNN's 1-D convolutions (torch.nn.functional.conv1d) on the records of a `wino bench
--suite whisper --json ours.json` run, or on Whisper small's front end itself, with each mode's
error against a float64 conv1d of the same data: the counterpart of torch_conv_bench.py for
Conv1d, in the same output format (one line per layer, ours beside cuDNN, totals).

usage: python3 gpu/torch_conv1d_bench.py [--from-json ours.json] [--batch N] [--no-error] [--json FILE]

Without --from-json: Whisper small's two convolutions at --batch (default 32), as `wino bench
--suite whisper` lists them: 80 -> 768 over 3000 frames (3 taps, padding 1), then 768 -> 768 at
stride 2. A record is (n, c, l) -> k channels, weight (k, c/groups, r); our JSON gives the
length as `w` (with h = 1). Conventions as torch_conv_bench.py (torch_common.py).
"""
import argparse
import torch
from torch_common import banner, compare, records, require, write_json


def whisper(n):
    """(n, c, 1, l, k, taps, stride, padding, groups, count) of Whisper small's encoder stem."""
    return [(n, 80, 1, 3000, 768, 3, 1, 1, 1, 1), (n, 768, 1, 3000, 768, 3, 2, 1, 1, 1)]


def layer(row):
    (n, c, _, l, k, r, s, pad, g, cnt) = row
    x = torch.randn(n, c, l, device="cuda"); wt = torch.randn(k, c // g, r, device="cuda")
    conv = lambda xx, ww: torch.nn.functional.conv1d(xx, ww, stride=s, padding=pad, groups=g)

    def make(dtype):
        xx, ww = x.to(dtype), wt.to(dtype)
        return lambda: conv(xx, ww)

    lo = (l + 2 * pad - r) // s + 1
    label = f"n={n} c={c} l={l} k={k} {r} taps s{s} p{pad} g{g} x{cnt} conv1d"
    return label, make, lambda: conv(x.double(), wt.double()), 2 * n * (c // g) * k * r * lo


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--from-json")
    p.add_argument("--batch", type=int, default=32, help="batch of the Whisper layers without --from-json")
    p.add_argument("--no-error", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    rows, ours = whisper(a.batch), {}
    if a.from_json:
        rows, ours = records(a.from_json, lambda r: r.get("conv1d"))
        require(rows, a.from_json, "conv1d (wino bench --suite whisper)")
    banner()
    out, total = compare(rows, ours, layer, errors=not a.no_error)
    if a.json:
        write_json(a.json, out, total)


if __name__ == "__main__":
    main()
