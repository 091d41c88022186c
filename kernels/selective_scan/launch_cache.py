"""Launch a Triton kernel without going through its JIT dispatch on every call.

At short sequence lengths the scan is bound by the CPU that issues it, not by the GPU, and
Triton's JIT dispatch is most of a launch: binding the arguments, deriving their
specialisation, building the cache key, checking globals. Measured on an H100 host, a launch
through the JIT costs about twice one through the compiled kernel's own launcher (23.4 against
12.5 µs, BENCHMARKS.md).

`CachedLaunch` goes through the JIT the first time a caller's key is seen, keeps the compiled
kernel's launcher, and launches with it afterwards. This is only correct if the key decides
everything Triton specialises on: the caller puts every integer argument's value, every
tensor's dtype and every constexpr into it, and passes `key=None` (the JIT every time) when a
tensor's address is not 256-byte aligned, because Triton specialises on pointer alignment.
Allocations from PyTorch's CUDA allocator are always aligned that far, so the fast path is the
ordinary one; a sliced view at an odd offset takes the JIT.
"""

from __future__ import annotations

import inspect

import triton
from triton.compiler import CompiledKernel

ALIGNMENT = 256  # bytes; more than any alignment Triton specialises on (16)
MAX_LAUNCHERS = 4096


def aligned(*tensors) -> bool:
    """Whether every given tensor (None skipped) starts at an ALIGNMENT-byte boundary."""
    return all(t is None or t.data_ptr() % ALIGNMENT == 0 for t in tensors)


def current_device() -> int:
    """The device Triton launches on (the current CUDA device)."""
    return triton.runtime.driver.active.get_current_device()


class CachedLaunch:
    """`launch(key, grid, args, constexprs)` runs `kernel[grid](*args, **constexprs)`.

    `args` are the kernel's leading parameters, in order; `constexprs` names the rest, plus
    launch options such as `num_warps`. With a key seen before (on the current device) the
    compiled kernel is launched directly.

    `vet(compiled, constexprs)`, when given, sees every kernel that the JIT compiles before it
    first runs, and may return other constexprs to compile and run instead (None keeps these):
    for code whose correctness rests on a choice the compiler makes. `chosen[(device, key)]`
    records the constexprs that a key runs with."""

    def __init__(self, kernel, vet=None):
        self.kernel = kernel
        self.vet = vet
        self.params = list(inspect.signature(kernel.fn).parameters)
        self.launchers = {}
        self.chosen = {}
        self.verdicts = {}  # compiled kernel -> the constexprs that vet chose for it

    def __call__(self, key, grid, args, constexprs):
        if key is not None:
            device = current_device()
            found = self.launchers.get((device, key))
            if found is not None:
                launcher, tail = found
                launcher(*args, *tail)
                return
        if self.vet is not None:
            compiled = self.kernel.warmup(*args, grid=grid, **constexprs)
            # Under TRITON_INTERPRET=1 nothing is compiled, so there is nothing to vet. Calls
            # without a key come here every time; the JIT hands back the same compiled kernel,
            # so each is vetted once.
            if isinstance(compiled, CompiledKernel):
                if compiled not in self.verdicts:
                    self.verdicts[compiled] = self.vet(compiled, constexprs) or constexprs
                constexprs = self.verdicts[compiled]
        compiled = self.kernel[grid](*args, **constexprs)
        # Under TRITON_INTERPRET=1 there is no compiled kernel to keep.
        if key is not None and isinstance(compiled, CompiledKernel):
            # The launcher takes every parameter in order, constexprs included.
            tail = tuple(constexprs[name] for name in self.params[len(args):])
            if len(self.launchers) >= MAX_LAUNCHERS:  # shapes without end: start over
                self.launchers.clear()
                self.chosen.clear()
            self.launchers[(device, key)] = (compiled[grid], tail)
            self.chosen[(device, key)] = constexprs
