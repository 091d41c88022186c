"""The launch cache: the JIT once per key and device, the compiled kernel's launcher after."""

import pytest
import torch

launch_cache = pytest.importorskip("tsmamba.kernels.selective_scan.launch_cache")
from triton.compiler import CompiledKernel  # noqa: E402  (after the importorskip)


class FakeCompiled(CompiledKernel):
    """Stands in for a compiled kernel: its launcher records what it was given."""

    def __init__(self, calls, grid):  # no compilation
        self.calls, self.grid = calls, grid

    def __del__(self):  # nothing was loaded onto a device, so nothing to unload
        pass

    def __getitem__(self, grid):
        assert grid == self.grid
        return lambda *args: self.calls.append(("launcher", args))


class FakeJit:
    """Stands in for a @triton.jit kernel with parameters (x_ptr, n, BLOCK, FAST)."""

    def __init__(self):
        self.calls = []
        self.compiled = {}

        def kernel(x_ptr, n, BLOCK, FAST):
            pass

        self.fn = kernel

    def __getitem__(self, grid):
        def run(*args, **constexprs):
            self.calls.append(("jit", args, constexprs))
            return FakeCompiled(self.calls, grid)

        return run

    def warmup(self, *args, grid, **constexprs):
        # Like Triton's JIT, the same compiled kernel for the same constexprs.
        self.calls.append(("compile", args, constexprs))
        compiled = self.compiled.setdefault(tuple(sorted(constexprs.items())),
                                            FakeCompiled(self.calls, grid))
        return compiled


@pytest.fixture
def on_device(monkeypatch):
    device = {"index": 0}
    monkeypatch.setattr(launch_cache, "current_device", lambda: device["index"])
    return device


def test_jit_once_per_key_then_the_compiled_launcher(on_device):
    jit = FakeJit()
    launch = launch_cache.CachedLaunch(jit)
    constexprs = {"FAST": True, "BLOCK": 4, "num_warps": 2}
    launch("k", (3, 1, 1), ("x", 7), constexprs)
    launch("k", (3, 1, 1), ("y", 7), constexprs)
    # The launcher gets the constexprs too, in the kernel's parameter order.
    assert jit.calls == [("jit", ("x", 7), constexprs), ("launcher", ("y", 7, 4, True))]


def test_another_key_or_device_goes_through_the_jit(on_device):
    jit = FakeJit()
    launch = launch_cache.CachedLaunch(jit)
    constexprs = {"BLOCK": 4, "FAST": True}
    launch("k", (1, 1, 1), ("x", 7), constexprs)
    launch("other", (1, 1, 1), ("x", 8), constexprs)
    on_device["index"] = 1
    launch("k", (1, 1, 1), ("x", 7), constexprs)
    assert [call[0] for call in jit.calls] == ["jit", "jit", "jit"]


def test_no_key_always_goes_through_the_jit(on_device):
    jit = FakeJit()
    launch = launch_cache.CachedLaunch(jit)
    for _ in range(2):
        launch(None, (1, 1, 1), ("x", 7), {"BLOCK": 4, "FAST": True})
    assert [call[0] for call in jit.calls] == ["jit", "jit"]
    assert not launch.launchers


def test_alignment_is_checked_on_every_tensor():
    base = torch.zeros(256)
    assert launch_cache.aligned(base, None) == (base.data_ptr() % 256 == 0)
    assert not launch_cache.aligned(base, base[1:])


def test_vet_sees_each_compiled_kernel_first_and_can_swap_its_constexprs(on_device):
    jit = FakeJit()
    vetted = []

    def vet(compiled, constexprs):
        vetted.append(constexprs)
        return dict(constexprs, FAST=False) if constexprs["FAST"] else None

    launch = launch_cache.CachedLaunch(jit, vet=vet)
    launch("k", (1, 1, 1), ("x", 7), {"BLOCK": 4, "FAST": True})
    launch("k", (1, 1, 1), ("y", 7), {"BLOCK": 4, "FAST": True})
    assert vetted == [{"BLOCK": 4, "FAST": True}]
    assert jit.calls == [("compile", ("x", 7), {"BLOCK": 4, "FAST": True}),
                         ("jit", ("x", 7), {"BLOCK": 4, "FAST": False}),
                         ("launcher", ("y", 7, 4, False))]
    assert launch.chosen == {(0, "k"): {"BLOCK": 4, "FAST": False}}


def test_without_a_key_each_compiled_kernel_is_vetted_once(on_device):
    jit = FakeJit()
    vetted = []
    launch = launch_cache.CachedLaunch(jit, vet=lambda compiled, c: vetted.append(c))
    for _ in range(3):
        launch(None, (1, 1, 1), ("x", 7), {"BLOCK": 4, "FAST": True})
    assert len(vetted) == 1
    assert [call[0] for call in jit.calls] == ["compile", "jit"] * 3
