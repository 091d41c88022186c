"""A GroupMamba-style forecaster: the Modulated Group Mamba layer (Shaker et al. 2024,
"GroupMamba", arXiv 2407.13772, Sec. 3) carried over to TSM2's (variate x patch) grid.

Glossary: m variates, k patches per variate, d model width (4 groups of e = d / 4 channels).

    input (b, l, m) --norm--> patches --linear + position--> X (b, m, k, d)
    for each block:
        X_GM  = GroupedScan(X):  the d channels in 4 groups, each scanned by its own selective
                SSM in one direction over the grid, the paper's VSSS block (Z + Mamba(LN(Z)))
                    group 0: along patches, forward      group 1: along patches, backward
                    group 2: along variates, forward     group 3: along variates, backward
        X_CAM = X_GM * Affinity(X):  Channel Affinity Modulation, sigmoid(W2 SiLU(W1 mean(X)))
                with the mean over the whole grid: one weight per channel and window
        X_out = X + FFN(LN(X_CAM))   (the paper's Eq. for the layer; FFN with GELU)
    head: LayerNorm, flatten (k d), linear to f, norm undone -> (b, f, m)

Two groups scan time and two scan across series, so every block mixes both, like TSM2's
time and channel mixers, at the parameter cost of one mixer of width d. With
`weighted_average=True` each block reads a learned weighted average of all earlier block
outputs, TSM2's dense connection (paper Eq. 9-10, one output per block here), initialised as
plain stacking.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from einops import rearrange

from .dropout import Dropout
from .layers import PatchConfig, PatchModel
from .mamba import MambaMixer
from .tsm2 import weighted_average

# (axis the group scans along, whether it scans in reverse), by group
DIRECTIONS = (("patches", False), ("patches", True), ("variates", False), ("variates", True))


class GroupedScan(nn.Module):
    """(b, m, k, d) -> (b, m, k, d): each of 4 channel groups is LayerNorm-ed, scanned by its
    own causal selective SSM in its direction (`DIRECTIONS`), and added back to its input."""

    def __init__(self, d_model: int, d_state: int, expand: int, d_conv: int):
        super().__init__()
        if d_model % len(DIRECTIONS):
            raise ValueError(f"d_model {d_model} must be divisible by {len(DIRECTIONS)}, the "
                             "number of scan groups")
        e = d_model // len(DIRECTIONS)
        self.norms = nn.ModuleList(nn.LayerNorm(e) for _ in DIRECTIONS)
        self.mixers = nn.ModuleList(MambaMixer(e, d_state, expand, d_conv) for _ in DIRECTIONS)

    @staticmethod
    def scan_along(mixer: nn.Module, x: torch.Tensor, axis: str, reverse: bool):
        """`mixer` along one axis of the grid x (b, m, k, e), optionally from its far end."""
        m, k = x.shape[1], x.shape[2]
        pattern = "b m k e -> (b m) k e" if axis == "patches" else "b m k e -> (b k) m e"
        sequences = rearrange(x, pattern)  # (b m, k, e) or (b k, m, e)
        if reverse:
            sequences = sequences.flip(1)
        y = mixer(sequences)
        if reverse:
            y = y.flip(1)
        back = "(b m) k e -> b m k e" if axis == "patches" else "(b k) m e -> b m k e"
        return rearrange(y, back, m=m, k=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, m, k, d)
        groups = x.chunk(len(DIRECTIONS), dim=-1)  # 4 x (b, m, k, e)
        return torch.cat([group + self.scan_along(mixer, norm(group), axis, reverse)
                          for group, norm, mixer, (axis, reverse)
                          in zip(groups, self.norms, self.mixers, DIRECTIONS)], dim=-1)


class ChannelAffinity(nn.Module):
    """(b, m, k, d) -> (b, 1, 1, d) weights in (0, 1): the grid's mean, through a bottleneck."""

    def __init__(self, d_model: int, reduction: int):
        super().__init__()
        hidden = max(d_model // reduction, 1)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.SiLU(), nn.Linear(hidden, d_model),
                                 nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.mean(dim=(1, 2)))[:, None, None, :]  # (b, 1, 1, d)


class ModulatedGroupMambaBlock(nn.Module):
    """X_out = X + FFN(LN(GroupedScan(X) * Affinity(X))) on (b, m, k, d)."""

    def __init__(self, d_model: int, d_state: int, expand: int, d_conv: int, ffn_expand: int,
                 reduction: int, dropout: float):
        super().__init__()
        self.scan = GroupedScan(d_model, d_state, expand, d_conv)
        self.affinity = ChannelAffinity(d_model, reduction)
        self.norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_expand * d_model), nn.GELU(),
                                 Dropout(dropout), nn.Linear(ffn_expand * d_model, d_model))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, m, k, d)
        modulated = self.dropout(self.scan(x)) * self.affinity(x)  # (b, m, k, d)
        return x + self.dropout(self.ffn(self.norm(modulated)))


@dataclass
class GroupMambaConfig(PatchConfig):
    expand: int = 2
    d_conv: int = 4
    ffn_expand: int = 2  # the FFN's hidden width, in multiples of d_model
    affinity_reduction: int = 4  # the affinity MLP's bottleneck is d_model / this
    weighted_average: bool = False  # blocks read learned averages of all earlier outputs


class GroupMamba(PatchModel):
    """GroupMamba forecaster: modulated group Mamba blocks over the (variate x patch) grid."""

    def build_mixers(self, c: GroupMambaConfig) -> None:
        self.blocks = nn.ModuleList(
            ModulatedGroupMambaBlock(c.d_model, c.d_state, c.expand, c.d_conv, c.ffn_expand,
                                     c.affinity_reduction, c.dropout)
            for _ in range(c.n_layers))
        if c.weighted_average:
            # Block j (0-based) averages the stem's tokens and the j blocks before it.
            self.block_weights = nn.ParameterList(
                nn.Parameter(torch.eye(j + 1)[j]) for j in range(c.n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, l, m)
        tokens, stats = self.tokens(x)  # (b, m, k, d)
        outputs = [tokens]
        for j, block in enumerate(self.blocks):
            inputs = (weighted_average(self.block_weights[j], outputs)
                      if self.config.weighted_average else outputs[-1])
            outputs.append(block(inputs))  # (b, m, k, d)
        return self.forecast(outputs[-1], stats)  # (b, f, m)
