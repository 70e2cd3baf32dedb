"""Predictions on a batch and the weighted training loss.

For a batch of structures (a disjoint graph, see
:class:`ase_mlip.data.GraphBatch`) one backward pass through ``edge_vec``
gives the per-edge forces ``f_ij = dE/d edge_vec_ij`` of the per-edge-force
contract (:mod:`ase_mlip.potential`). From them

* forces: ``F_i = sum_j f_ij - sum_k f_ki`` (i as center gains, as neighbour loses);
* stress of structure s: ``sigma_s = (1/V_s) sum_{ij in s} edge_vec_ij (outer) f_ij``,
  ASE sign (positive = tensile), eV/Angstrom^3.

The loss is

    L = w_E * mean_s rho((E_s - E_s^ref) / N_s)
      + w_F * mean_{i,a} rho(F_ia - F_ia^ref)
      + w_S * mean_{s with stress, a, b} rho(sigma_s,ab - sigma_s,ab^ref),

with ``rho(x) = x^2`` (MSE) or the Huber function scaled so that it equals
``x^2`` for ``|x| < delta`` and grows as ``2 delta |x| - delta^2`` beyond.
With group weights ``g_s`` (``TrainConfig.group_weights``) every ``rho`` of
structure s, and of its atoms, is multiplied by ``g_s`` inside the means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ase_mlip.data import GraphBatch
from ase_mlip.potential import energy_and_edge_forces

__all__ = ["Prediction", "predict", "Errors", "batch_errors", "weighted_loss", "with_group_weights"]


@dataclass
class Prediction:
    """Model outputs for a batch.

    Attributes
    ----------
    energy : torch.Tensor
        (num_structures,) total energies, eV.
    forces : torch.Tensor
        (num_atoms, 3), eV/Angstrom.
    stress : torch.Tensor
        (num_structures, 3, 3), eV/Angstrom^3, ASE sign (zeros where V = 0).
    """

    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor


def predict(potential: torch.nn.Module, batch: GraphBatch, create_graph: bool = False) -> Prediction:
    """Energies, forces and stresses of every structure of a batch.

    Parameters
    ----------
    potential : Potential
        The model.
    batch : GraphBatch
        Structures as one disjoint graph.
    create_graph : bool
        Keep the graph of all outputs, for a training loss (True while
        training); when False the outputs are detached.
    """
    num_atoms = batch.species.shape[0]
    num_structures = batch.num_structures
    edge_vec = batch.edge_vec.detach().requires_grad_(True)
    atomic_energy, edge_forces = energy_and_edge_forces(
        potential, batch.species, batch.edge_index, edge_vec, num_atoms, create_graph=create_graph
    )  # [N], [E, 3]
    energy = torch.zeros(num_structures, dtype=atomic_energy.dtype, device=atomic_energy.device)
    energy = energy.index_add(0, batch.batch, atomic_energy)  # [B]
    forces = torch.zeros((num_atoms, 3), dtype=edge_forces.dtype, device=edge_forces.device)
    forces = forces.index_add(0, batch.edge_index[0], edge_forces)
    forces = forces.index_add(0, batch.edge_index[1], -edge_forces)  # [N, 3]
    outer = edge_vec.detach().unsqueeze(2) * edge_forces.unsqueeze(1)  # [E, 3, 3]
    strain_derivative = torch.zeros((num_structures, 3, 3), dtype=outer.dtype, device=outer.device)
    strain_derivative = strain_derivative.index_add(0, batch.edge_batch, outer)  # [B, 3, 3] eV
    volume = torch.where(batch.volume > 0, batch.volume, torch.ones_like(batch.volume))
    stress = strain_derivative / volume[:, None, None]
    stress = torch.where((batch.volume > 0)[:, None, None], stress, torch.zeros_like(stress))
    if not create_graph:
        energy, forces, stress = energy.detach(), forces.detach(), stress.detach()
    return Prediction(energy=energy, forces=forces, stress=stress)


@dataclass
class Errors:
    """Prediction minus reference, in training units.

    Attributes
    ----------
    energy_per_atom : torch.Tensor
        (num_structures,), eV/atom.
    forces : torch.Tensor
        (num_atoms, 3), eV/Angstrom.
    stress : torch.Tensor
        (num_structures_with_stress, 3, 3), eV/Angstrom^3.
    energy_weights, forces_weights, stress_weights : torch.Tensor or None
        Group weight of each entry of ``energy_per_atom`` (per structure),
        ``forces`` (per atom) and ``stress`` (per structure with stress);
        None: all 1.
    """

    energy_per_atom: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    energy_weights: torch.Tensor | None = None
    forces_weights: torch.Tensor | None = None
    stress_weights: torch.Tensor | None = None


def with_group_weights(errors: Errors, groups: Sequence[str], group_weights: Mapping[str, float] | None,
                       atom_structure, has_stress) -> Errors:
    """Give ``errors`` the weight of each structure's group (1 for groups not named).

    ``groups`` names the group of each structure, ``atom_structure`` (num_atoms,)
    the structure of each atom and ``has_stress`` (num_structures,) which
    structures carry a stress label; the per-structure weights are spread over
    the atoms and the stress entries. Without weights ``errors`` is unchanged.
    """
    if not group_weights:
        return errors
    device = errors.energy_per_atom.device
    w = torch.tensor([group_weights.get(g, 1.0) for g in groups],
                     dtype=errors.energy_per_atom.dtype, device=device)
    errors.energy_weights = w
    errors.forces_weights = w[torch.as_tensor(atom_structure, device=device)]
    errors.stress_weights = w[torch.as_tensor(has_stress, device=device)]
    return errors


def batch_errors(prediction: Prediction, batch: GraphBatch,
                 group_weights: Mapping[str, float] | None = None) -> Errors:
    """Errors of a prediction against the batch's reference labels.

    ``group_weights`` maps group names to loss weights (see :func:`with_group_weights`).
    """
    num_atoms = batch.num_atoms.to(prediction.energy.dtype)
    errors = Errors(
        energy_per_atom=(prediction.energy - batch.energy) / num_atoms,
        forces=prediction.forces - batch.forces,
        stress=(prediction.stress - batch.stress)[batch.has_stress],
    )
    return with_group_weights(errors, batch.groups, group_weights, batch.batch, batch.has_stress)


def _penalty(x: torch.Tensor, kind: str, delta: float, weights: torch.Tensor | None = None,
             count: float | None = None) -> torch.Tensor:
    """Mean of rho(x); with ``weights`` (one per leading index of x) a weighted mean.

    With ``count`` the sum is divided by ``count`` instead of ``x.numel()``: the
    share of a mean over a larger set of which ``x`` is a part.
    """
    if x.numel() == 0:
        return x.new_zeros(())
    if kind == "mse":
        rho = x * x
    elif kind == "huber":
        # 2 * torch's Huber: x^2 below delta, 2 delta |x| - delta^2 above.
        rho = 2.0 * torch.nn.functional.huber_loss(x, torch.zeros_like(x), delta=delta, reduction="none")
    else:
        raise ValueError(f"loss {kind!r} is unknown; use 'mse' or 'huber'")
    if weights is not None:
        rho = rho * weights.reshape((-1,) + (1,) * (rho.dim() - 1))
    return rho.mean() if count is None else rho.sum() / count


def weighted_loss(errors: Errors, energy_weight: float = 1.0, forces_weight: float = 1.0,
                  stress_weight: float = 0.0, kind: str = "mse", delta: float = 0.01,
                  counts: Mapping[str, float] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the energy, force and stress terms.

    ``counts`` (keys ``energy``, ``forces``, ``stress``) replaces the number of
    entries each mean divides by: with the counts of a whole batch, the terms of
    a part of it are that part's share, and the shares of all parts add up to the
    terms of the batch (how data-parallel workers split one batch).

    Returns
    -------
    loss : torch.Tensor
        Scalar, differentiable.
    terms : dict
        The ``energy``, ``forces``, ``stress`` terms as floats, before the
        term weights (group weights, if any, are inside them).
    """
    counts = counts or {}
    terms = {
        "energy": _penalty(errors.energy_per_atom, kind, delta, errors.energy_weights, counts.get("energy")),
        "forces": _penalty(errors.forces, kind, delta, errors.forces_weights, counts.get("forces")),
        "stress": _penalty(errors.stress, kind, delta, errors.stress_weights, counts.get("stress")),
    }
    loss = (energy_weight * terms["energy"] + forces_weight * terms["forces"]
            + stress_weight * terms["stress"])
    return loss, {k: float(v.detach()) for k, v in terms.items()}
