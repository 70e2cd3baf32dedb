"""Neighbour graphs of periodic, non-periodic and mixed systems (vesin).

An edge (i, j, S) means atom j, shifted by the integer cell vector S, lies
within ``r_cut`` of atom i; its edge vector is

    edge_vec = positions[j] - positions[i] + S @ cell.

Lists are full (both (i, j) and (j, i)), sorted by center, include every
periodic image (also when the cell is smaller than the cutoff) and never the
self-pair at S = 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import vesin
from ase.data import atomic_numbers

__all__ = ["neighbor_graph", "species_indices", "check_structure", "edge_vectors"]


def check_structure(positions: np.ndarray, cell: np.ndarray, pbc: Sequence[bool]) -> None:
    """Raise ``ValueError`` for input no potential can evaluate.

    Parameters
    ----------
    positions : numpy.ndarray
        Shape (num_atoms, 3), Angstrom.
    cell : numpy.ndarray
        Shape (3, 3), cell vectors as rows, Angstrom.
    pbc : sequence of bool
        Periodicity along each cell vector.
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (num_atoms, 3), got {positions.shape}")
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        raise ValueError(
            f"positions of atoms {bad[:10].tolist()} are not finite (NaN or inf); "
            "fix the structure (a diverged MD run or optimiser produces this)"
        )
    cell = np.asarray(cell, dtype=float)
    if not np.isfinite(cell).all():
        raise ValueError("the cell contains NaN or inf; set a finite cell")
    periodic = np.asarray(pbc, dtype=bool)
    if periodic.any():
        vectors = cell[periodic]
        gram = vectors @ vectors.T
        if np.linalg.det(gram) <= 1e-12 * max(1.0, np.abs(gram).max()) ** len(vectors):
            raise ValueError(
                f"the cell vectors along periodic directions {np.flatnonzero(periodic).tolist()} are "
                f"zero or linearly dependent (cell = {cell.tolist()}); set a proper cell with "
                "atoms.set_cell(...) or turn periodicity off with atoms.pbc = False"
            )


def neighbor_graph(
    positions: np.ndarray,
    cell: np.ndarray,
    pbc: Sequence[bool] | bool,
    r_cut: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Full neighbour list within ``r_cut``.

    Parameters
    ----------
    positions : numpy.ndarray
        Shape (num_atoms, 3), Angstrom.
    cell : numpy.ndarray
        Shape (3, 3), Angstrom; rows are cell vectors (ignored along non-periodic axes).
    pbc : bool or sequence of 3 bool
        Periodic boundary conditions.
    r_cut : float
        Cutoff radius, Angstrom.

    Returns
    -------
    edge_index : numpy.ndarray
        Shape (2, num_edges), int64, (center i, neighbor j).
    cell_shifts : numpy.ndarray
        Shape (num_edges, 3), int64, integer cell shifts S of neighbor j.
    """
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.ascontiguousarray(cell, dtype=np.float64)
    check_structure(positions, cell, pbc)
    if len(positions) == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros((0, 3), dtype=np.int64)
    # Sorted by center: neighbour sums and gathers then walk memory in order.
    nl = vesin.NeighborList(cutoff=float(r_cut), full_list=True, sorted=True)
    i, j, shifts = nl.compute(positions, cell, pbc.tolist(), quantities="ijS")
    edge_index = np.stack([i, j]).astype(np.int64)
    return edge_index, np.asarray(shifts, dtype=np.int64)


def edge_vectors(
    positions: np.ndarray, cell: np.ndarray, edge_index: np.ndarray, cell_shifts: np.ndarray
) -> np.ndarray:
    """Edge vectors ``r_j - r_i + S @ cell``, shape (num_edges, 3), Angstrom."""
    i, j = edge_index
    return positions[j] - positions[i] + cell_shifts @ np.asarray(cell, dtype=np.float64)


def species_indices(symbols: Sequence[str], species: Sequence[str]) -> np.ndarray:
    """Map chemical symbols to indices into a potential's species list.

    Parameters
    ----------
    symbols : sequence of str
        Chemical symbol of each atom.
    species : sequence of str
        The potential's species, in its order.

    Returns
    -------
    numpy.ndarray
        Shape (num_atoms,), int64.
    """
    lookup = {s: k for k, s in enumerate(species)}
    try:
        return np.fromiter((lookup[s] for s in symbols), dtype=np.int64, count=len(symbols))
    except KeyError:
        unknown = sorted({s for s in symbols if s not in lookup})
        not_elements = [s for s in unknown if s not in atomic_numbers]
        hint = f" ({not_elements} are not chemical symbols)" if not_elements else ""
        raise ValueError(
            f"the structure contains {unknown}{hint}, but this potential knows only {list(species)}; "
            "use a potential trained on these elements or remove those atoms"
        ) from None
