"""Graphs of labelled structures and their batching into one disjoint graph.

A structure becomes an :class:`AtomicGraph`: species indices, the periodic
neighbour list within ``r_cut`` from :func:`ase_mlip.neighbors.neighbor_graph`
and the edge vectors ``edge_vec = r_j - r_i + shift @ cell`` with periodic
images folded in, plus the reference labels. Because images are folded into
``edge_vec``, every neighbour index ``j`` is a real atom of the structure, so
a batch of structures is simply their disjoint union: atom indices of the
k-th structure are offset by the number of atoms before it, and each atom
and edge remembers which structure it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from ._read import config_type, get_labels

__all__ = ["AtomicGraph", "GraphBatch", "atoms_to_graph", "build_graphs", "batch_graphs",
           "voigt_to_matrix"]


def voigt_to_matrix(voigt: np.ndarray) -> np.ndarray:
    """Convert Voigt ``(..., 6)`` [xx yy zz yz xz xy] to symmetric ``(..., 3, 3)``."""
    voigt = np.asarray(voigt)
    xx, yy, zz, yz, xz, xy = np.moveaxis(voigt, -1, 0)
    return np.stack([np.stack([xx, xy, xz], -1),
                     np.stack([xy, yy, yz], -1),
                     np.stack([xz, yz, zz], -1)], -2)


@dataclass
class AtomicGraph:
    """One labelled structure as a graph (NumPy arrays, ASE units).

    Attributes
    ----------
    species : numpy.ndarray
        (num_atoms,) int64, index into the potential's species list.
    edge_index : numpy.ndarray
        (2, num_edges) int64, (center i, neighbor j).
    edge_vec : numpy.ndarray
        (num_edges, 3) float64, r_j - r_i with the periodic image, Angstrom.
    energy : float
        Reference total energy, eV.
    forces : numpy.ndarray
        (num_atoms, 3) reference forces, eV/Angstrom.
    stress : numpy.ndarray or None
        (3, 3) reference stress, eV/Angstrom^3, ASE sign; None when absent.
    volume : float
        Cell volume, Angstrom^3 (0 for a non-periodic structure).
    group : str
        Config type used to report errors per group.
    """

    species: np.ndarray
    edge_index: np.ndarray
    edge_vec: np.ndarray
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    volume: float
    group: str

    @property
    def num_atoms(self) -> int:
        return int(self.species.shape[0])


def atoms_to_graph(atoms: Atoms, species: Sequence[str], r_cut: float) -> AtomicGraph:
    """Build the graph of one labelled structure.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure with energy and forces attached (see
        :func:`ase_mlip.data.get_labels`).
    species : sequence of str
        The potential's species order.
    r_cut : float
        Cutoff radius, Angstrom.

    Returns
    -------
    AtomicGraph
    """
    from ase_mlip.neighbors import neighbor_graph, species_indices

    positions = atoms.get_positions()  # (N, 3) A
    cell = np.asarray(atoms.get_cell())  # (3, 3) A
    edge_index, cell_shifts = neighbor_graph(positions, cell, atoms.pbc, r_cut)
    edge_vec = positions[edge_index[1]] - positions[edge_index[0]] + cell_shifts @ cell
    energy, forces, stress = get_labels(atoms)
    periodic = bool(atoms.pbc.all())
    return AtomicGraph(
        species=np.asarray(species_indices(atoms.get_chemical_symbols(), species), dtype=np.int64),
        edge_index=np.asarray(edge_index, dtype=np.int64),
        edge_vec=np.asarray(edge_vec, dtype=np.float64),
        energy=float("nan") if energy is None else energy,
        forces=np.full((len(atoms), 3), np.nan) if forces is None else forces,
        stress=voigt_to_matrix(stress) if (stress is not None and periodic) else None,
        volume=float(atoms.get_volume()) if periodic else 0.0,
        group=config_type(atoms),
    )


def build_graphs(frames: Sequence[Atoms], species: Sequence[str], r_cut: float) -> list[AtomicGraph]:
    """Build :class:`AtomicGraph` for every structure (see :func:`atoms_to_graph`)."""
    return [atoms_to_graph(atoms, species, r_cut) for atoms in frames]


@dataclass
class GraphBatch:
    """Several structures as one disjoint graph (torch tensors).

    Attributes
    ----------
    species : torch.Tensor
        (num_atoms,) int64.
    edge_index : torch.Tensor
        (2, num_edges) int64, offset so that indices address the batch's atoms.
    edge_vec : torch.Tensor
        (num_edges, 3), Angstrom.
    batch : torch.Tensor
        (num_atoms,) int64, structure of each atom.
    edge_batch : torch.Tensor
        (num_edges,) int64, structure of each edge (that of its center).
    num_atoms : torch.Tensor
        (num_structures,) int64.
    energy : torch.Tensor
        (num_structures,) reference total energies, eV.
    forces : torch.Tensor
        (num_atoms, 3) reference forces, eV/Angstrom.
    stress : torch.Tensor
        (num_structures, 3, 3) reference stress, eV/Angstrom^3 (zeros where absent).
    has_stress : torch.Tensor
        (num_structures,) bool, whether ``stress`` holds a label.
    volume : torch.Tensor
        (num_structures,) Angstrom^3 (0 for non-periodic structures).
    groups : list of str
        Group of each structure.
    """

    species: torch.Tensor
    edge_index: torch.Tensor
    edge_vec: torch.Tensor
    batch: torch.Tensor
    edge_batch: torch.Tensor
    num_atoms: torch.Tensor
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    has_stress: torch.Tensor
    volume: torch.Tensor
    groups: list

    @property
    def num_structures(self) -> int:
        return int(self.num_atoms.shape[0])


def batch_graphs(graphs: Sequence[AtomicGraph], dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "cpu") -> GraphBatch:
    """Join graphs into one disjoint :class:`GraphBatch`.

    Parameters
    ----------
    graphs : sequence of AtomicGraph
        The structures to join, in order.
    dtype : torch.dtype
        Floating dtype of the returned tensors.
    device : str or torch.device
        Device of the returned tensors.

    Returns
    -------
    GraphBatch
    """
    if len(graphs) == 0:
        raise ValueError("batch_graphs needs at least one graph")
    sizes = np.array([g.num_atoms for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    edge_index = np.concatenate([g.edge_index + off for g, off in zip(graphs, offsets)], axis=1)
    batch = np.repeat(np.arange(len(graphs)), sizes)
    stress = np.stack([g.stress if g.stress is not None else np.zeros((3, 3)) for g in graphs])

    def floats(x):
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)

    def ints(x):
        return torch.as_tensor(np.asarray(x), dtype=torch.int64, device=device)

    return GraphBatch(
        species=ints(np.concatenate([g.species for g in graphs])),
        edge_index=ints(edge_index.reshape(2, -1)),
        edge_vec=floats(np.concatenate([g.edge_vec for g in graphs]).reshape(-1, 3)),
        batch=ints(batch),
        edge_batch=ints(batch[edge_index[0]] if edge_index.size else np.zeros(0, np.int64)),
        num_atoms=ints(sizes),
        energy=floats([g.energy for g in graphs]),
        forces=floats(np.concatenate([g.forces for g in graphs])),
        stress=floats(stress),
        has_stress=torch.as_tensor([g.stress is not None for g in graphs], device=device),
        volume=floats([g.volume for g in graphs]),
        groups=[g.group for g in graphs],
    )
