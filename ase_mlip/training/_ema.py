"""Exponential moving average (EMA) of model weights.

After every optimiser step the shadow weights move towards the current ones,

    shadow <- d * shadow + (1 - d) * w,   d = min(decay, (1 + n) / (10 + n)),

where ``n`` counts updates (the warm-up keeps early shadows from remembering
the random initial weights for long). Validation and the saved potential use
the shadow weights, which are smoother than the raw iterates.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """Shadow copy of a module's trainable parameters.

    Parameters
    ----------
    module : torch.nn.Module
        Module whose parameters (``requires_grad``) are averaged.
    decay : float
        Asymptotic decay, in [0, 1). 0 keeps the current weights.
    """

    def __init__(self, module: torch.nn.Module, decay: float = 0.99):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}; 0.99 is a common choice")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in module.named_parameters()
                       if p.requires_grad}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        """Move the shadow weights towards the module's current weights."""
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for name, p in module.named_parameters():
            if name in self.shadow:
                self.shadow[name].mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        """Overwrite the module's parameters with the shadow weights."""
        for name, p in module.named_parameters():
            if name in self.shadow:
                p.copy_(self.shadow[name])

    @contextmanager
    def average_parameters(self, module: torch.nn.Module):
        """Context in which ``module`` holds the shadow weights; restored on exit."""
        backup = {name: p.detach().clone() for name, p in module.named_parameters()
                  if name in self.shadow}
        self.copy_to(module)
        try:
            yield module
        finally:
            with torch.no_grad():
                for name, p in module.named_parameters():
                    if name in backup:
                        p.copy_(backup[name])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
