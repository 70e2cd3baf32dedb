"""Energies, forces and stresses of all ring-polymer beads.

Two evaluators share one call signature, ``evaluator(positions) -> BeadResults``
with ``positions`` of shape ``(P, N, 3)``:

- :class:`CalculatorBeads` works with any ASE calculator: it sets the positions of
  one working copy of the atoms to each bead in turn and asks the calculator.
- :class:`MLIPBatchedBeads` is used for :class:`ase_mlip.MLIPCalculator`: it builds
  one disjoint graph of all ``P`` beads (bead ``k`` owns atoms ``k N .. (k+1) N - 1``)
  and evaluates the model once, so the ``P`` copies share one forward and one
  backward pass.  Per-bead forces and virials follow from the per-edge forces of
  :func:`ase_mlip.potential.energy_and_edge_forces`: ``F_i += f_ij``,
  ``F_j -= f_ij``, ``W = -sum edge_vec (outer) f_ij`` over the bead's edges, and
  the ASE stress is ``-W / volume``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import voigt_6_to_full_3x3_stress

__all__ = ["BeadResults", "CalculatorBeads", "MLIPBatchedBeads", "make_bead_evaluator"]


@dataclass
class BeadResults:
    """Results of one evaluation of all beads.

    Attributes
    ----------
    energies : numpy.ndarray
        ``(P,)`` potential energy of each bead, eV.
    forces : numpy.ndarray
        ``(P, N, 3)`` forces ``-dV/dq``, eV/Angstrom.
    stresses : numpy.ndarray or None
        ``(P, 3, 3)`` ASE stress of each bead (positive = tensile), eV/Angstrom^3,
        or ``None`` where not computed.
    """

    energies: np.ndarray
    forces: np.ndarray
    stresses: np.ndarray | None = None


class CalculatorBeads:
    """Evaluate the beads one after the other with any ASE calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Template (species, cell, pbc); it is copied, not modified.
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator.
    compute_stress : bool
        Also ask for the stress of each bead.
    """

    def __init__(self, atoms: Atoms, calculator: Calculator, compute_stress: bool = False):
        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.compute_stress = bool(compute_stress)

    def __call__(self, positions: np.ndarray) -> BeadResults:
        """Evaluate ``positions`` of shape ``(P, N, 3)`` (Angstrom)."""
        P = len(positions)
        energies = np.empty(P)
        forces = np.empty_like(positions, dtype=float)
        stresses = np.empty((P, 3, 3)) if self.compute_stress else None
        for k in range(P):
            self.atoms.positions = positions[k]
            energies[k] = self.atoms.get_potential_energy()
            forces[k] = self.atoms.get_forces()
            if stresses is not None:
                stresses[k] = voigt_6_to_full_3x3_stress(self.atoms.get_stress())
        return BeadResults(energies, forces, stresses)


class MLIPBatchedBeads:
    """Evaluate all beads in one batched call of an ase-mlip potential.

    Parameters
    ----------
    atoms : ase.Atoms
        Template (species, cell, pbc).
    calculator : ase_mlip.MLIPCalculator
        Supplies the potential, its device and dtype.
    compute_stress : bool
        Also return the stress of each bead (needs a 3-D periodic cell).
    """

    def __init__(self, atoms: Atoms, calculator: Calculator, compute_stress: bool = False):
        from ase_mlip.neighbors import species_indices

        self.potential = calculator.potential
        self.device = calculator.device
        self.dtype = calculator.torch_dtype
        self.cell = atoms.cell.array.copy()
        self.pbc = atoms.pbc.copy()
        self.species = species_indices(atoms.get_chemical_symbols(), self.potential.species)
        if compute_stress and not self.pbc.all():
            raise ValueError("compute_stress=True needs a cell periodic in all three directions")
        self.compute_stress = bool(compute_stress)

    def __call__(self, positions: np.ndarray) -> BeadResults:
        """Evaluate ``positions`` of shape ``(P, N, 3)`` (Angstrom)."""
        import torch

        from ase_mlip.neighbors import edge_vectors, neighbor_graph
        from ase_mlip.potential import energy_and_edge_forces, forces_and_virial

        P, N = positions.shape[:2]
        index, vecs, bead_of_edge = [], [], []
        for k in range(P):
            edge_index, shifts = neighbor_graph(positions[k], self.cell, self.pbc, self.potential.r_cut)
            vecs.append(edge_vectors(positions[k], self.cell, edge_index, shifts))
            index.append(edge_index + k * N)
            bead_of_edge.append(np.full(edge_index.shape[1], k))
        edge_index = np.concatenate(index, axis=1)  # [2, E_total]
        edge_vec = np.concatenate(vecs, axis=0)  # [E_total, 3]
        bead = np.concatenate(bead_of_edge)  # [E_total]

        dev, dt = self.device, self.dtype
        t_species = torch.as_tensor(np.tile(self.species, P), device=dev)  # [P N]
        t_index = torch.as_tensor(edge_index, device=dev)
        t_vec = torch.as_tensor(edge_vec, dtype=dt, device=dev)
        atomic, edge_forces = energy_and_edge_forces(self.potential, t_species, t_index, t_vec, P * N)
        forces, _ = forces_and_virial(edge_forces, t_index, t_vec, P * N)

        energies = atomic.detach().cpu().numpy().astype(np.float64).reshape(P, N).sum(axis=1)
        forces = forces.detach().cpu().numpy().astype(np.float64).reshape(P, N, 3)
        stresses = None
        if self.compute_stress:
            f = edge_forces.detach().cpu().numpy().astype(np.float64)  # [E_total, 3]
            outer = edge_vec[:, :, None] * f[:, None, :]  # [E_total, 3, 3]
            virial = -np.stack([outer[bead == k].sum(axis=0) for k in range(P)])  # [P, 3, 3]
            stresses = -virial / abs(np.linalg.det(self.cell))
        return BeadResults(energies, forces, stresses)


def make_bead_evaluator(
    atoms: Atoms, calculator: Calculator, compute_stress: bool = False, batched: bool | str = "auto"
):
    """Pick the bead evaluator for a calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Template structure.
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator.
    compute_stress : bool
        Return per-bead stresses.
    batched : bool or "auto"
        ``"auto"`` batches exactly when ``calculator`` is an
        :class:`ase_mlip.MLIPCalculator`; ``True`` requires it.

    Returns
    -------
    CalculatorBeads or MLIPBatchedBeads
    """
    from ase_mlip.calculator import MLIPCalculator

    is_ours = isinstance(calculator, MLIPCalculator)
    if batched not in (True, False, "auto"):
        raise ValueError(f"batched={batched!r} must be True, False or 'auto'")
    if batched is True and not is_ours:
        raise ValueError(
            f"batched=True needs an ase_mlip.MLIPCalculator, got {type(calculator).__name__}; "
            "use batched='auto' for other calculators"
        )
    if is_ours and batched is not False:
        return MLIPBatchedBeads(atoms, calculator, compute_stress)
    return CalculatorBeads(atoms, calculator, compute_stress)
