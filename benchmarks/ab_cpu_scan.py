"""The CPU scan of another checkout against this one, forward + backward, interleaved.

    python benchmarks/ab_cpu_scan.py OTHER/kernels/selective_scan/torch_chunked.py \
        384,64,16,5 160,64,16,12 32,128,16,96

Loads the other checkout's `torch_chunked.py` as a module of its own, then for every
b,d,n,l size times six rounds, each round the other and then this one (5 calls each, the mean),
on the same inputs (`benchmark.make_inputs`, softplus on, D, z and delta_bias given). Prints
the median ms of both and the ratio other / this of every round, sorted: its spread is the
noise of the machine. Run it on a quiet machine; other jobs slow both sides alike only while
they last.
"""

from __future__ import annotations

import importlib.util
import inspect
import statistics
import sys
import time

import torch

from tsmamba.kernels.selective_scan import benchmark, torch_chunked

ROUNDS, CALLS = 6, 5


def load(path: str):
    spec = importlib.util.spec_from_file_location("other_torch_chunked", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fwd_bwd(module, inputs) -> None:
    x = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    (b, d, _), n = x["u"].shape, x["A"].shape[1]
    # Each checkout's own chunk length: older ones used 32 steps at every size.
    chunk_len = module.chunk_len_for(b, d, n) if hasattr(module, "chunk_len_for") else 32
    args = [x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"], True,
            chunk_len]
    if "keep_last" in inspect.signature(module.SelectiveScanFn.forward).parameters:
        args.append(False)  # newer checkouts take whether the last state is wanted
    y = module.SelectiveScanFn.apply(*args)[0]
    y.backward(torch.ones_like(y))


def main() -> None:
    other = load(sys.argv[1])
    for text in sys.argv[2:]:
        size = tuple(int(v) for v in text.split(","))
        inputs = benchmark.make_inputs(*size, torch.float32, "cpu")
        times = {"other": [], "this": []}
        for _ in range(ROUNDS):
            for name, module in (("other", other), ("this", torch_chunked)):
                fwd_bwd(module, inputs)  # warm: workspaces, allocator
                start = time.perf_counter()
                for _ in range(CALLS):
                    fwd_bwd(module, inputs)
                times[name].append((time.perf_counter() - start) / CALLS * 1e3)
        ratios = sorted(a / b for a, b in zip(times["other"], times["this"]))
        print(f"{text:>14}  other {statistics.median(times['other']):7.2f} ms  this "
              f"{statistics.median(times['this']):7.2f} ms  other/this by round "
              f"{' '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
