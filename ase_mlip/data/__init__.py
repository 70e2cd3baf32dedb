"""Labelled structures: readers, checks, statistics, graphs and batches.

Readers return ``ase.Atoms`` with the reference energy (eV), forces
(eV/Angstrom) and stress (eV/Angstrom^3, ASE sign and Voigt order) attached.
"""

from ._graph import AtomicGraph, GraphBatch, atoms_to_graph, batch_graphs, build_graphs, voigt_to_matrix
from ._mlearn import KBAR_TO_EV_PER_A3, mlearn_record_to_atoms, read_mlearn
from ._read import (DataError, check_structures, config_type, get_labels, load_dataset, read_structures,
                    source_name)
from ._stats import dataset_statistics, format_statistics

__all__ = [
    "AtomicGraph",
    "GraphBatch",
    "atoms_to_graph",
    "batch_graphs",
    "build_graphs",
    "voigt_to_matrix",
    "KBAR_TO_EV_PER_A3",
    "mlearn_record_to_atoms",
    "read_mlearn",
    "DataError",
    "check_structures",
    "config_type",
    "get_labels",
    "load_dataset",
    "read_structures",
    "source_name",
    "dataset_statistics",
    "format_statistics",
]
