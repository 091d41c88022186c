"""Sweep the scan's launch settings for both layouts (`triton_plan.Settings`) on a GPU.

    python benchmarks/tune_layouts.py [--json tune.jsonl] [--rep-ms 30] [--layouts short long]

Short rows (the packed layout): the shipped tiles, then one tile shape (and adjoint) for
every length, at TSM2's channel-mixer shapes. Long rows (the time-parallel layout): the
backward's program count (`long_programs`, 0 = a program per batch row), from many rows of 96
steps to a few of 4096. Every combination is timed forward + backward
(`benchmark.time_backend`, eager) in turn on the same inputs, one JSON line each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from tsmamba.kernels.selective_scan import benchmark, triton_plan

SHORT_SIZES = [(24608, 256, 16, 7), (65536, 256, 16, 2), (6241, 256, 16, 21), (2048, 256, 16, 64),
               (18724, 64, 16, 7)]
# The shipped table, then one tile (slots, channels, warps) for every length, with either
# adjoint; one-warp tiles of two channels share each B and C load between them.
SHORT_VARIANTS = [{}] + [dict(short_tiles=((64, s, d, w, shifted),))
                         for s, d, w in ((64, 1, 1), (128, 4, 4), (256, 1, 1), (32, 2, 1),
                                         (64, 2, 1))
                         for shifted in (False, True)]
LONG_SIZES = [(1365, 256, 16, 96), (1365, 1024, 16, 96), (182, 256, 16, 720),
              (32, 256, 16, 4096), (8, 2048, 16, 4096)]
LONG_VARIANTS = [dict(long_programs=p) for p in (0, 8448, 33792)]

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json")
    parser.add_argument("--rep-ms", type=int, default=30)
    parser.add_argument("--layouts", nargs="+", choices=("short", "long"),
                        default=["short", "long"])
    args = parser.parse_args()
    device = torch.device("cuda")
    benchmark.warm_up(device)
    fn = benchmark.backends(device)["triton"]
    for dtype in (torch.float32, torch.bfloat16):
        width = torch.empty((), dtype=dtype).element_size()
        shipped = triton_plan.CONFIG[width]
        chosen = {"short": (SHORT_SIZES, SHORT_VARIANTS), "long": (LONG_SIZES, LONG_VARIANTS)}
        for sizes, variants in (chosen[layout] for layout in args.layouts):
            for size in sizes:
                inputs = benchmark.make_inputs(*size, dtype, device)
                for change in variants:
                    triton_plan.CONFIG[width] = dataclasses.replace(shipped, **change)
                    try:
                        fwd, fwd_bwd = benchmark.time_backend(fn, size, dtype, device,
                                                              inputs=inputs, rep_ms=args.rep_ms)
                        b, d, _, l = size
                        row = dict(fwd_ms=round(fwd, 4), fwd_bwd_ms=round(fwd_bwd, 4),
                                   fwd_bwd_gelem_s=round(b * d * l / fwd_bwd / 1e6, 2))
                    except Exception as exc:  # noqa: BLE001 - a setting that does not compile
                        row = dict(error=str(exc)[:100])
                    row = dict(dtype=str(dtype)[6:], size="x".join(map(str, size)), **change,
                               **row)
                    print(json.dumps(row), flush=True)
                    if args.json:
                        with open(args.json, "a", encoding="utf-8") as out:
                            out.write(json.dumps(row) + "\n")
                triton_plan.CONFIG[width] = shipped


if __name__ == "__main__":
    main()
