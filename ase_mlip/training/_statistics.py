"""Data-derived normalisation: energy shifts, energy scale, neighbour count.

* Per-species energy shifts ``mu_Z`` solve the least-squares problem
  ``min sum_s (E_s - sum_Z n_sZ mu_Z)^2`` over the training structures, with
  ``n_sZ`` the number of atoms of species Z in structure s. The model then
  learns only the residual, which is of order meV/atom instead of eV/atom.
* The energy scale is the RMS of the training force components (eV/A): the
  model's raw per-atom outputs are O(1), so forces come out O(force RMS).
* ``avg_num_neighbors`` is the mean number of edges per atom within the cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ase_mlip.data import AtomicGraph

__all__ = ["fit_energy_shift", "force_rms", "average_num_neighbors"]


def fit_energy_shift(graphs: Sequence[AtomicGraph], num_species: int) -> np.ndarray:
    """Least-squares per-species energy shifts.

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
    shift, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return shift


def force_rms(graphs: Sequence[AtomicGraph]) -> float:
    """RMS of all force components of the graphs, eV/Angstrom."""
    forces = np.concatenate([g.forces.ravel() for g in graphs])
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
