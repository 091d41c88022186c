"""Training-step time and peak memory against lookback: every tsmamba model, and CMamba's own
model class from its repository beside the project (never part of it).

    python benchmarks/step_vs_lookback.py --cmamba ../CMamba [--json steps.jsonl]

One step = forward, MSE backward and Adam (fused on CUDA, as tsmamba trains) on a batch of 32
windows of 7 series, horizon 96, eager (no CUDA graphs); the median of 15 timed steps after 5
warm-up ones, by CUDA events; peak memory over the timed steps. Lookbacks 96 to 12288 at
d_model 32 and 128 (2 blocks for ours, CMamba's 3 with its published ETTh1 settings), then 7,
21, 321 and 862 series at lookback 96. The models are built in turn, each timing in its own
cell, so that a cell's peak memory is its own. A JSON line per cell on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import types

import torch

LOOKBACKS = (96, 192, 384, 768, 1536, 3072, 6144, 12288)
SERIES = (7, 21, 321, 862)
OURS = ("tsm2", "groupmamba", "mamba", "s4", "mamba2")


def step_time(model, lookback, series, horizon=96, batch=32, reps=15, cmamba=False):
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x = torch.randn(batch, lookback, series, device="cuda")  # (b, l, m)
    y = torch.randn(batch, horizon, series, device="cuda")  # (b, f, m)

    def step():
        out = model(x, None, None, None) if cmamba else model(x)
        loss = torch.nn.functional.mse_loss(out, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2], torch.cuda.max_memory_allocated() / 2**20


def cmamba_model(lookback, series, d_model):
    """CMamba's class with the settings of its ETTh1 script (3 layers, GDD-MLP, pscan)."""
    from models.CMamba import Model

    args = types.SimpleNamespace(
        task_name="long_term_forecast", seq_len=lookback, pred_len=96, enc_in=series,
        c_out=series, d_model=d_model, d_ff=d_model, e_layers=3, dropout=0.1, head_dropout=0.1,
        d_state=16, dt_rank=32, dt_min=0.001, dt_max=0.1, dt_init="random", dt_scale=1.0,
        dt_init_floor=1e-4, bias=True, conv_bias=True, pscan=True, avg=True, max=True,
        reduction=2, gddmlp=True, channel_mixup=False, sigma=1.0)
    return Model(args).cuda()


def our_model(name, lookback, series, d_model):
    from tsmamba.models import build_config, build_model

    config = build_config(name, None, n_series=series, lookback=lookback, horizon=96,
                          d_model=d_model, d_state=16, n_layers=2, patch_len=16, stride=8,
                          dropout=0.1)
    return build_model(name, config).cuda()


def cell(name, lookback, series, d_model):
    row = dict(model=name, d_model=d_model, lookback=lookback, series=series)
    try:
        torch.manual_seed(0)
        net = (cmamba_model(lookback, series, d_model) if name == "cmamba"
               else our_model(name, lookback, series, d_model)).train()
        ms, mb = step_time(net, lookback, series, cmamba=name == "cmamba")
        row.update(step_ms=round(ms, 3), peak_mb=round(mb, 1))
        del net
    except Exception as exc:  # noqa: BLE001 - out of memory, or a shape a model refuses
        row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
    torch.cuda.empty_cache()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmamba", help="CMamba's repository (its models/ and layers/)")
    parser.add_argument("--models", nargs="+", default=list(OURS) + ["cmamba"])
    parser.add_argument("--lookbacks", nargs="+", type=int, default=list(LOOKBACKS))
    parser.add_argument("--d-models", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--series", nargs="+", type=int, default=list(SERIES))
    parser.add_argument("--json", help="append every row here too")
    args = parser.parse_args()
    if args.cmamba:
        sys.path.insert(0, args.cmamba)
    models = [m for m in args.models if m != "cmamba" or args.cmamba]
    cells = [(m, lookback, 7, d) for d in args.d_models for m in models for lookback in args.lookbacks]
    cells += [(m, 96, s, d) for d in args.d_models for m in models for s in args.series if s != 7]
    for name, lookback, series, d_model in cells:
        row = cell(name, lookback, series, d_model)
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
