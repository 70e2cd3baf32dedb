"""Radial basis and smooth cutoff envelope.

The radial basis is the zeroth-order spherical Bessel set used by Klicpera,
Gross and Guennemann (ICLR 2020) and by NequIP/Allegro,

    B_n(r) = sqrt(2 / r_max) * sin(n pi r / r_max) / r,    n = 1..num_basis,

and the envelope is the polynomial of the same paper,

    u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),   x = r / r_max,

which goes to zero at x = 1 with its first p - 1 derivatives, so energies and
forces are continuous when a neighbour crosses the cutoff.

With ``normalize=True`` the basis is multiplied by sqrt(r_max^3 / 3), which
gives every B_n unit mean square when neighbours fill the cutoff sphere
uniformly (density proportional to r^2): the raw basis has mean square
3 / r_max^3, about 0.02 at r_max = 5 A, so the MLP it feeds would start out
almost linear and learn slowly.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BesselBasis(nn.Module):
    """Bessel radial basis on [0, r_max].

    Parameters
    ----------
    r_max : float
        Cutoff radius in Angstrom.
    num_basis : int
        Number of basis functions.
    trainable : bool
        Whether the frequencies n * pi / r_max are trained.
    normalize : bool
        Scale to unit mean square over the cutoff sphere (see the module notes).
    """

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = True,
                 normalize: bool = False):
        super().__init__()
        self.r_max = float(r_max)
        self.num_basis = int(num_basis)
        freq = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / r_max
        if trainable:
            self.frequencies = nn.Parameter(freq)
        else:
            self.register_buffer("frequencies", freq)
        self.normalize = bool(normalize)
        self.prefactor = math.sqrt(2.0 / r_max) * (math.sqrt(r_max**3 / 3.0) if normalize else 1.0)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Evaluate the basis.

        Parameters
        ----------
        r : torch.Tensor
            Distances, shape (num_edges,), Angstrom.

        Returns
        -------
        torch.Tensor
            Shape (num_edges, num_basis), 1/Angstrom.
        """
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * r) / r

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, num_basis={self.num_basis}, normalize={self.normalize}"


class PolynomialCutoff(nn.Module):
    """Smooth polynomial envelope that vanishes at r_max.

    Parameters
    ----------
    r_max : float
        Cutoff radius in Angstrom.
    p : int
        Polynomial order; the envelope has p - 1 continuous derivatives at r_max.
    """

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        if p < 2:
            raise ValueError(f"polynomial_p must be >= 2 for smooth forces, got {p}")
        self.r_max = float(r_max)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Envelope values, shape as ``r`` (dimensionless)."""
        p = self.p
        x = r / self.r_max
        xp = x.pow(p)
        u = (
            1.0
            - 0.5 * (p + 1) * (p + 2) * xp
            + p * (p + 2) * xp * x
            - 0.5 * p * (p + 1) * xp * x * x
        )
        return u * (x < 1.0)

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, p={self.p}"
