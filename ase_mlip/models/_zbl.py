"""Ziegler-Biersack-Littmark screened nuclear repulsion.

The universal ZBL pair potential (Ziegler, Biersack and Littmark, "The Stopping
and Range of Ions in Solids", Pergamon, 1985):

    V(r) = Z_i Z_j e^2 / (4 pi eps_0 r) * phi(r / a),
    a = 0.46850 A / (Z_i^0.23 + Z_j^0.23),
    phi(x) = 0.18175 e^(-3.19980 x) + 0.50986 e^(-0.94229 x)
           + 0.28022 e^(-0.40290 x) + 0.02817 e^(-0.20162 x).

Added to a learned potential it keeps atoms apart in close collisions that the
training data never sampled. It is multiplied by the model's cutoff envelope
so that it vanishes smoothly at r_cut; each pair is shared half by each atom.
"""

from __future__ import annotations

import torch
from ase.data import atomic_numbers
from torch import nn

from ._radial import PolynomialCutoff

_COULOMB = 14.3996454784255  # e^2 / (4 pi eps_0), eV * Angstrom
_PHI_C = (0.18175, 0.50986, 0.28022, 0.02817)
_PHI_D = (3.19980, 0.94229, 0.40290, 0.20162)


class ZBLRepulsion(nn.Module):
    """Per-atom ZBL energies from edges.

    Parameters
    ----------
    species : list of str
        Chemical symbols in species-index order.
    r_cut : float
        Cutoff radius, Angstrom.
    polynomial_p : int
        Order of the envelope.
    """

    def __init__(self, species: list[str], r_cut: float, polynomial_p: int = 6):
        super().__init__()
        z = torch.tensor([float(atomic_numbers[s]) for s in species])
        self.register_buffer("z", z)
        self.register_buffer("phi_c", torch.tensor(_PHI_C))
        self.register_buffer("phi_d", torch.tensor(_PHI_D))
        self.cutoff = PolynomialCutoff(r_cut, polynomial_p)

    def forward(self, species, edge_index, edge_vec, n_local):
        """Per-atom repulsion energies, shape (n_local,), eV."""
        r = torch.linalg.norm(edge_vec, dim=-1)  # [n_edges]
        zi, zj = self.z[species[edge_index[0]]], self.z[species[edge_index[1]]]
        a = 0.46850 / (zi.pow(0.23) + zj.pow(0.23))
        phi = (self.phi_c * torch.exp(-self.phi_d * (r / a).unsqueeze(-1))).sum(-1)
        pair = 0.5 * _COULOMB * zi * zj / r * phi * self.cutoff(r)
        out = torch.zeros(n_local, dtype=pair.dtype, device=pair.device)
        return out.index_add(0, edge_index[0], pair)
