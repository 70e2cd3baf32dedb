"""Channel-wise tensor product of edge features with the local environment.

Features are stored densely as ``(num_edges, num_channels, dim)`` where ``dim``
runs over the components of a list of irreps ``[(l, p), ...]`` (e3nn's real
basis, component normalisation). For every allowed path
``(l1, p1) x (l2, p2) -> (l3, p3)`` the product is the Clebsch-Gordan
contraction

    T[e, c, path, m3] = sqrt(2 l3 + 1) sum_{m1 m2} C^{l3 m3}_{l1 m1, l2 m2} V[e, c, l1 m1] G[e, c, l2 m2],

done for all paths at once as one dense matrix product of the outer product
``V (x) G`` (a handful of components per channel) with a precomputed coupling
matrix. Channels are not mixed inside the product (Allegro's "uuu" product,
Musaelian et al., Nat. Commun. 14, 579, 2023); a linear map per output irrep
then mixes channels and paths. Parity is either tracked (O(3): p3 = p1 p2) or
ignored (SO(3): every triangle-allowed path, labelled with the natural parity).
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn

Irrep = tuple[int, int]  # (l, parity +1/-1)


def irreps_dim(irreps: list[Irrep]) -> int:
    """Number of components of a list of irreps."""
    return sum(2 * l + 1 for l, _ in irreps)


def irreps_str(irreps: list[Irrep]) -> str:
    """Irreps in e3nn notation, e.g. ``0e+1o``."""
    return "+".join(f"{l}{'e' if p == 1 else 'o'}" for l, p in irreps)


def sh_irreps(l_max: int) -> list[Irrep]:
    """Irreps of the spherical harmonics up to ``l_max``: ``0e+1o+2e+...``."""
    return [(l, (-1) ** l) for l in range(l_max + 1)]


def coupling_paths(
    irreps_in: list[Irrep], irreps_sh: list[Irrep], l_max: int, parity: bool, scalar_only: bool
) -> list[tuple[int, int, Irrep]]:
    """Allowed paths ``(index in irreps_in, index in irreps_sh, output irrep)``."""
    paths = []
    for i1, (l1, p1) in enumerate(irreps_in):
        for i2, (l2, p2) in enumerate(irreps_sh):
            for l3 in range(abs(l1 - l2), min(l1 + l2, l_max) + 1):
                p3 = p1 * p2 if parity else (-1) ** l3
                if scalar_only and (l3, p3) != (0, 1):
                    continue
                paths.append((i1, i2, (l3, p3)))
    return paths


class ChannelwiseTensorProduct(nn.Module):
    """Tensor product of edge features with environment features, then a linear mix.

    Parameters
    ----------
    irreps_in : list of (l, p)
        Irreps of the edge tensor features ``V``.
    l_max : int
        Largest l of the spherical harmonics and of the outputs.
    parity : bool
        Track parity (O(3)) or not (SO(3)).
    num_channels : int
        Number of tensor feature channels (input and output).
    scalar_only : bool
        Compute only the paths that produce ``0e`` (enough for the last layer).
    """

    def __init__(
        self,
        irreps_in: list[Irrep],
        l_max: int,
        parity: bool,
        num_channels: int,
        scalar_only: bool = False,
    ):
        super().__init__()
        self.irreps_in = list(irreps_in)
        self.irreps_sh = sh_irreps(l_max)
        self.num_channels = num_channels
        paths = coupling_paths(self.irreps_in, self.irreps_sh, l_max, parity, scalar_only)
        out_types = sorted({p[2] for p in paths}, key=lambda lp: (lp[0], -lp[1]))
        self.irreps_out = out_types

        dim_in, dim_sh = irreps_dim(self.irreps_in), irreps_dim(self.irreps_sh)
        off_in = [sum(2 * l + 1 for l, _ in self.irreps_in[:i]) for i in range(len(self.irreps_in))]
        off_sh = [l * l for l in range(l_max + 1)]
        # One coupling matrix per output irrep, shape (dim_in * dim_sh, n_paths * (2 l3 + 1)).
        self.num_paths = []
        for t, (l3, _) in enumerate(out_types):
            t_paths = [p for p in paths if p[2] == out_types[t]]
            cg = torch.zeros(dim_in, dim_sh, len(t_paths), 2 * l3 + 1, dtype=torch.float64)
            for k, (i1, i2, _) in enumerate(t_paths):
                l1, l2 = self.irreps_in[i1][0], self.irreps_sh[i2][0]
                w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
                cg[off_in[i1] : off_in[i1] + 2 * l1 + 1, off_sh[i2] : off_sh[i2] + 2 * l2 + 1, k] = w3j
            self.register_buffer(
                f"cg_{t}", cg.reshape(dim_in * dim_sh, -1).to(torch.get_default_dtype())
            )
            self.num_paths.append(len(t_paths))
            fan_in = num_channels * len(t_paths)
            self.register_parameter(
                f"weight_{t}", nn.Parameter(torch.randn(fan_in, num_channels) / math.sqrt(fan_in))
            )

    def forward(self, features: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """Couple edge features with environment features.

        Parameters
        ----------
        features : torch.Tensor
            Edge tensor features, shape (num_edges, num_channels, dim(irreps_in)).
        env : torch.Tensor
            Environment features of each edge's center, shape
            (num_edges, num_channels, (l_max + 1)^2).

        Returns
        -------
        torch.Tensor
            New tensor features, shape (num_edges, num_channels, dim(irreps_out)).
        """
        num_edges, c = features.shape[0], self.num_channels
        outer = (features.unsqueeze(-1) * env.unsqueeze(-2)).reshape(
            num_edges * c, features.shape[-1] * env.shape[-1]
        )
        # [n_edges * n_channels, dim_in * dim_sh]
        blocks = []
        for t, (l3, _) in enumerate(self.irreps_out):
            cg = getattr(self, f"cg_{t}")
            weight = getattr(self, f"weight_{t}")
            paths = (outer @ cg).reshape(num_edges, c * self.num_paths[t], 2 * l3 + 1)
            # [n_edges, n_channels * n_paths, 2 l3 + 1] -> mix channels and paths
            blocks.append(torch.einsum("ekm,kd->edm", paths, weight))
        return torch.cat(blocks, dim=-1)

    def extra_repr(self) -> str:
        return (
            f"{self.num_channels}x({irreps_str(self.irreps_in)}) x "
            f"({irreps_str(self.irreps_sh)}) -> {self.num_channels}x({irreps_str(self.irreps_out)}), "
            f"paths={sum(self.num_paths)}"
        )
