"""Inline PTX for Triton kernels, and checks of the layout the compiler gave its operands.

PTX runs only on a compiled GPU kernel: under TRITON_INTERPRET=1 (CI, no GPU) kernels take
their plain-Triton branch instead (`INLINE_PTX`). PTX that exchanges values between lanes
(shfl) is only correct for the register layout it was written for, and that layout is the
compiler's choice; `lane_steps` reads it off a compiled kernel's TTGIR, so that callers can
vet each kernel before it runs.
"""

from __future__ import annotations

import os
import re

import triton
import triton.language as tl

LOG2E = tl.constexpr(1.4426950408889634)  # exp(x) = exp2(x * LOG2E)
INLINE_PTX = os.environ.get("TRITON_INTERPRET") != "1"


@triton.jit
def exp2(x, PTX: tl.constexpr):
    # ex2.approx.ftz is one MUFU instruction; tl.exp2 adds a scale and denormal fix-ups.
    if PTX:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=r,r", [x],
                                         dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp2(x)


_ROW_LAYOUT = re.compile(r"sizePerThread = \[\d+, (\d+)\], threadsPerWarp = \[1, 32\], "
                         r"warpsPerCTA = \[1, 1\], order = \[1, 0\]")


def lane_steps(ttgir: str, marker: str) -> list:
    """For every layout that an inline-asm op containing `marker` reads or writes in `ttgir`:
    the consecutive elements of a row each lane holds, when one warp spans the row with the
    lanes in order ([1, V] per thread, [1, 32] threads, one warp, row-major), else None.
    Empty when no such op is in the kernel."""
    layouts = dict(re.findall(r"^(#\w+) = (.*)$", ttgir, re.M))
    used = {encoding for line in ttgir.splitlines()
            if "elementwise_inline_asm" in line and marker in line
            for encoding in re.findall(r"tensor<[^,>]*, (#\w+)>", line)}
    steps = []
    for encoding in sorted(used):
        match = _ROW_LAYOUT.search(layouts.get(encoding, ""))
        steps.append(int(match.group(1)) if match else None)
    return steps
