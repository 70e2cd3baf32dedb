"""Variance-preserving scalar MLP.

Like e3nn's ``FullyConnectedNet`` (weights drawn from N(0, 1) and divided by
sqrt(fan_in); the activation rescaled to unit second moment on N(0, 1)
inputs), but with both constants folded into the stored weights at
construction, so the forward pass is plain ``matmul -> silu -> matmul``: no
extra elementwise passes over the (num_edges, width) activations, and only
the pre-activations are kept for the backward pass.
"""

from __future__ import annotations

import math

import torch
from torch import nn

def _silu_second_moment() -> float:
    """E[silu(z)^2] for z ~ N(0, 1), by quadrature."""
    z = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    density = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(nn.functional.silu(z) ** 2 * density, z))


class ScalarMLP(nn.Module):
    """MLP without biases, silu activations, unit-variance initialisation.

    Parameters
    ----------
    dims : list of int
        ``[in, hidden..., out]``.
    out_act : bool
        Apply the activation after the last layer as well.
    """

    def __init__(self, dims: list[int], out_act: bool = False):
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"an MLP needs at least input and output sizes, got {dims}")
        self.dims = [int(d) for d in dims]
        self.out_act = out_act
        norm = 1.0 / math.sqrt(_silu_second_moment())
        self.weights = nn.ParameterList()
        for k, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            w = torch.randn(d_in, d_out) / math.sqrt(d_in)
            if k > 0:
                w = w * norm  # the previous layer's activation normalisation, folded in
            self.weights.append(nn.Parameter(w))
        self.register_buffer("_out_norm", torch.tensor(norm if out_act else 1.0))

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
        """Apply the MLP, shape (..., dims[0]) -> (..., dims[-1]).

        With several arguments the input is their concatenation along the last
        axis, which is never formed: the first layer is the sum of each part
        times its rows of the weight. Under force training a concatenation
        would be differentiated into a zero tensor of the full size per part.
        """
        last = len(self.weights) - 1
        for k, w in enumerate(self.weights):
            if k == 0 and more:
                parts = (x, *more)
                rows = w.split([p.shape[-1] for p in parts], 0)
                x = sum((p @ r for p, r in zip(parts[1:], rows[1:])), parts[0] @ rows[0])
            else:
                x = x @ w
            if k < last or self.out_act:
                x = nn.functional.silu(x)
        return x * self._out_norm if self.out_act else x

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.dims}"
