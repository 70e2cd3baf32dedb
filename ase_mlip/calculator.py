"""ASE calculator for ase-mlip potentials.

The calculator builds a full neighbour list with vesin (periodic images folded
into the edge vectors, so cells smaller than the cutoff are exact), evaluates
the per-edge-force contract of :mod:`ase_mlip.potential` once, and assembles

- ``energies``: per-atom energies E_i (eV), ``energy`` = ``free_energy`` = sum_i E_i;
- ``forces``: F_i = sum_j f_ij - sum_j f_ji (eV/A);
- ``stress``: sigma = -W / V with W = -sum edge_vec (outer) f (eV/A^3, Voigt order
  xx yy zz yz xz xy, ASE's sign: positive = tensile), only for 3-D periodic cells.

For a committee (:class:`ase_mlip.Committee`) these are the member averages,
and two more properties measure how far the members disagree:

- ``energy_std``: the standard deviation of the members' total energies (eV);
- ``forces_std``: per atom, sqrt(mean_k |F_i^(k) - F_i|^2) (eV/A), the force
  deviation of DP-GEN's model deviation; its maximum over the atoms is the usual
  criterion for adding a structure to the training data. Asking for it costs one
  backward pass per member instead of one in all.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .neighbors import edge_vectors, neighbor_graph, species_indices
from ._committee import Committee
from .potential import Potential, _dtype, energy_and_edge_forces, forces_and_virial, load_potential

__all__ = ["MLIPCalculator"]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but no CUDA device is available; use 'cpu' or 'auto'")
    return torch.device(name)


class MLIPCalculator(Calculator):
    """ASE calculator driving an ase-mlip potential.

    Parameters
    ----------
    potential : Potential, Committee or path
        A potential or committee, or the path of a potential file.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
    dtype : str
        ``"float64"`` (default) or ``"float32"``: the precision of the model evaluation.
    min_distance : float
        Smallest interatomic distance accepted, Angstrom; closer pairs raise
        ``ValueError`` (the model is not defined for atoms on top of each other).

    Examples
    --------
    >>> from ase.build import bulk
    >>> from ase_mlip import MLIPCalculator, build_potential
    >>> atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    >>> atoms.calc = MLIPCalculator(build_potential({"species": ["Li"], "r_cut": 4.0}))
    >>> e = atoms.get_potential_energy()
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    default_parameters = {"device": "cpu", "dtype": "float64", "min_distance": 0.1}

    def __init__(self, potential: Potential | Committee | str | os.PathLike, **kwargs):
        super().__init__(**kwargs)
        if isinstance(potential, (str, os.PathLike)):
            potential = load_potential(potential)
        if not isinstance(potential, (Potential, Committee)):
            raise TypeError(f"potential must be a Potential, a Committee or a file path, "
                            f"got {type(potential).__name__}")
        if isinstance(potential, Committee):
            self.implemented_properties = [*type(self).implemented_properties, "energy_std", "forces_std"]
        self.device = _device(self.parameters["device"])
        self.torch_dtype = _dtype(self.parameters["dtype"])
        self.potential = potential.to(device=self.device, dtype=self.torch_dtype).eval()
        for p in self.potential.parameters():
            p.requires_grad_(False)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                "stress needs a cell periodic in all three directions (atoms.pbc = True)"
            )
        positions = atoms.get_positions()
        cell = atoms.cell.array
        species = species_indices(atoms.get_chemical_symbols(), self.potential.species)
        edge_index, shifts = neighbor_graph(positions, cell, atoms.pbc, self.potential.r_cut)
        vec = edge_vectors(positions, cell, edge_index, shifts)
        if len(vec):
            dist = np.linalg.norm(vec, axis=1)
            k = int(np.argmin(dist))
            if dist[k] < self.parameters["min_distance"]:
                i, j = edge_index[:, k]
                raise ValueError(
                    f"atoms {i} and {j} are {dist[k]:.3g} A apart (minimum accepted: "
                    f"{self.parameters['min_distance']} A); atoms on top of each other have no defined "
                    "energy: remove the duplicate or fix the positions"
                )

        dev, dt = self.device, self.torch_dtype
        t_species = torch.as_tensor(species, device=dev)
        t_index = torch.as_tensor(edge_index, device=dev)
        t_vec = torch.as_tensor(vec, dtype=dt, device=dev)
        n = len(atoms)
        if isinstance(self.potential, Committee) and ("energy_std" in properties or "forces_std" in properties):
            atomic, edge_forces = self._committee(t_species, t_index, t_vec, n, "forces_std" in properties)
        else:
            atomic, edge_forces = energy_and_edge_forces(self.potential, t_species, t_index, t_vec, n)
        forces, virial = forces_and_virial(edge_forces, t_index, t_vec, n)

        energies = atomic.detach().cpu().numpy().astype(np.float64)
        if not np.isfinite(energies).all():
            raise ValueError("the potential returned non-finite energies; check the structure and the potential file")
        self.results["energies"] = energies
        self.results["energy"] = float(energies.sum())
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"] = forces.detach().cpu().numpy().astype(np.float64)
        if atoms.pbc.all():
            stress = -virial.detach().cpu().numpy().astype(np.float64) / atoms.get_volume()
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)

    def _committee(self, t_species, t_index, t_vec, n, member_forces):
        """Mean per-atom energies and edge forces of a committee, with its spread in the results."""
        t_vec = t_vec.detach().requires_grad_(True)
        with torch.enable_grad():
            energies = self.potential.member_energies(t_species, t_index, t_vec, n)  # [K, n]
            totals = energies.sum(1)
            if member_forces:
                edge_forces = [torch.autograd.grad(total, t_vec, retain_graph=True, allow_unused=True)[0]
                               for total in totals]
                edge_forces = torch.stack([torch.zeros_like(t_vec) if f is None else f for f in edge_forces])
            else:
                (mean_edge,) = torch.autograd.grad(totals.mean(), t_vec, allow_unused=True)
                edge_forces = (torch.zeros_like(t_vec) if mean_edge is None else mean_edge).unsqueeze(0)
        totals = totals.detach().cpu().numpy().astype(np.float64)
        self.results["energy_std"] = float(totals.std())
        if member_forces:
            per_member = torch.stack([forces_and_virial(f, t_index, t_vec.detach(), n)[0] for f in edge_forces])
            spread = (per_member - per_member.mean(0)).pow(2).sum(-1).mean(0).sqrt()  # [n]
            self.results["forces_std"] = spread.detach().cpu().numpy().astype(np.float64)
        return energies.mean(0).detach(), edge_forces.mean(0).detach()
