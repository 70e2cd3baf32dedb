"""Sharpness-aware minimisation (SAM) around any torch optimiser.

SAM (Foret, Kleiner, Mobahi and Neyshabur, ICLR 2021) minimises the loss in a
neighbourhood of radius ``rho`` rather than at a point. Each step

1. computes the gradient ``g = dL/dw`` at the current weights ``w``;
2. moves to the (first-order) worst point of the neighbourhood,
   ``w' = w + e`` with ``e = rho * g / ||g||`` (norm over all parameters);
3. computes the gradient ``g' = dL/dw`` at ``w'``;
4. restores ``w`` and lets the base optimiser step with ``g'``.

The adaptive variant (ASAM; Kwon, Kim, Park and Choi, ICML 2021) makes the
neighbourhood scale-invariant with the element-wise operator ``T = |w|``:
``e = rho * T^2 g / ||T g||``. Allegro-Legato (Ibayashi et al., ISC 2023)
trains Allegro with SAM to obtain potentials whose MD runs survive longer;
``rho = 0.005`` is this package's default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["SAM"]


class SAM:
    """Wrap a base optimiser with a sharpness-aware two-pass step.

    Parameters
    ----------
    base_optimizer : torch.optim.Optimizer
        Optimiser that takes the final step (Adam, AdamW, SGD, ...). Its
        ``param_groups`` are shared, so learning-rate schedules act on it.
    rho : float
        Neighbourhood radius (in the units of the weights for plain SAM,
        relative for adaptive SAM). Must be positive.
    adaptive : bool
        Use ASAM's scale-invariant neighbourhood ``T = |w|``.

    Examples
    --------
    >>> opt = SAM(torch.optim.Adam(model.parameters(), lr=1e-3), rho=0.005)  # doctest: +SKIP
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = loss_fn(model)
    ...     loss.backward()
    ...     return loss
    >>> opt.step(closure)  # doctest: +SKIP
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer, rho: float = 0.005,
                 adaptive: bool = False):
        if not rho > 0:
            raise ValueError(f"SAM rho must be > 0, got {rho}; use e.g. rho=0.005 or disable SAM")
        self.base_optimizer = base_optimizer
        self.rho = float(rho)
        self.adaptive = bool(adaptive)

    @property
    def param_groups(self) -> list[dict]:
        """The base optimiser's parameter groups (learning rates live here)."""
        return self.base_optimizer.param_groups

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield p

    @torch.no_grad()
    def perturbation(self) -> dict[torch.Tensor, torch.Tensor]:
        """Return ``e`` for each parameter from the gradients currently stored."""
        params = list(self._params())
        if not params:
            return {}
        scaled = [(p.abs() * p.grad) if self.adaptive else p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
        factor = self.rho / (norm + 1e-12)
        return {p: (p.abs() * s if self.adaptive else s) * factor for p, s in zip(params, scaled)}

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], torch.Tensor],
             before_base_step: Callable[[], None] | None = None) -> torch.Tensor:
        """Take one SAM step.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, computes the loss, calls ``backward`` and
            returns the loss. Called twice.
        before_base_step : callable, optional
            Called with the perturbed-point gradients in place, just before
            the base step (for gradient clipping).

        Returns
        -------
        torch.Tensor
            The loss at the unperturbed weights (first closure call).
        """
        loss = closure()
        e = self.perturbation()
        with torch.no_grad():
            for p, e_p in e.items():
                p.add_(e_p)
        closure()
        with torch.no_grad():
            for p, e_p in e.items():
                p.sub_(e_p)
        if before_base_step is not None:
            before_base_step()
        self.base_optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {"base": self.base_optimizer.state_dict(), "rho": self.rho,
                "adaptive": self.adaptive}

    def load_state_dict(self, state: dict) -> None:
        self.base_optimizer.load_state_dict(state["base"])
        self.rho = float(state["rho"])
        self.adaptive = bool(state["adaptive"])
