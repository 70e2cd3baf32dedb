"""The Python side of ``pair_style mlip``: what the C++ plugin calls.

The plugin (``pair_mlip.cpp``) owns all LAMMPS data. Each step it builds the
graph of one MPI rank from LAMMPS's full neighbour list,

- nodes: the rank's local atoms (indices ``0 .. n_local-1``, LAMMPS order),
  then the ghost atoms that are neighbours of some local atom;
- edges ``(i, j)``: every local atom i and every neighbour j closer than the
  cutoff, with ``edge_vec = x_j - x_i`` taken from LAMMPS's coordinates
  (ghost atoms are periodic images, so no cell shifts are needed),

and passes raw buffer addresses to :meth:`PairBridge.compute`. This module
evaluates the potential and writes the per-atom energies of the local atoms
and the per-edge forces ``f_ij = dE/d edge_vec_ij`` back into the plugin's
buffers. The plugin then does ``F_i += f_ij``, ``F_j -= f_ij``, the virial
and the reverse communication of ghost forces.

Buffers are shared through their addresses (Python ints) rather than the
NumPy C API, so the compiled plugin depends on neither NumPy's nor torch's
binary interface.
"""

from __future__ import annotations

import collections
import ctypes
import itertools
import os
import time
import weakref

import numpy as np
import torch

from ase_mlip.potential import _dtype, energy_and_edge_forces, load_potential

from ._device import select_device, threads_per_rank

__all__ = ["PairBridge", "bridge_timings"]

_INSTANCES: weakref.WeakSet = weakref.WeakSet()
_CREATED = itertools.count()


def bridge_timings() -> list[dict]:
    """Per live bridge in this process, oldest first: calls and seconds spent (for benchmarks).

    ``model_seconds`` is the potential's forward and backward pass;
    ``compute_seconds`` adds wrapping the buffers and copying results back;
    ``last_calls`` holds (model, compute) seconds of the most recent 1000 calls.
    """
    return [
        {"path": b.path, "calls": b.calls, "model_seconds": b.model_seconds,
         "compute_seconds": b.compute_seconds, "last_calls": list(b.last_calls)}
        for b in sorted(_INSTANCES, key=lambda b: b.created)
    ]  # fmt: skip


def _view(address: int, shape: tuple[int, ...], ctype) -> np.ndarray:
    """NumPy array over ``prod(shape)`` C values at ``address`` (no copy)."""
    count = int(np.prod(shape))
    if count == 0:
        return np.empty(shape, dtype=ctype)
    pointer = ctypes.cast(address, ctypes.POINTER(ctype))
    return np.ctypeslib.as_array(pointer, shape=shape)


class PairBridge:
    """One potential evaluated for one MPI rank of LAMMPS.

    Parameters
    ----------
    path : str
        Potential file (``Potential.save`` format).
    dtype : str
        ``"float32"``, ``"float64"``, or ``""`` for the precision stored in the file.
    device : str
        ``"auto"`` (a GPU when torch sees one, else CPU), ``"cpu"``, ``"cuda"``
        or ``"cuda:N"``; see :func:`lammps_driver.select_device` for the rank rule.
    node_rank, node_size : int
        Rank of this process among the LAMMPS processes on its node, and
        their number (all partitions counted).
    """

    def __init__(self, path: str, dtype: str, device: str, node_rank: int, node_size: int):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"potential file {path!r} does not exist (relative paths are taken from "
                f"{os.getcwd()}); give the path of a file written by Potential.save()"
            )
        potential = load_potential(path)
        self.path = path
        self.device = select_device(device, node_rank)
        self.dtype = _dtype(dtype) if dtype else potential.dtype
        if self.device.type == "cpu" and node_size > 1 and "OMP_NUM_THREADS" not in os.environ:
            # ranks sharing a node share its cores; a single process keeps torch's setting
            torch.set_num_threads(threads_per_rank(node_size))
        self.potential = potential.to(device=self.device, dtype=self.dtype).eval()
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        self.species = list(potential.species)
        self.r_cut = float(potential.r_cut)
        self.calls, self.model_seconds, self.compute_seconds = 0, 0.0, 0.0
        self.last_calls: collections.deque = collections.deque(maxlen=1000)
        self.created = next(_CREATED)
        _INSTANCES.add(self)

    def describe(self) -> str:
        """One line for the LAMMPS log."""
        return (
            f"{self.path}: species {self.species}, r_cut {self.r_cut} A, "
            f"{str(self.dtype).replace('torch.', '')} on {self.device}"
        )

    def species_index(self, symbol: str) -> int:
        """Index of element ``symbol`` in the potential's species list."""
        if symbol not in self.species:
            raise ValueError(
                f"element {symbol!r} is not in this potential's species {self.species}; "
                f"write one of {self.species} for each atom type in `pair_coeff * * ...`"
            )
        return self.species.index(symbol)

    def compute(
        self,
        num_nodes: int,
        n_local: int,
        num_edges: int,
        species_address: int,
        edge_index_address: int,
        edge_vec_address: int,
        atomic_energy_address: int,
        edge_forces_address: int,
    ) -> None:
        """Evaluate the potential on one rank's graph and fill the output buffers.

        Parameters
        ----------
        num_nodes, n_local, num_edges : int
            Graph nodes (local then ghost atoms), local atoms, edges.
        species_address : int
            int64 buffer, shape (num_nodes,): species index per node.
        edge_index_address : int
            int64 buffer, shape (2, num_edges): centers, then neighbors.
        edge_vec_address : int
            float64 buffer, shape (num_edges, 3): r_j - r_i, Angstrom.
        atomic_energy_address : int
            float64 output buffer, shape (n_local,): E_i, eV.
        edge_forces_address : int
            float64 output buffer, shape (num_edges, 3): dE/d edge_vec, eV/Angstrom.
        """
        start = time.perf_counter()
        species = _view(species_address, (num_nodes,), ctypes.c_int64)
        edge_index = _view(edge_index_address, (2, num_edges), ctypes.c_int64)
        edge_vec = _view(edge_vec_address, (num_edges, 3), ctypes.c_double)
        atomic_energy_out = _view(atomic_energy_address, (n_local,), ctypes.c_double)
        edge_forces_out = _view(edge_forces_address, (num_edges, 3), ctypes.c_double)

        device, dtype = self.device, self.dtype
        species_t = torch.from_numpy(species).to(device)
        edge_index_t = torch.from_numpy(edge_index).to(device)
        edge_vec_t = torch.from_numpy(edge_vec).to(device=device, dtype=dtype)
        model_start = time.perf_counter()  # the model call, as in the ASE calculator
        atomic_energy, edge_forces = energy_and_edge_forces(
            self.potential, species_t, edge_index_t, edge_vec_t, n_local
        )
        atomic_energy = atomic_energy.detach().to("cpu", torch.float64)  # waits for the GPU
        edge_forces = edge_forces.detach().to("cpu", torch.float64)
        model_seconds = time.perf_counter() - model_start
        self.model_seconds += model_seconds
        atomic_energy_out[:] = atomic_energy.numpy()
        if num_edges:
            edge_forces_out[:] = edge_forces.numpy()
        compute_seconds = time.perf_counter() - start
        self.calls += 1
        self.compute_seconds += compute_seconds
        self.last_calls.append((model_seconds, compute_seconds))
