"""S4D (Gu, Gupta, Goel & Ré 2022, "On the Parameterization and Initialization of Diagonal State
Space Models", Sec. 3-4): a diagonal, complex state matrix with HiPPO-derived initialisation,
and a forecaster built from it.

Per channel (d of them), with N/2 complex states standing for N real ones (conjugate pairs):

    A_n  = -exp(A_log_real_n) + i A_imag_n                    (S4D-Lin or S4D-Inv init, Sec. 4)
    dt   = exp(log_dt)                                        learned, init log-uniform [1e-3, 1e-1]
    zero-order hold (Sec. 3.1):  dA = exp(dt A),  dB = (exp(dt A) - 1) / A     (B = 1, folded into C)

    convolution mode (training):  K_t = 2 Re sum_n C_n dB_n dA_n^t     (a Vandermonde product)
                                  y = K * u (causal, by FFT) + D u
    recurrent mode (streaming):   s_t = dA s_{t-1} + dB u_t,   y_t = 2 Re <C, s_t> + D u_t

A test proves the two modes equal. The block around the layer follows the S4 repository's:
GELU, dropout, then a linear map to 2d and a GLU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat

from .dropout import Dropout
from .layers import PatchConfig, PatchForecaster

INITS = ("lin", "inv")


def hippo_diagonal(d_state: int, init: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of the N/2 diagonal A entries (S4D paper, Sec. 4.1)."""
    half = max(1, d_state // 2)
    n = torch.arange(half, dtype=torch.float32)  # (N/2,)
    real = torch.full((half,), -0.5)
    if init == "lin":  # S4D-Lin: approximates HiPPO-LegS's imaginary spectrum linearly
        imag = math.pi * n
    elif init == "inv":  # S4D-Inv: its inverse law, closer to S4's trained kernels
        imag = (d_state / math.pi) * (d_state / (2 * n + 1) - 1)
    else:
        raise ValueError(f"unknown S4D init {init!r}; choose one of {INITS}")
    return real, imag


class S4D(nn.Module):
    """The S4D layer along dim 1 of a (b, l, d) tensor."""

    def __init__(self, d_model: int, d_state: int = 64, init: str = "inv",
                 dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        real, imag = hippo_diagonal(d_state, init)
        self.log_dt = nn.Parameter(torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min))
                                   + math.log(dt_min))  # (d,)
        self.A_log_real = nn.Parameter(repeat(torch.log(-real), "n -> d n", d=d_model).clone())
        self.A_imag = nn.Parameter(repeat(imag, "n -> d n", d=d_model).clone())  # (d, N/2)
        # C complex, stored as (real, imag) pairs: safetensors and optimisers see real tensors.
        self.C = nn.Parameter(torch.randn(d_model, len(imag), 2) * math.sqrt(0.5))
        self.D = nn.Parameter(torch.randn(d_model))

    def discretise(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dt A, dB, C), each complex (d, N/2), by zero-order hold; dA = exp(dt A)."""
        A = torch.complex(-torch.exp(self.A_log_real), self.A_imag)  # (d, N/2)
        dtA = A * torch.exp(self.log_dt)[:, None]  # (d, N/2)
        return dtA, torch.expm1(dtA) / A, torch.view_as_complex(self.C)

    def kernel(self, length: int) -> torch.Tensor:
        """K (d, length): the layer's impulse response."""
        dtA, dB, C = self.discretise()
        steps = torch.arange(length, device=dtA.device)  # (l,)
        vandermonde = torch.exp(dtA[..., None] * steps)  # (d, N/2, l): dA^t
        return 2 * torch.einsum("dn,dnl->dl", C * dB, vandermonde).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # u: (b, l, d)
        l = u.shape[1]
        u = rearrange(u, "b l d -> b d l")
        k = self.kernel(l)  # (d, l)
        # Zero-padding to 2l makes the FFT's circular convolution a causal linear one.
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * l) * torch.fft.rfft(k, n=2 * l), n=2 * l)
        y = y[..., :l] + self.D[:, None] * u  # (b, d, l)
        # Contiguous for the GELU after it: its CPU backward on a transposed view is several
        # times slower than the copy.
        return rearrange(y, "b d l -> b l d").contiguous()

    def init_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(batch, *self.A_imag.shape, dtype=torch.complex64, device=device)

    def step(self, u: torch.Tensor, state: torch.Tensor) -> torch.Tensor:  # u: (b, d)
        """One step of the recurrence; `state` (b, d, N/2) complex is updated in place."""
        dtA, dB, C = self.discretise()
        state.copy_(torch.exp(dtA) * state + dB * u[..., None])
        return 2 * torch.sum(C * state, dim=-1).real + self.D * u  # (b, d)


class S4Block(nn.Module):
    """S4D, GELU, dropout, then a GLU-gated linear map: (b, l, d) -> (b, l, d)."""

    def __init__(self, d_model: int, d_state: int, init: str, dropout: float):
        super().__init__()
        self.s4d = S4D(d_model, d_state, init)
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(d_model, 2 * d_model)

    def _mix(self, y: torch.Tensor) -> torch.Tensor:
        return F.glu(self.out(self.dropout(F.gelu(y))), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, d)
        return self._mix(self.s4d(x))

    def init_state(self, batch: int, device=None) -> torch.Tensor:
        return self.s4d.init_state(batch, device)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:  # x: (b, d)
        return self._mix(self.s4d.step(x, state))


@dataclass
class S4Config(PatchConfig):
    # d_state is N real states per channel (N/2 complex)
    init: str = "inv"  # "lin" (S4D-Lin) or "inv" (S4D-Inv)

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"unknown S4D init {self.init!r}; choose one of {INITS}")


class S4(PatchForecaster):
    """S4D forecaster: causal S4D blocks along each variate's patches."""

    def make_mixer(self) -> S4Block:
        c = self.config
        return S4Block(c.d_model, c.d_state, c.init, c.dropout)
