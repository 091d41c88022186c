"""One S4 training step on the CPU with torch's dropout against tsmamba's, interleaved.

    python benchmarks/ab_dropout_step.py [--rounds 6]

The estimator's default network (S4, d_model 32, 2 layers, dropout 0.3) on a batch of 64
windows x 7 series, lookback and horizon 96: forward, MSE backward, Adam. Each round times 20
steps with `torch.nn.Dropout` modules, then 20 with `tsmamba.models.dropout.Dropout`, after
one untimed pass each; prints ms a step per round and the ratios.
"""

import argparse
import time

import torch
import torch.nn as nn

from tsmamba.models import build_config, build_model
from tsmamba.models.dropout import Dropout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    config = build_config("s4", None, n_series=7, lookback=96, horizon=96, d_model=32,
                          d_state=16, n_layers=2, patch_len=16, stride=8, dropout=0.3)
    model = build_model("s4", config)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(64, 96, 7), torch.randn(64, 96, 7)

    def use(kind):
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, (Dropout, nn.Dropout)):
                    setattr(module, name, kind(0.3))

    def steps(n=20):
        start = time.perf_counter()
        for _ in range(n):
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return (time.perf_counter() - start) / n * 1e3

    times = {"torch": [], "tsmamba": []}
    for _ in range(args.rounds):
        for label, kind in (("torch", nn.Dropout), ("tsmamba", Dropout)):
            use(kind)
            steps(2)
            times[label].append(steps())
    for label, values in times.items():
        print(f"{label:8} ms a step: " + " ".join(f"{v:.1f}" for v in values))
    ratios = [a / b for a, b in zip(times["torch"], times["tsmamba"])]
    print("torch / tsmamba: " + " ".join(f"{r:.2f}" for r in ratios)
          + f"  (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
