"""Two data-parallel ranks against one process with the doubled batch, for every model.

    python benchmarks/ddp_same_as_one.py --device cuda [--backend gloo] [--models s4 tsm2]

For each model: one process fits the demo data (1500 rows x 5 series, horizon 24, lookback
96, 3 epochs, dropout 0) with batch 32; then torchrun starts two ranks that fit it with batch
16 each; the script prints the largest difference between the two forecasts. On a machine
with one GPU, `--backend gloo` puts both ranks on it (NCCL refuses two ranks on one GPU):
that checks the CUDA path (Triton kernels, the eager step under DDP), not the speed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

MODELS = ["s4", "tsm2", "mamba", "mamba2", "groupmamba"]


def fit(model: str, batch_size: int, device: str, out: str) -> None:
    from tsmamba import TSMambaForecaster
    from tsmamba.datasets import demo

    est = TSMambaForecaster(model=model, horizon=24, lookback=96, batch_size=batch_size,
                            max_epochs=3, max_steps_per_epoch=None, dropout=0.0,
                            progress=False, device=device)
    est.fit(demo(n_rows=1500, n_series=5))
    if int(os.environ.get("RANK", "0")) == 0:
        np.save(out, est.predict().to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default=None, help="gloo or nccl (default: by device)")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--worker", nargs=4, metavar=("MODEL", "BATCH", "DEVICE", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        model, batch, device, out = args.worker
        fit(model, int(batch), device, out)
        return
    env = dict(os.environ, **({"TSMAMBA_DIST_BACKEND": args.backend} if args.backend else {}))
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            one, two = os.path.join(folder, "one.npy"), os.path.join(folder, "two.npy")
            fit(model, 32, args.device, one)
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            "--nproc-per-node", "2", __file__, "--worker", model, "16",
                            args.device, two], check=True, env=env)
            a, b = np.load(one), np.load(two)
            print(f"{model:11} max |one - two| {np.abs(a - b).max():.2e}  "
                  f"(forecasts up to {np.abs(a).max():.1f})", flush=True)


if __name__ == "__main__":
    main()
