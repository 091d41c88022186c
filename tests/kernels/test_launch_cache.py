"""The launch cache: the JIT once per key and device, the compiled kernel's launcher after."""

import pytest
import torch

launch_cache = pytest.importorskip("tsmamba.kernels.triton_support.launch_cache")
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


class CudaLauncher:
    """Named as the Triton launcher whose C function `_c_launch` calls; records that call."""

    global_scratch_size = profile_scratch_size = 0
    launch_cooperative_grid, launch_pdl = False, True

    def __init__(self, calls):
        self.calls = calls

    def launch(self, *args):
        self.calls.append(("c", args))


class FakeCompiledWithC(FakeCompiled):
    function, packed_metadata = "function", (1, 1, 0)
    run = None  # a plain attribute here, not the compiled kernel's property

    def __init__(self, calls, grid):
        super().__init__(calls, grid)
        self.run = CudaLauncher(calls)


class FakeJit:
    """Stands in for a @triton.jit kernel with parameters (x_ptr, n, BLOCK, FAST)."""

    def __init__(self, compiled_class=FakeCompiled):
        self.calls = []
        self.compiled = {}
        self.compiled_class = compiled_class

        def kernel(x_ptr, n, BLOCK, FAST):
            pass

        self.fn = kernel

    def __getitem__(self, grid):
        def run(*args, **constexprs):
            self.calls.append(("jit", args, constexprs))
            return self.compiled_class(self.calls, grid)

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
    monkeypatch.setattr(launch_cache, "INTERPRETED", False)  # as compiled kernels run
    # Triton's own launcher unless a test asks for the C function's.
    monkeypatch.setattr(launch_cache, "C_LAUNCH_VERSIONS", set())
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


def test_interpreted_kernels_never_ask_for_a_device(monkeypatch):
    def no_driver():
        raise AssertionError("asked a GPU driver for the current device")

    monkeypatch.setattr(launch_cache, "current_device", no_driver)
    monkeypatch.setattr(launch_cache, "INTERPRETED", True)
    jit = FakeJit()
    launch = launch_cache.CachedLaunch(jit)
    for _ in range(2):  # an aligned call passes its key
        launch("k", (1, 1, 1), ("x", 7), {"BLOCK": 4, "FAST": True})
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


def test_a_known_triton_launches_through_its_c_function_unless_a_hook_is_set(on_device,
                                                                             monkeypatch):
    import triton

    monkeypatch.setattr(launch_cache, "C_LAUNCH_VERSIONS", {launch_cache.TRITON_VERSION})
    monkeypatch.setattr(launch_cache, "stream_getter", lambda: lambda device: f"stream{device}")
    jit = FakeJit(FakeCompiledWithC)
    launch = launch_cache.CachedLaunch(jit)
    constexprs = {"FAST": True, "BLOCK": 4, "num_warps": 2}
    launch("k", (3, 2, 1), ("x", 7), constexprs)
    launch("k", (3, 2, 1), ("y", 7), constexprs)
    # What Triton 3.6's launcher passes its C function: grid, stream, function, cooperative
    # grid, PDL, no scratch space, packed metadata, no launch metadata and no hooks, then every
    # parameter of the kernel in order.
    assert jit.calls[-1] == ("c", (3, 2, 1, "stream0", "function", False, True, None, None,
                                   (1, 1, 0), None, None, None, "y", 7, 4, True))
    monkeypatch.setattr(triton.knobs.runtime, "launch_enter_hook", lambda metadata: None)
    launch("k", (3, 2, 1), ("z", 7), constexprs)
    assert jit.calls[-1] == ("launcher", ("z", 7, 4, True))


def test_an_unknown_launcher_keeps_tritons_own(on_device, monkeypatch):
    monkeypatch.setattr(launch_cache, "C_LAUNCH_VERSIONS", {launch_cache.TRITON_VERSION})
    jit = FakeJit(FakeCompiledWithC)
    launch = launch_cache.CachedLaunch(jit)
    plain_init = FakeCompiledWithC.__init__

    def with_scratch(self, calls, grid):
        plain_init(self, calls, grid)
        self.run.global_scratch_size = 64  # a kernel that needs scratch space

    monkeypatch.setattr(FakeCompiledWithC, "__init__", with_scratch)
    constexprs = {"FAST": True, "BLOCK": 4}
    launch("k", (1, 1, 1), ("x", 7), constexprs)
    launch("k", (1, 1, 1), ("y", 7), constexprs)
    assert jit.calls[-1] == ("launcher", ("y", 7, 4, True))
