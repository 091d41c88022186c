"""The time-parallel scan's grid order, batch rows first or channel blocks first, A B A B on
one GPU: the scan alone at a few sizes, then TSM2's and Mamba's training steps against
lookback (`step_vs_lookback.step_time`).

    python benchmarks/ab_grid_order.py [--json ab.jsonl] [--rounds 2]

`triton_plan.Settings.long_channels_first_bytes` chooses between the two by the bytes of B,
C, dB and dC; here it is set to 0 (channel blocks first wherever the grid allows) or to
never, in turn. A JSON line per timing on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys

import torch

from tsmamba.kernels.selective_scan import benchmark, triton_plan

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from step_vs_lookback import our_model, step_time  # noqa: E402

SCAN_SIZES = [(1365, 256, 16, 96), (182, 256, 16, 720), (32, 256, 16, 4096),
              (224, 256, 16, 767), (224, 256, 16, 1535), (32, 1024, 16, 4096)]
ORDERS = {"rows first": 2**62, "channels first": 0}


def use(order: str, shipped: dict) -> None:
    for width, settings in shipped.items():
        triton_plan.CONFIG[width] = dataclasses.replace(
            settings, long_channels_first_bytes=ORDERS[order])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    def log(row):
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")

    device = torch.device("cuda")
    benchmark.warm_up(device)
    fn = benchmark.backends(device)["triton"]
    shipped = dict(triton_plan.CONFIG)
    try:
        for dtype in (torch.float32, torch.bfloat16):
            use("channels first", shipped)
            log(dict(kind="check", order="channels first", dtype=str(dtype)[6:],
                     max_rel_err=benchmark.check(fn, device, dtype)))
            for size in SCAN_SIZES:
                inputs = benchmark.make_inputs(*size, dtype, device)
                for rnd in range(args.rounds):
                    for order in ORDERS:
                        use(order, shipped)
                        fwd, fwd_bwd = benchmark.time_backend(fn, size, dtype, device,
                                                              inputs=inputs, rep_ms=30)
                        log(dict(kind="scan", order=order, round=rnd, dtype=str(dtype)[6:],
                                 size="x".join(map(str, size)), fwd_ms=round(fwd, 4),
                                 fwd_bwd_ms=round(fwd_bwd, 4)))
                del inputs
                torch.cuda.empty_cache()
        for rnd in range(args.rounds):
            for order in ORDERS:
                use(order, shipped)
                for name in ("mamba", "tsm2"):
                    for d_model in (32, 128):
                        for lookback in (1536, 3072, 6144, 12288):
                            torch.manual_seed(0)
                            net = our_model(name, lookback, 7, d_model).train()
                            ms, mb = step_time(net, lookback, 7)
                            log(dict(kind="step", order=order, round=rnd, model=name,
                                     d_model=d_model, lookback=lookback, step_ms=round(ms, 3),
                                     peak_mb=round(mb, 1)))
                            del net
                            torch.cuda.empty_cache()
    finally:
        triton_plan.CONFIG.update(shipped)


if __name__ == "__main__":
    main()
