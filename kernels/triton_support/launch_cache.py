"""Launch a Triton kernel without going through its JIT dispatch on every call.

At short sequence lengths the scan is bound by the CPU that issues it, not by the GPU, and
Triton's JIT dispatch is most of a launch: binding the arguments, deriving their
specialisation, building the cache key, checking globals. Measured on an H100 host, a launch
through the JIT costs about twice one through the compiled kernel's own launcher (23.4 against
12.5 µs, BENCHMARKS.md).

`CachedLaunch` goes through the JIT the first time a caller's key is seen, keeps the compiled
kernel's launcher, and launches with it afterwards (through its C function alone where this
Triton's layout is known, `_c_launch`). This is only correct if the key decides
everything Triton specialises on: the caller puts every integer argument's value, every
tensor's dtype and every constexpr into it, and passes `key=None` (the JIT every time) when a
tensor's address is not 256-byte aligned, because Triton specialises on pointer alignment.
Allocations from PyTorch's CUDA allocator are always aligned that far, so the fast path is the
ordinary one; a sliced view at an odd offset takes the JIT.
"""

from __future__ import annotations

import inspect
import os
import re

import triton
from triton.compiler import CompiledKernel

ALIGNMENT = 256  # bytes; more than any alignment Triton specialises on (16)
MAX_LAUNCHERS = 4096
TRITON_VERSION = tuple(map(int, re.match(r"(\d+)\.(\d+)", triton.__version__).groups()))
# The Triton versions whose launcher `_c_launch` knows: its C function's arguments are internal.
C_LAUNCH_VERSIONS = {(3, 6)}
# Under the interpreter nothing is compiled, so there is no launcher to keep, and asking for the
# current device would start a GPU driver that a CPU-only machine does not have.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def aligned(*tensors) -> bool:
    """Whether every given tensor (None skipped) starts at an ALIGNMENT-byte boundary."""
    for t in tensors:  # a loop, not all(...): this runs on every call
        if t is not None and t.data_ptr() % ALIGNMENT:
            return False
    return True


def current_device() -> int:
    """The device Triton launches on (the current CUDA device)."""
    return triton.runtime.driver.active.get_current_device()


def stream_getter():
    """The function from a device to its current stream that Triton's launcher uses."""
    return triton.runtime.driver.active.get_current_stream


def _runner_launch(runner, tail):
    """`launch(device, args)` through `runner`, Triton's launcher of a compiled kernel."""
    return lambda device, args: runner(*args, *tail)


def _c_launch(compiled, runner, grid, tail):
    """`launch(device, args)` straight through the C function under `runner`, Triton's launcher
    of `compiled` on `grid`, or None where this Triton is not one whose launcher `_c_launch`
    knows.

    Triton's launcher is Python around that function: it looks up the stream, builds the
    metadata that launch hooks receive and allocates scratch space, which these kernels do not
    use. On an H100 host that Python is 4 of the 10 µs of a launch (BENCHMARKS.md). The C
    function's arguments are Triton's internals, hence the version check; while a launch hook
    (a profiler's) is set, launches go back through Triton's launcher, which calls it."""
    if TRITON_VERSION not in C_LAUNCH_VERSIONS:
        return None
    run = compiled.run
    if type(run).__name__ != "CudaLauncher" or run.global_scratch_size or run.profile_scratch_size:
        return None
    c_function, stream, hooks = run.launch, stream_getter(), triton.knobs.runtime
    grid_x, grid_y, grid_z = grid
    # The C function's arguments after the grid and stream, up to the kernel's own: no scratch
    # space, no launch metadata, no hooks.
    fixed = (compiled.function, run.launch_cooperative_grid, run.launch_pdl, None, None,
             compiled.packed_metadata, None, None, None)

    def launch(device, args):
        # An empty hook chain is no hook; anything else (a function, None) is left to Triton.
        if (getattr(hooks.launch_enter_hook, "calls", True)
                or getattr(hooks.launch_exit_hook, "calls", True)):
            runner(*args, *tail)
        else:
            c_function(grid_x, grid_y, grid_z, stream(device), *fixed, *args, *tail)

    return launch


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
        if INTERPRETED:
            key = None
        if key is not None:
            device = current_device()
            launch = self.launchers.get((device, key))
            if launch is not None:
                launch(device, args)
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
        if key is not None:
            # The launcher takes every parameter in order, constexprs included.
            tail = tuple(constexprs[name] for name in self.params[len(args):])
            if len(self.launchers) >= MAX_LAUNCHERS:  # shapes without end: start over
                self.launchers.clear()
                self.chosen.clear()
            runner = compiled[grid]  # this also loads the kernel's handles onto the device
            self.launchers[(device, key)] = (_c_launch(compiled, runner, grid, tail)
                                             or _runner_launch(runner, tail))
            self.chosen[(device, key)] = constexprs
