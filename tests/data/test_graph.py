"""Graphs and batches: a batch of structures predicts what each does alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from ase_mlip.data import atoms_to_graph, batch_graphs, voigt_to_matrix
from ase_mlip.training import predict
from tests.conftest import small_potential


def _labelled(atoms, energy=0.0):
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)),
                                       stress=np.zeros(6))
    return atoms


def _structures():
    rng = np.random.default_rng(1)
    a = bulk("Li", "bcc", a=3.45, cubic=True).repeat((2, 2, 2))
    a.positions += rng.normal(0, 0.1, a.positions.shape)
    b = bulk("Li", "bcc", a=3.3).repeat((2, 1, 1))
    b.positions += rng.normal(0, 0.1, b.positions.shape)
    return [_labelled(a, -30.0), _labelled(b, -7.0)]


def test_voigt_to_matrix_is_symmetric_in_ase_order():
    m = voigt_to_matrix(np.array([1.0, 2, 3, 4, 5, 6]))
    np.testing.assert_array_equal(m, [[1, 6, 5], [6, 2, 4], [5, 4, 3]])


def test_graph_edges_match_positions():
    atoms = _structures()[1]
    g = atoms_to_graph(atoms, ["Li"], 4.0)
    r = np.linalg.norm(g.edge_vec, axis=1)
    assert r.max() < 4.0 and r.min() > 0.5
    assert g.energy == -7.0 and g.stress.shape == (3, 3)
    assert g.volume == pytest.approx(atoms.get_volume())


def test_batch_equals_single_structures():
    pot = small_potential()
    graphs = [atoms_to_graph(a, pot.species, pot.r_cut) for a in _structures()]
    batch = batch_graphs(graphs)
    assert batch.edge_index.max() == batch.species.shape[0] - 1
    assert batch.edge_index[:, graphs[0].edge_index.shape[1]:].min() == graphs[0].num_atoms
    joint = predict(pot, batch)
    start = 0
    for k, g in enumerate(graphs):
        alone = predict(pot, batch_graphs([g]))
        torch.testing.assert_close(joint.energy[k], alone.energy[0], atol=1e-10, rtol=0)
        torch.testing.assert_close(joint.forces[start:start + g.num_atoms], alone.forces,
                                   atol=1e-10, rtol=0)
        torch.testing.assert_close(joint.stress[k], alone.stress[0], atol=1e-10, rtol=0)
        start += g.num_atoms
    assert torch.all(torch.abs(joint.forces.sum(0)) < 1e-10)


def test_predicted_forces_and_stress_match_finite_differences():
    """F = -dE/dr and sigma = (1/V) dE/d(eps) of the batch prediction, float64."""
    pot = small_potential()
    atoms = _structures()[1]

    def energy(a):
        return float(predict(pot, batch_graphs([atoms_to_graph(_labelled(a), pot.species, pot.r_cut)])).energy[0])

    pred = predict(pot, batch_graphs([atoms_to_graph(atoms, pot.species, pot.r_cut)]))
    h = 1e-5
    for i, c in [(0, 0), (1, 2), (0, 1)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        fd = -(energy(plus) - energy(minus)) / (2 * h)
        assert pred.forces[i, c].item() == pytest.approx(fd, abs=1e-7)
    volume = atoms.get_volume()
    for a, b in [(0, 0), (2, 2), (0, 1), (1, 2)]:
        values = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
            values.append(energy(strained))
        fd = (values[0] - values[1]) / (2 * h) / volume
        assert pred.stress[0, a, b].item() == pytest.approx(fd, abs=1e-8)
        assert abs(fd) > 1e-5  # the check is not vacuous
