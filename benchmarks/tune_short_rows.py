"""Sweep the short-row layout's launch settings (`triton_plan.Settings.short_*`) on a GPU.

    python benchmarks/tune_short_rows.py [--json tune.jsonl]

For each dtype and size, every combination of tile elements, warps and backward programs is
timed (forward + backward, `benchmark.time_backend`, eager), and a row per combination is
printed with its ms; the time-parallel layout (short_max=0) is timed beside, at the same size.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json

import torch

from tsmamba.kernels.selective_scan import benchmark, triton_plan

SIZES = [(24608, 256, 16, 7), (65536, 1024, 16, 2), (6241, 256, 16, 21), (2048, 256, 16, 64)]
TILES, WARPS, PROGRAMS, CHUNK_MINS = (1024, 2048), (4,), (1056, 4224), (8, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json")
    parser.add_argument("--rep-ms", type=int, default=50)
    args = parser.parse_args()
    device = torch.device("cuda")
    benchmark.warm_up(device)
    fn = benchmark.backends(device)["triton"]
    for dtype in (torch.float32, torch.bfloat16):
        width = torch.empty((), dtype=dtype).element_size()
        shipped = triton_plan.CONFIG[width]
        for size in SIZES:
            inputs = benchmark.make_inputs(*size, dtype, device)
            variants = [dict(short_max=0)] + [
                dict(short_max=max(64, size[3]), short_tile=t, short_warps=w, short_programs=p,
                     short_chunk_min=c)
                for t, w, p, c in itertools.product(TILES, WARPS, PROGRAMS, CHUNK_MINS)]
            for change in variants:
                triton_plan.CONFIG[width] = dataclasses.replace(shipped, **change)
                try:
                    fwd, fwd_bwd = benchmark.time_backend(fn, size, dtype, device, inputs=inputs,
                                                          rep_ms=args.rep_ms)
                    row = dict(fwd_ms=round(fwd, 4), fwd_bwd_ms=round(fwd_bwd, 4))
                except Exception as exc:  # noqa: BLE001 - a setting that does not compile
                    row = dict(error=str(exc)[:100])
                row = dict(dtype=str(dtype)[6:], size="x".join(map(str, size)), **change, **row)
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as out:
                        out.write(json.dumps(row) + "\n")
            triton_plan.CONFIG[width] = shipped


if __name__ == "__main__":
    main()
