"""The backward's reverse scan as inline PTX, and the check that a compiled kernel laid its
operands out the way that PTX assumes (`triton_chunked._adjoint_scan` uses both)."""

from __future__ import annotations

from ..triton_support.ptx import lane_steps


def adjoint_scan_ptx(v: int) -> tuple[str, str]:
    """PTX, and its constraints, for the backward's reverse scan over one warp: given the
    first-order steps (a_t, b_t) of R_t = a_t R_{t+1} + b_t, v consecutive steps per thread and
    the chunk across the 32 lanes in order, return R_t and R_{t+1} (zero past the chunk).

    Each thread composes its own steps from the last back, the lanes then combine their
    compositions with shfl.down (lane i with lane i + offset, 5 rounds), and every step applies
    what comes after its thread. Triton's reverse scan instead reverses every input and output
    across the lanes, a shuffle per register each time."""
    a, b = [f"a{k}" for k in range(v)], [f"b{k}" for k in range(v)]
    r_out, next_out = [f"${k}" for k in range(v)], [f"${v + k}" for k in range(v)]
    a_in, b_in = [f"${2 * v + k}" for k in range(v)], [f"${3 * v + k}" for k in range(v)]
    lines = ["{", f".reg .f32 a<{v}>, b<{v}>, sa, sb, na, nb;", ".reg .pred p;"]
    lines += [f"mov.b32 {a[k]}, {a_in[k]}; mov.b32 {b[k]}, {b_in[k]};" for k in range(v)]
    for k in reversed(range(v - 1)):  # suffix compositions inside the thread
        lines.append(f"fma.rn.f32 {b[k]}, {a[k]}, {b[k + 1]}, {b[k]}; "
                     f"mul.f32 {a[k]}, {a[k]}, {a[k + 1]};")
    lines.append(f"mov.b32 sa, {a[0]}; mov.b32 sb, {b[0]};")
    for offset in (1, 2, 4, 8, 16):  # inclusive suffixes across lanes
        lines.append(f"shfl.sync.down.b32 na|p, sa, {offset}, 0x1f, 0xffffffff; "
                     f"shfl.sync.down.b32 nb, sb, {offset}, 0x1f, 0xffffffff; "
                     f"@p fma.rn.f32 sb, sa, nb, sb; @p mul.f32 sa, sa, na;")
    # R entering this thread from the lanes after it (zero on the last lane)
    lines.append("shfl.sync.down.b32 nb|p, sb, 1, 0x1f, 0xffffffff; @!p mov.f32 nb, 0f00000000;")
    lines += [f"fma.rn.f32 {r_out[k]}, {a[k]}, nb, {b[k]};" for k in range(v)]
    lines += [f"mov.b32 {next_out[k]}, {r_out[k + 1]};" for k in range(v - 1)]
    lines.append(f"shfl.sync.down.b32 {next_out[v - 1]}|p, {r_out[0]}, 1, 0x1f, 0xffffffff; "
                 f"@!p mov.f32 {next_out[v - 1]}, 0f00000000;")
    lines.append("}")
    return "\n".join(lines), ",".join(["=r"] * (2 * v) + ["r"] * (2 * v))


def check_scan_layout(compiled, constexprs):
    """Fall back to Triton's scan if the compiler laid out the scan's PTX operands in any way
    but V consecutive steps per lane, lanes in time order (what the PTX assumes): the layout
    is the compiler's choice, and versions differ. Returns the constexprs to use instead, or
    None to keep these."""
    if not constexprs["SCAN_PTX"]:
        return None
    steps = lane_steps(compiled.asm["ttgir"], "shfl.sync.down")
    # No scan PTX found in the TTGIR at all counts as a layout we cannot vouch for.
    if steps and all(v == constexprs["V"] for v in steps):
        return None
    return dict(constexprs, SCAN_PTX="", SCAN_CONSTRAINTS="")
