"""Allegro: a strictly local, E(3)-equivariant edge model.

After Musaelian, Batzner, Johansson, Sun, Owen, Kornbluth and Kozinsky,
"Learning local equivariant representations for large-scale atomistic
dynamics", Nat. Commun. 14, 579 (2023).

Every ordered pair (i, j) with r_ij < r_max carries a scalar latent x_ij and
a set of equivariant tensor features V_ij. Layer by layer:

1. two-body embedding: x_ij = MLP([onehot(Z_i), onehot(Z_j), B(r_ij)]) u(r_ij),
   V_ij = w_ij (x) Y(r_ij_hat) with per-channel, per-l weights w_ij = Linear(x_ij);
2. environment of the center (the "density trick": sum first, couple later)
   G_i = (1 / sqrt(<n_neighbors>)) sum_k u(r_ik) w'_ik (x) Y(r_ik_hat),
   with weights w'_ik = Linear(x_ik) of the layer;
3. V_ij <- Linear(V_ij (x) G_i), a channel-wise tensor product;
4. x_ij <- (x_ij + MLP([x_ij, scalars(V_ij)])) / sqrt(2).

No message passes between atoms: the energy of atom i depends only on atoms
within r_max of i, so a domain decomposition needs ghost atoms out to one
cutoff. The readout is an edge energy E_ij = MLP(x_ij) u(r_ij); the atomic
energy is E_i = sum_j E_ij / sqrt(<n_neighbors>), optionally plus a per-atom
MLP of the neighbour sum of the final latents (``atom_mlp``), still a function
of atom i's own edges only. Every factor that couples
edge (i, k) into the energy carries u(r_ik), so energies and forces are smooth
when a neighbour crosses the cutoff.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
from e3nn import o3
from torch import nn

from ._mlp import ScalarMLP
from ._radial import BesselBasis, PolynomialCutoff
from ._tensor_product import ChannelwiseTensorProduct, irreps_str, sh_irreps


@dataclass
class AllegroConfig:
    """Hyperparameters of :class:`Allegro`.

    Parameters
    ----------
    num_species : int
        Number of chemical species.
    r_cut : float
        Cutoff radius, Angstrom.
    num_layers : int
        Number of tensor-product layers.
    l_max : int
        Largest rotation order of the tensor features.
    parity : bool
        Full O(3) (track parity, equivariant under reflections) or SO(3).
    pseudotensors : bool
        With parity, also carry the irreps of unnatural parity (0o, 1e, ...)
        in the tensor track; off by default, as in nequip-allegro.
    num_tensor_features : int
        Channels of the equivariant tensor track.
    num_scalar_features : int
        Width of the scalar latent of each edge.
    num_bessel : int
        Number of Bessel radial basis functions.
    bessel_trainable : bool
        Whether the Bessel frequencies are trained.
    normalize_radial : bool
        Scale the Bessel basis to unit mean square over the cutoff sphere
        (True). Unscaled, its values are ~0.1 at r_max = 5 A and the two-body
        MLP starts out nearly linear; on mlearn Mo the normalised basis halves
        the training force error reached in a given number of epochs.
        Potential files of format version 1 predate it and load with False.
    polynomial_p : int
        Order of the polynomial cutoff envelope.
    two_body_mlp : list of int
        Hidden widths of the two-body embedding MLP.
    latent_mlp : list of int
        Hidden widths of the latent update MLP of each layer.
    readout_mlp : list of int
        Hidden widths of the edge-energy readout MLP.
    atom_mlp : list of int or None
        Hidden widths of a per-atom readout, off by default (None). When set,
        each atom also gets the energy MLP(rho_i), with
        rho_i = sum_j x_ij u(r_ij) / <n_neighbors>, the final edge latents
        summed over the atom's neighbours: a learned embedding function of a
        learned density, as in the embedded-atom method, on top of the sum of
        edge energies. The MLP has no biases, so an atom without neighbours
        gets exactly zero from it; its last layer starts at zero, so training
        starts from the edge-only model.
    avg_num_neighbors : float
        Normalisation of neighbour sums; set from the training data.
    """

    num_species: int
    r_cut: float = 5.0
    num_layers: int = 2
    l_max: int = 1
    parity: bool = True
    pseudotensors: bool = False
    num_tensor_features: int = 32
    num_scalar_features: int = 64
    num_bessel: int = 8
    bessel_trainable: bool = False
    normalize_radial: bool = True
    polynomial_p: int = 6
    two_body_mlp: list[int] = field(default_factory=lambda: [128])
    latent_mlp: list[int] = field(default_factory=lambda: [128, 128])
    readout_mlp: list[int] = field(default_factory=lambda: [32])
    atom_mlp: list[int] | None = None
    avg_num_neighbors: float = 20.0

    def __post_init__(self):
        checks = [
            (self.num_species >= 1, "num_species must be >= 1"),
            (self.r_cut > 0, f"r_cut must be positive, got {self.r_cut}"),
            (self.num_layers >= 1, f"num_layers must be >= 1, got {self.num_layers}"),
            (0 <= self.l_max <= 3, f"l_max must be 0..3, got {self.l_max}"),
            (self.num_tensor_features >= 1, "num_tensor_features must be >= 1"),
            (self.num_scalar_features >= 1, "num_scalar_features must be >= 1"),
            (self.num_bessel >= 1, "num_bessel must be >= 1"),
            (self.avg_num_neighbors > 0, "avg_num_neighbors must be positive"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        self.r_cut = float(self.r_cut)
        self.avg_num_neighbors = float(self.avg_num_neighbors)
        self.two_body_mlp = [int(h) for h in self.two_body_mlp]
        self.latent_mlp = [int(h) for h in self.latent_mlp]
        self.readout_mlp = [int(h) for h in self.readout_mlp]
        if self.atom_mlp is not None:
            self.atom_mlp = [int(h) for h in self.atom_mlp]

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict:
        return asdict(self)


class Allegro(nn.Module):
    """Allegro model: per-atom energies from edges.

    Parameters
    ----------
    config : AllegroConfig
        Hyperparameters.
    """

    def __init__(self, config: AllegroConfig):
        super().__init__()
        self.config = config
        c = config
        self.num_species = c.num_species
        self.l_max = c.l_max
        self.num_channels = c.num_tensor_features
        self.register_buffer("_avg_num_neighbors", torch.tensor(c.avg_num_neighbors))
        # The l of each spherical-harmonic component, 0 1 1 1 2 2 2 2 2 ...; derived, not stored.
        l_of_component = [l for l in range(c.l_max + 1) for _ in range(2 * l + 1)]
        self.register_buffer("_l_of_component", torch.tensor(l_of_component), persistent=False)
        self.bessel = BesselBasis(c.r_cut, c.num_bessel, trainable=c.bessel_trainable,
                                  normalize=c.normalize_radial)
        self.cutoff = PolynomialCutoff(c.r_cut, c.polynomial_p)
        self.sh = o3.SphericalHarmonics(
            o3.Irreps.spherical_harmonics(c.l_max), normalize=True, normalization="component"
        )
        latent = c.num_scalar_features
        self.two_body = ScalarMLP([2 * c.num_species + c.num_bessel, *c.two_body_mlp, latent])
        # Per-channel, per-l weights that turn Y(r_ij) into the first tensor features.
        self.initial_weights = ScalarMLP([latent, (c.l_max + 1) * self.num_channels])

        self.env_weights = nn.ModuleList()
        self.products = nn.ModuleList()
        self.latent_updates = nn.ModuleList()
        irreps = sh_irreps(c.l_max)
        for layer in range(c.num_layers):
            last = layer == c.num_layers - 1
            self.env_weights.append(ScalarMLP([latent, (c.l_max + 1) * self.num_channels]))
            tp = ChannelwiseTensorProduct(
                irreps, c.l_max, c.parity, self.num_channels, scalar_only=last, pseudotensors=c.pseudotensors
            )
            self.products.append(tp)
            irreps = tp.irreps_out
            self.latent_updates.append(
                ScalarMLP([latent + self.num_channels, *c.latent_mlp, latent])
            )
        self.readout = ScalarMLP([latent, *c.readout_mlp, 1])
        self.atom_readout = None
        if c.atom_mlp is not None:
            self.atom_readout = ScalarMLP([latent, *c.atom_mlp, 1])
            with torch.no_grad():
                self.atom_readout.weights[-1].zero_()

    @property
    def avg_num_neighbors(self) -> float:
        return float(self._avg_num_neighbors)

    @avg_num_neighbors.setter
    def avg_num_neighbors(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"avg_num_neighbors must be positive, got {value}")
        self._avg_num_neighbors.fill_(float(value))
        self.config.avg_num_neighbors = float(value)

    def _times_sh(self, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-channel, per-l weights times spherical harmonics.

        ``w``: [n_edges, (l_max+1) * C]; ``y``: [(l_max+1)^2, n_edges, 1] ->
        [(l_max+1)^2, n_edges, C]. The weight of each component's l is picked
        by one index_select, not by blocks joined with ``cat``, whose slices
        would become zero tensors of the full size under force training.
        """
        w = w.reshape(w.shape[0], self.l_max + 1, self.num_channels).transpose(0, 1)
        return w.index_select(0, self._l_of_component) * y

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """Per-atom energies in model units (before per-species scale and shift).

        Parameters
        ----------
        species : torch.Tensor
            Species indices of local and ghost atoms, shape (num_atoms,).
        edge_index : torch.Tensor
            (center i, neighbor j), shape (2, num_edges); every center is local.
        edge_vec : torch.Tensor
            r_j - r_i, shape (num_edges, 3), Angstrom.
        n_local : int
            Number of local atoms (the first n_local entries of ``species``).

        Returns
        -------
        torch.Tensor
            Shape (n_local,).
        """
        center, neighbor = edge_index[0], edge_index[1]
        norm = self._avg_num_neighbors.rsqrt()
        r = torch.linalg.norm(edge_vec, dim=-1)  # [n_edges]
        u = self.cutoff(r).unsqueeze(-1)  # [n_edges, 1]
        # Tensor features are component-major: [(l_max+1)^2, n_edges, C].
        y = self.sh(edge_vec).T.unsqueeze(-1)  # [(l_max+1)^2, n_edges, 1]
        y_cut = y * u

        onehot = nn.functional.one_hot(species, self.num_species).to(edge_vec.dtype)
        x = self.two_body(onehot[center], onehot[neighbor], self.bessel(r))
        x = x * u  # [n_edges, latent]
        features = self._times_sh(self.initial_weights(x), y)  # [(l_max+1)^2, n_edges, C]

        for env_weights, product, update in zip(self.env_weights, self.products, self.latent_updates):
            w = self._times_sh(env_weights(x), y_cut)  # [(l_max+1)^2, n_edges, C]
            env = torch.zeros((w.shape[0], n_local, w.shape[2]), dtype=w.dtype, device=w.device)
            env = env.index_add(1, center, w) * norm  # [(l_max+1)^2, n_local, C]
            features = product(features, env.index_select(1, center))  # [dim_out, n_edges, C]
            scalars = features.split([1, features.shape[0] - 1], 0)[0].squeeze(0)  # 0e comes first: [n_edges, C]
            x = (x + update(x, scalars)) * (1.0 / math.sqrt(2.0))

        edge_energy = self.readout(x) * u  # [n_edges, 1]
        atomic = torch.zeros(n_local, dtype=edge_energy.dtype, device=edge_energy.device)
        atomic = atomic.index_add(0, center, edge_energy.squeeze(-1)) * norm
        if self.atom_readout is not None:
            rho = torch.zeros((n_local, x.shape[1]), dtype=x.dtype, device=x.device)
            rho = rho.index_add(0, center, x * u) * (norm * norm)  # [n_local, latent]
            atomic = atomic + self.atom_readout(rho).squeeze(-1)
        return atomic

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"r_cut={c.r_cut}, layers={c.num_layers}, "
            f"tensor={c.num_tensor_features}x({irreps_str(self.products[0].irreps_in)}), "
            f"latent={c.num_scalar_features}, parity={c.parity}"
        )
