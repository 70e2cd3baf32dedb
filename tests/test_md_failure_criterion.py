"""The hot-MD failure criterion of the robustness benchmarks (benchmarks/sam_study.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "sam_study.py"
_spec = importlib.util.spec_from_file_location("sam_study", _path)
sam_study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sam_study)
CloseContacts = sam_study.CloseContacts


def run(criterion, steps):
    """Feed per-step pair distances; return the first step (1-based) that fails, or None."""
    for n, distances in enumerate(steps, start=1):
        if criterion.update(np.array(distances)):
            return n
    return None


# Three pairs. Pair 0 collides and rebounds (3 steps close), pair 1 stays far,
# pair 2 comes close twice for 2 steps, then falls in for good at step 9.
STEPS = [[2.0, 3.0, 2.0], [1.4, 3.0, 2.0], [1.3, 3.0, 1.4], [1.45, 3.0, 1.45], [1.6, 3.0, 2.0],
         [2.0, 3.0, 1.4], [2.0, 3.0, 1.3], [2.0, 3.0, 1.9], [2.0, 3.0, 1.2], [2.0, 3.0, 1.1],
         [2.0, 3.0, 1.1], [2.0, 3.0, 1.0], [2.0, 3.0, 1.0]]


def test_first_approach_fails_at_once():
    assert run(CloseContacts(1.5), STEPS) == 2


def test_a_rebounding_collision_does_not_fail_a_trapped_pair_does():
    criterion = CloseContacts(1.5, trap_steps=4)
    assert run(criterion, STEPS) == 12  # pair 2, close from step 9 on
    assert criterion.held == 4
    assert criterion.approaches == 4  # pair 0 once, pair 2 three times
    assert criterion.closest == pytest.approx(1.0)


def test_close_steps_of_different_pairs_do_not_add_up():
    """Two pairs taking turns below the threshold are two collisions, not one trap."""
    turns = [[1.4, 2.0], [2.0, 1.4], [1.4, 2.0], [2.0, 1.4], [1.4, 2.0]]
    assert run(CloseContacts(1.5, trap_steps=2), turns) is None


def test_trap_steps_must_be_positive():
    with pytest.raises(ValueError, match="trap_steps"):
        CloseContacts(1.5, trap_steps=0)
