"""Learning-rate schedule: linear warm-up, then constant, cosine or plateau.

* warm-up: over the first ``warmup_steps`` optimiser steps the rate grows
  linearly from ``lr / warmup_steps`` to ``lr``;
* ``"cosine"``: afterwards it follows
  ``lr_min + (lr - lr_min) * (1 + cos(pi * t)) / 2`` with ``t`` the fraction of
  the remaining steps done;
* ``"plateau"``: the rate is multiplied by ``factor`` (not below ``lr_min``)
  when the validation loss has not improved for ``patience`` epochs;
* ``"constant"``: stays at ``lr``.

:meth:`LRSchedule.rewarm` starts a second linear warm-up from the current
step: over its length the scheduled rate is scaled up from ``1 / steps`` to 1
(used when the optimiser restarts at the second training stage).
``scale`` multiplies every rate from the moment it is set (the second stage's
``stage_two_lr_scale``).
"""

from __future__ import annotations

import math

__all__ = ["LRSchedule"]

_KINDS = ("constant", "cosine", "plateau")


class LRSchedule:
    """Set the learning rate of an optimiser's parameter groups.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer or SAM
        Anything with ``param_groups``.
    kind : {"constant", "cosine", "plateau"}
        Shape after warm-up.
    lr : float
        Peak learning rate.
    total_steps : int
        Steps of the whole run (cosine only).
    warmup_steps : int
        Linear warm-up length in steps (0: none).
    lr_min : float
        Floor of the cosine and plateau schedules.
    factor : float
        Plateau reduction factor, in (0, 1).
    patience : int
        Plateau patience, epochs without improvement.
    """

    def __init__(self, optimizer, kind: str = "plateau", lr: float = 1e-3, total_steps: int = 1,
                 warmup_steps: int = 0, lr_min: float = 1e-6, factor: float = 0.5,
                 patience: int = 10):
        if kind not in _KINDS:
            raise ValueError(f"lr_schedule {kind!r} is unknown; use one of {_KINDS}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"plateau_factor must be in (0, 1), got {factor}")
        self.optimizer = optimizer
        self.kind = kind
        self.lr = float(lr)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.lr_min = float(lr_min)
        self.factor = float(factor)
        self.patience = int(patience)
        self.step_count = 0
        self.plateau_lr = float(lr)
        self.best = math.inf
        self.bad_epochs = 0
        self.rewarm_start = 0
        self.rewarm_steps = 0
        self.scale = 1.0
        self._apply()

    def current_lr(self) -> float:
        """Learning rate for the next optimiser step."""
        done = self.step_count - self.rewarm_start
        if self.rewarm_steps and done < self.rewarm_steps:
            return self.scale * self._scheduled_lr() * (done + 1) / self.rewarm_steps
        return self.scale * self._scheduled_lr()

    def _scheduled_lr(self) -> float:
        if self.warmup_steps and self.step_count < self.warmup_steps:
            return self.lr * (self.step_count + 1) / self.warmup_steps
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            t = min((self.step_count - self.warmup_steps) / span, 1.0)
            return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * t))
        if self.kind == "plateau":
            return self.plateau_lr
        return self.lr

    def _apply(self) -> None:
        lr = self.current_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> None:
        """Advance by one optimiser step."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, validation_loss: float) -> None:
        """Report the epoch's validation loss (used by the plateau schedule)."""
        if validation_loss < self.best:
            self.best = validation_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.kind == "plateau" and self.bad_epochs > self.patience:
                self.plateau_lr = max(self.plateau_lr * self.factor, self.lr_min)
                self.bad_epochs = 0
        self._apply()

    def rewarm(self, steps: int) -> None:
        """Ramp the rate up again over the next ``steps`` steps (0: no ramp)."""
        self.rewarm_start, self.rewarm_steps = self.step_count, max(int(steps), 0)
        self._apply()

    def reset_best(self) -> None:
        """Forget the best validation loss (when the loss changes meaning)."""
        self.best, self.bad_epochs = math.inf, 0

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("step_count", "plateau_lr", "best", "bad_epochs",
                                              "rewarm_start", "rewarm_steps", "scale")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        self._apply()
