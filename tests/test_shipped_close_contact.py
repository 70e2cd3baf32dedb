"""Shipped potentials stay repulsive at close range, below their training data.

One atom of the ideal crystal is pushed towards its nearest neighbour, from the
shortest distance of the training data down to 0.8 A. Moving closer must never
lower the energy by more than 0.05 eV (about 2 kT at 300 K): a deeper well is a
trap for hot MD that DFT does not have. At 0.8 A the energy must lie at least
5 eV above its value at the data's shortest distance. The fitted networks alone
fail this (wells of 0.26 eV for Li, 1.3 eV for Si, 2.7 eV for Mo); the ZBL term
added after training (``zbl_after_training`` in each config, in every member of a
committee) is what passes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from ase_mlip import MLIPCalculator, load_potential
from ase_mlip.data import load_dataset

REPO = Path(__file__).resolve().parents[1]
CRYSTALS = {"Li": ("bcc", 3.44), "Mo": ("bcc", 3.16), "Si": ("diamond", 5.43)}


def _crystal(element):
    kind, a = CRYSTALS[element]
    return bulk(element, kind, a=a, cubic=True) * (2, 2, 2)


def _nearest(atoms):
    """Unit vector from atom 0 to its nearest neighbour, and their distance."""
    i, _, d, vec = neighbor_list("ijdD", atoms, 3.0)
    k = np.argmin(np.where(i == 0, d, np.inf))
    return vec[k] / d[k], d[k]


@pytest.mark.parametrize("element", sorted(CRYSTALS))
def test_close_contact_is_repulsive(element):
    frames = load_dataset(REPO / "data" / "mlearn" / element / "training.json")
    r_data = min(neighbor_list("d", atoms, 3.0).min() for atoms in frames)
    atoms = _crystal(element)
    direction, r0 = _nearest(atoms)
    pot = load_potential(REPO / "potentials" / element / f"{element}.mlip")
    for member in getattr(pot, "members", [pot]):  # every member of a committee
        assert member.zbl is not None and member.zbl_r_cut < 0.9 * r0  # a close-range term only
    atoms.calc = MLIPCalculator(pot)
    distances = np.arange(r_data, 0.79, -0.02)
    energies = []
    for r in distances:
        moved = atoms.copy()
        moved.calc = atoms.calc
        moved.positions[0] += direction * (r0 - r)
        energies.append(moved.get_potential_energy())
    energies = np.array(energies)
    # how far the energy has fallen from the highest point met on the way in
    drop = np.maximum.accumulate(energies) - energies
    worst = int(np.argmax(drop))
    assert drop[worst] < 0.05, (
        f"{element}: moving in from {distances[np.argmax(energies[:worst + 1])]:.2f} A lowers the "
        f"energy by {drop[worst]:.3f} eV (well at {distances[worst]:.2f} A)")
    assert energies[-1] - energies[0] > 5.0
