"""Harmonic reference calculators for the property-tool tests.

Both are exactly harmonic, so every quantity the tools compute has an analytic
value to compare against.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list


class HarmonicOscillators(Calculator):
    """Independent 3-D oscillators ``E = sum_i k_i |r_i - r0_i|^2 / 2``.

    Parameters
    ----------
    reference : numpy.ndarray
        ``(N, 3)`` equilibrium positions, Angstrom.
    spring : numpy.ndarray
        ``(N,)`` spring constants, eV/Angstrom^2.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, reference, spring, **kwargs):
        super().__init__(**kwargs)
        self.reference = np.array(reference, dtype=float)
        self.spring = np.broadcast_to(np.asarray(spring, dtype=float), len(self.reference)).copy()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = self.atoms.positions - self.reference
        self.results["energy"] = self.results["free_energy"] = float(0.5 * np.sum(self.spring[:, None] * u**2))
        self.results["forces"] = -self.spring[:, None] * u


class LinearSprings(Calculator):
    """Exactly harmonic crystal of linearised central springs between neighbours.

    ``E = K/2 sum_bonds (e_ij . (u_j - u_i))^2`` with displacements ``u`` from the
    reference structure and ``e_ij`` the reference bond directions within ``r_cut``.
    Atoms are matched to their nearest reference site (periodic images folded in), so
    any ordering of the same supercell works (phonopy orders its supercells its own way).
    Its force constants, and so its dynamical matrix, are known in closed form:
    ``D(q) = K/m sum_neighbours (1 - exp(i q . R)) e e^T`` for a monatomic lattice.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, reference_atoms, spring: float, r_cut: float, **kwargs):
        super().__init__(**kwargs)
        i, j, D = neighbor_list("ijD", reference_atoms, r_cut)
        # each bond once; distinct images of one pair are distinct bonds, and bonds of
        # an atom to its own image never stretch (u_j = u_i), so they are left out
        keep = i < j
        self.i, self.j = i[keep], j[keep]
        self.e = (D / np.linalg.norm(D, axis=1)[:, None])[keep]
        self.reference = reference_atoms.positions.copy()
        self.cell = reference_atoms.cell.array.copy()
        self.spring = float(spring)

    def displacements(self, positions):
        """``(N, 3)`` displacements from the matched reference sites and the matching."""
        diff = positions[:, None, :] - self.reference[None, :, :]  # [N, N_ref, 3]
        frac = diff @ np.linalg.inv(self.cell)
        diff = (frac - np.round(frac)) @ self.cell
        site = np.argmin(np.linalg.norm(diff, axis=2), axis=1)  # [N]
        if len(set(site.tolist())) != len(positions):
            raise ValueError("atoms do not map one-to-one onto the reference sites")
        u = np.zeros_like(self.reference)
        u[site] = diff[np.arange(len(positions)), site]
        return u, site

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u, site = self.displacements(self.atoms.positions)
        stretch = np.einsum("ed,ed->e", self.e, u[self.j] - u[self.i])  # [num_bonds]
        self.results["energy"] = self.results["free_energy"] = float(0.5 * self.spring * np.sum(stretch**2))
        f = self.spring * stretch[:, None] * self.e  # force on i, -force on j
        forces = np.zeros_like(u)
        np.add.at(forces, self.i, f)
        np.add.at(forces, self.j, -f)
        self.results["forces"] = forces[site]


@pytest.fixture
def harmonic_oscillators():
    return HarmonicOscillators


@pytest.fixture
def linear_springs():
    return LinearSprings
