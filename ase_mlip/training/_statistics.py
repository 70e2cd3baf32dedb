"""Data-derived normalisation: energy shifts, energy scale, neighbour count.

* Per-species energy shifts ``mu_Z`` solve the least-squares problem
  ``min sum_s (E_s - sum_Z n_sZ mu_Z)^2`` over the training structures, with
  ``n_sZ`` the number of atoms of species Z in structure s. The model then
  learns only the residual, which is of order meV/atom instead of eV/atom.
* The energy scale is the RMS of the training force components (eV/A): the
  model's raw per-atom outputs are O(1), so forces come out O(force RMS).
* ``avg_num_neighbors`` is the mean number of edges per atom within the cutoff.

With a fixed physical baseline in the potential (the ZBL repulsion), shift and
scale are fitted to what the network must learn, the reference minus the
baseline (:func:`baseline_energies_forces`); otherwise the network would have
to cancel the baseline's mean energy and its share of the force RMS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ase_mlip.data import AtomicGraph
from ase_mlip.potential import forces_and_virial

__all__ = ["fit_energy_shift", "force_rms", "average_num_neighbors", "baseline_energies_forces"]


def baseline_energies_forces(baseline: torch.nn.Module, graphs: Sequence[AtomicGraph]
                             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Total energies and forces of a fixed pair baseline on each graph.

    Parameters
    ----------
    baseline : torch.nn.Module
        Called as ``baseline(species, edge_index, edge_vec, num_atoms)``, returns
        per-atom energies in eV (as :class:`ase_mlip.models.ZBLRepulsion`).
    graphs : sequence of AtomicGraph

    Returns
    -------
    energies : numpy.ndarray
        (num_graphs,) eV.
    forces : list of numpy.ndarray
        (num_atoms, 3) eV/Angstrom per graph, ``-dE/dr`` through the edge vectors.
    """
    dtype = next(iter(baseline.buffers())).dtype
    energies, forces = np.zeros(len(graphs)), []
    for k, g in enumerate(graphs):
        vec = torch.as_tensor(g.edge_vec, dtype=dtype).requires_grad_(True)
        edge_index = torch.as_tensor(g.edge_index)
        energy = baseline(torch.as_tensor(g.species), edge_index, vec, g.num_atoms).sum()
        (edge_forces,) = torch.autograd.grad(energy, vec)  # dE/d(edge_vec), as in the potential
        f, _ = forces_and_virial(edge_forces.double(), edge_index, vec.detach().double(), g.num_atoms)
        energies[k] = energy.item()
        forces.append(f.numpy())
    return energies, forces


def fit_energy_shift(graphs: Sequence[AtomicGraph], num_species: int,
                     baseline_energies: np.ndarray | None = None) -> np.ndarray:
    """Least-squares per-species energy shifts.

    ``baseline_energies`` (num_graphs,), eV, are subtracted from the reference
    energies first.

    Returns
    -------
    numpy.ndarray
        (num_species,) eV per atom of each species (minimum-norm solution
        when compositions do not determine every shift).
    """
    counts = np.zeros((len(graphs), num_species))
    for k, g in enumerate(graphs):
        counts[k] = np.bincount(g.species, minlength=num_species)
    energies = np.array([g.energy for g in graphs])
    if baseline_energies is not None:
        energies = energies - np.asarray(baseline_energies)
    shift, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return shift


def force_rms(graphs: Sequence[AtomicGraph], baseline_forces: Sequence[np.ndarray] | None = None) -> float:
    """RMS of all force components of the graphs, eV/Angstrom.

    ``baseline_forces`` (one (num_atoms, 3) array per graph) are subtracted first.
    """
    if baseline_forces is None:
        forces = np.concatenate([g.forces.ravel() for g in graphs])
    else:
        forces = np.concatenate([(g.forces - f).ravel() for g, f in zip(graphs, baseline_forces, strict=True)])
    value = float(np.sqrt(np.mean(forces**2)))
    if not value > 0:
        raise ValueError("all training forces are zero; set fit_energy_scale: false in the config")
    return value


def average_num_neighbors(graphs: Sequence[AtomicGraph]) -> float:
    """Mean number of neighbours per atom within the cutoff."""
    edges = sum(g.edge_index.shape[1] for g in graphs)
    atoms = sum(g.num_atoms for g in graphs)
    if edges == 0:
        raise ValueError("no atom has a neighbour within r_cut; increase r_cut in the model config")
    return edges / atoms
