"""Compile the packed short-row kernels for an H100 or H200 (sm_90) without a GPU, and print
what the compiler chose for each tile: the layout of its 2-D tensors, registers, spills, warp
shuffles and barriers, forward and backward.

    python benchmarks/compile_packed_layouts.py [--tile SLOTS,CHANNELS,WARPS ...] [--shifted]

Which axis a tile's lanes and warps run along is Triton's choice, and Triton versions choose
differently where no axis of a load is provably contiguous; the registers decide how many warps
a multiprocessor holds. To see what the GPU machine's Triton will compile, install that
version beside the project (`pip install --no-deps --target DIR triton==3.6.0`) and run this
with PYTHONPATH=DIR: the register counts it printed for the shipped tile were the ones Nsight
Compute read on the H200 (BENCHMARKS.md). A barrier (bar.sync) in a packed kernel means a scan
or a reduction crosses warps through shared memory.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from tsmamba.kernels.selective_scan import triton_plan
from tsmamba.kernels.selective_scan.triton_packed import (packed_backward_kernel,
                                                          packed_forward_kernel)

TARGET = GPUTarget("cuda", 90, 32)
FLAGS = dict(HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True, PTX=True)


def compile_kernel(kernel, constexprs: dict, warps: int):
    """The kernel compiled for sm_90 with fp32 tensors and the given constexprs."""
    signature = {name: ("constexpr" if name in constexprs else
                        "*fp32" if name.endswith("_ptr") else "i32")
                 for name in kernel.arg_names}
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    return triton.compile(source, target=TARGET, options={"num_warps": warps})


def registers_and_spills(ptx: str) -> tuple:
    """Registers and spilled bytes from the first of Triton's bundled assemblers that takes
    this PTX (a wheel may bring one per PTX version)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "kernel.ptx")
        source.write_text(ptx)
        for ptxas in sorted(Path(triton.__file__).parent.glob("backends/nvidia/bin/ptxas*")):
            done = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", str(source), "-o",
                                   str(Path(tmp, "kernel.cubin"))], capture_output=True,
                                  text=True)
            registers = re.search(r"Used (\d+) registers", done.stderr)
            if done.returncode == 0 and registers:
                spills = re.search(r"(\d+) bytes spill stores", done.stderr)
                return int(registers.group(1)), int(spills.group(1)) if spills else 0
    return None, None


def layouts(ttgir: str) -> list:
    """The 2-D blocked layouts in the kernel, as (threads per warp, warps per block, order)."""
    found = re.findall(r"^#blocked\d* = #ttg\.blocked<\{sizePerThread = \[\d+, \d+\], "
                       r"threadsPerWarp = (\[\d+, \d+\]), warpsPerCTA = (\[\d+, \d+\]), "
                       r"order = (\[\d, \d\])", ttgir, re.M)
    return sorted(set(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile", action="append", metavar="SLOTS,CHANNELS,WARPS",
                        help="a tile to compile (default: the shipped fp32 tiles)")
    parser.add_argument("--shifted", action="store_true",
                        help="the backward's adjoint on the next step's decay")
    args = parser.parse_args()
    tiles = ([tuple(int(v) for v in text.split(",")) for text in args.tile] if args.tile else
             [tile[1:4] for tile in triton_plan.CONFIG[4].short_tiles])
    print(f"Triton {triton.__version__}, sm_90, fp32; layouts as (threads per warp, warps per "
          "block, order), axis 0 = channels, axis 1 = slots")
    for slots, channels, warps in tiles:
        tile = dict(FLAGS, BLOCK_D=channels, T=slots)
        for name, kernel, extra in (
                ("forward", packed_forward_kernel, dict(STORE_LAST=False)),
                ("backward", packed_backward_kernel,
                 dict(N_POW2=16, HAS_DLAST=False, SHIFTED=args.shifted))):
            compiled = compile_kernel(kernel, dict(tile, **extra), warps)
            ptx = compiled.asm["ptx"]
            registers, spills = registers_and_spills(ptx)
            print(f"{slots:4d} slots {channels} channels {warps} warps  {name:8s}  registers "
                  f"{registers}  spilled {spills} B  shfl {ptx.count('shfl.sync'):4d}  "
                  f"bar.sync {ptx.count('bar.sync'):3d}  "
                  + "  ".join(" ".join(lay) for lay in layouts(compiled.asm["ttgir"])))


if __name__ == "__main__":
    main()
