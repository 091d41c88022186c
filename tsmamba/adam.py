"""Adam and the epochs' learning-rate schedule, without `torch.optim.Optimizer` around them.

The update is `torch.optim.adam.adam`, the function `torch.optim.Adam.step` itself calls, with
the settings that class passes (fused into one kernel on CUDA; capturable, the learning rate a
tensor on the device, for a step captured as a CUDA graph). The weights come out bit for bit
as torch.optim.Adam's (tests/test_adam.py).

What is left out is the `Optimizer` class. Its methods (`add_param_group`, which its
constructor calls, `step`, `zero_grad`, `state_dict`) import `torch._dynamo` on their first
call: 2.4-3.0 s on the 2-core machine, as long as `import torch` itself, paid by every fresh
process that trains; on an H200 it was most of what the ETTh1 backtest spent before its first
epoch (BENCHMARKS.md). The functional form imports nothing, and a user's own `torch.compile`
in the same process is untouched.

The state dicts keep torch.optim.Adam's and `LambdaLR`'s formats, so a checkpoint written
with those resumes here unchanged.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch.optim.adam import adam

BETAS = (0.9, 0.999)
EPS = 1e-8


class Adam:
    """Adam (torch's defaults: betas 0.9, 0.999, eps 1e-8, no weight decay) over `params`.

    `state` maps each parameter to its step count and moments, created at its first update,
    as torch.optim.Adam does (a captured step relies on that: its warm-up steps create them).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], learning_rate: float,
                 fused: bool = False, capturable: bool = False,
                 device: torch.device | None = None):
        self.params = list(params)
        self.fused, self.capturable = fused, capturable
        # A captured graph reads the rate from this tensor, so a new rate is written into it.
        self.lr = (torch.tensor(float(learning_rate), device=device) if capturable
                   else float(learning_rate))
        self.initial_lr = float(learning_rate)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @property
    def learning_rate(self) -> float:
        return float(self.lr)

    def set_learning_rate(self, value: float) -> None:
        if isinstance(self.lr, torch.Tensor):
            self.lr.fill_(value)
        else:
            self.lr = float(value)

    def _new_slots(self, param: torch.Tensor) -> dict[str, torch.Tensor]:
        # Where and in which dtype torch.optim.Adam keeps the step count.
        on_device = self.fused or self.capturable
        step = torch.zeros((), dtype=torch.float32 if self.fused else _scalar_dtype(),
                           device=param.device if on_device else "cpu")
        return {"step": step,
                "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        params = [p for p in self.params if p.grad is not None]
        for p in params:
            if p not in self.state:
                self.state[p] = self._new_slots(p)
        slots = [self.state[p] for p in params]
        adam(params, [p.grad for p in params], [s["exp_avg"] for s in slots],
             [s["exp_avg_sq"] for s in slots], [], [s["step"] for s in slots],
             foreach=None, capturable=self.capturable, differentiable=False, fused=self.fused,
             grad_scale=None, found_inf=None, has_complex=False, decoupled_weight_decay=False,
             amsgrad=False, beta1=BETAS[0], beta2=BETAS[1], lr=self.lr, weight_decay=0.0,
             eps=EPS, maximize=False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients, or zero them in place (a captured graph keeps using them)."""
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_()
                p.grad.zero_()

    def state_dict(self) -> dict:
        """torch.optim.Adam's format: slots by parameter index, one parameter group."""
        index = {p: i for i, p in enumerate(self.params)}
        group = {"lr": self.learning_rate, "betas": BETAS, "eps": EPS, "weight_decay": 0.0,
                 "amsgrad": False, "maximize": False, "foreach": None,
                 "capturable": self.capturable, "differentiable": False, "fused": self.fused,
                 "decoupled_weight_decay": False, "initial_lr": self.initial_lr,
                 "params": list(range(len(self.params)))}
        return {"state": {index[p]: dict(slots) for p, slots in self.state.items()},
                "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"the optimiser state holds {sum(len(g['params']) for g in groups)} "
                             f"parameters in {len(groups)} groups; this model has "
                             f"{len(self.params)} in one")
        self.initial_lr = float(groups[0].get("initial_lr", groups[0]["lr"]))
        self.set_learning_rate(float(groups[0]["lr"]))
        self.state = {}
        for i, slots in state_dict["state"].items():
            param = self.params[int(i)]
            self.state[param] = {key: self._placed(key, value, param)
                                 for key, value in slots.items()}

    def _placed(self, key: str, value: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
        """A loaded slot where torch.optim.Adam would put it (its load_state_dict's rule)."""
        if key == "step":
            if self.fused or self.capturable:
                return value.to(dtype=torch.float32, device=param.device)
            return value.clone()
        return value.to(dtype=param.dtype, device=param.device)


class EpochSchedule:
    """The learning rate at epoch e is the initial one times `factor(e)`; `step()` after each
    epoch, as torch's LambdaLR (whose state dict format this keeps)."""

    def __init__(self, optimiser: Adam, factor: Callable[[int], float]):
        self.optimiser, self.factor = optimiser, factor
        self.last_epoch = -1
        self.step()

    def step(self) -> None:
        self.last_epoch += 1
        self.optimiser.set_learning_rate(self.optimiser.initial_lr * self.factor(self.last_epoch))

    def state_dict(self) -> dict:
        return {"base_lrs": [self.optimiser.initial_lr], "last_epoch": self.last_epoch,
                "_step_count": self.last_epoch + 1, "verbose": False,
                "_get_lr_called_within_step": False,
                "_last_lr": [self.optimiser.learning_rate], "lr_lambdas": [None]}

    def load_state_dict(self, state_dict: dict) -> None:
        """The epoch count; the rate itself comes with the optimiser's state, as in torch."""
        self.last_epoch = int(state_dict["last_epoch"])
        self.optimiser.initial_lr = float(state_dict["base_lrs"][0])


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
