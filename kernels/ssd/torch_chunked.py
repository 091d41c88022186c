"""The SSD's chunked algorithm in PyTorch (Mamba-2, Dao & Gu 2024, Sec. 6, "SSD algorithm").

The sequence is cut into chunks of `chunk_size` steps. Inside a chunk the output is the
quadratic (attention-like) form, C_t^T B_s x_s weighted by the decay between s and t; between
chunks only the (p, n) state of each head is passed on, itself a small recurrence over chunks
solved in the same masked-decay form. Every step is a batched matmul, so autograd gives the
backward and no Python loop runs over time. Memory is O(l * chunk_size) per head, never
(l, l). A length that is not a multiple of the chunk is padded with dt = 0 steps, which
neither decay nor feed the state, and the padding is cut from the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from .naive import expand_heads, finish, prepare_dt


def segment_sum(log_decay: torch.Tensor) -> torch.Tensor:
    """(..., T) -> (..., T, T): entry [t, s] = sum of log_decay over (s, t] for s <= t, else -inf.

    Built from a masked cumulative sum rather than a difference of cumsums, which would lose
    precision when the totals grow large.
    """
    T = log_decay.shape[-1]
    repeated = log_decay[..., :, None].expand(*log_decay.shape, T)  # (..., T, T): [k, s] = a_k
    strictly_lower = torch.tril(torch.ones(T, T, dtype=torch.bool, device=log_decay.device), -1)
    summed = torch.cumsum(repeated.masked_fill(~strictly_lower, 0), dim=-2)  # sum over s < k <= t
    lower = torch.tril(torch.ones(T, T, dtype=torch.bool, device=log_decay.device))
    return summed.masked_fill(~lower, float("-inf"))


def chunked_ssd(x, dt, A, B, C, chunk_size=64, D=None, z=None, dt_bias=None,
                dt_softplus=False, return_final_state=False):
    """Same contract as `naive_ssd`."""
    b, l, h, p = x.shape
    dt = prepare_dt(dt, dt_bias, dt_softplus)  # (b, l, h)
    pad = (-l) % chunk_size
    xs = F.pad(x.float() * dt[..., None], (0, 0, 0, 0, 0, pad))  # (b, l', h, p): dt_s x_s
    Bh = F.pad(expand_heads(B.float(), h), (0, 0, 0, 0, 0, pad))  # (b, l', h, n)
    Ch = F.pad(expand_heads(C.float(), h), (0, 0, 0, 0, 0, pad))  # (b, l', h, n)
    log_a = F.pad(dt * A.float(), (0, 0, 0, pad))  # (b, l', h): log decay of each step

    xs, Bh, Ch = (rearrange(t, "b (c s) h e -> b c s h e", s=chunk_size) for t in (xs, Bh, Ch))
    log_a = rearrange(log_a, "b (c s) h -> b h c s", s=chunk_size)  # (b, h, c, s)
    within = torch.cumsum(log_a, dim=-1)  # (b, h, c, s): log decay from chunk start to s

    # 1. Inside each chunk: y_t = sum_{s<=t} (C_t . B_s) decay(s, t) dt_s x_s.
    decay = torch.exp(segment_sum(log_a))  # (b, h, c, s, s)
    scores = torch.einsum("bcthn,bcshn->bhcts", Ch, Bh) * decay  # (b, h, c, t, s)
    y_diag = torch.einsum("bhcts,bcshp->bcthp", scores, xs)  # (b, c, s, h, p)

    # 2. Each chunk's own contribution to the state at its end.
    to_end = torch.exp(within[..., -1:] - within)  # (b, h, c, s)
    chunk_states = torch.einsum("bcshn,bhcs,bcshp->bchpn", Bh, to_end, xs)  # (b, c, h, p, n)

    # 3. Pass states between chunks: state entering chunk k = sum_{j<k} decay(j, k) * own_j.
    chunk_log_a = F.pad(within[..., -1], (1, 0))  # (b, h, c + 1), a leading zero-state slot
    states = torch.cat([torch.zeros_like(chunk_states[:, :1]), chunk_states], dim=1)
    passed = torch.einsum("bhkj,bjhpn->bkhpn", torch.exp(segment_sum(chunk_log_a)), states)
    entering, final_state = passed[:, :-1], passed[:, -1]  # (b, c, h, p, n), (b, h, p, n)

    # 4. What the entering state adds to each output of the chunk.
    y_off = torch.einsum("bcthn,bchpn,bhct->bcthp", Ch, entering, torch.exp(within))

    y = rearrange(y_diag + y_off, "b c s h p -> b (c s) h p")[:, :l]  # (b, l, h, p)
    y = finish(y, x, D, z)
    return (y, final_state) if return_final_state else y
