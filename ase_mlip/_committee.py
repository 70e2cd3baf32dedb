"""Committees: several potentials of the same species, their energies averaged.

A committee of K independently trained members predicts

    E_i = (1/K) sum_k E_i^(k),

so forces, stresses and per-edge forces are the member averages too, and it
keeps the per-edge-force contract of :mod:`ase_mlip.potential`: the ASE
calculator, ``mlip evaluate`` and the LAMMPS pair style run a committee file
as they run any potential file, at K times the cost. Averaging removes the
part of the members' errors that differs between them (on mlearn Mo, two
members of different seeds agree to a correlation of 0.9 in their energy
errors, less in their forces); the spread between members is an estimate of
the error where no label is known, the committee disagreement that active
learning (DP-GEN's model deviation, query by committee) selects new
structures by. :meth:`Committee.member_energies` gives the members' energies,
and :class:`ase_mlip.MLIPCalculator` reports ``energy_std`` and
``forces_std`` for a committee.

Members may differ in hyperparameters and cutoff (the committee's cutoff is
the largest; each member sees only the edges within its own), not in species
or precision.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .potential import COMMITTEE_FORMAT_VERSION, Potential, _potential_from, _refuse, _write_archive

__all__ = ["Committee", "make_committee", "committee_from_archive"]


class Committee(nn.Module):
    """Potentials of the same species whose energies are averaged.

    Parameters
    ----------
    members : sequence of Potential
        Two or more potentials with the same species list (same order) and dtype.
    metadata : dict, optional
        JSON-serialisable record of how the committee was made; each member
        keeps its own training record.

    Examples
    --------
    >>> from ase_mlip import Committee, build_potential
    >>> members = [build_potential({"species": ["Li"], "r_cut": 4.0, "seed": s}) for s in (0, 1)]
    >>> Committee(members).r_cut
    4.0
    """

    architecture = "committee"

    def __init__(self, members, metadata: dict | None = None):
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"a committee needs at least two members, got {len(members)}")
        for k, member in enumerate(members):
            if not isinstance(member, Potential):
                raise TypeError(f"member {k} is a {type(member).__name__}, not a Potential "
                                "(committees of committees are not supported: list their members)")
            if list(member.species) != list(members[0].species):
                raise ValueError(f"member {k} has species {member.species}, member 0 has "
                                 f"{members[0].species}: members must list the same species in the same order")
            if member.dtype != members[0].dtype:
                raise ValueError(f"member {k} is {member.dtype}, member 0 is {members[0].dtype}; "
                                 "convert them to one dtype first (potential.to(torch.float64))")
        self.members = nn.ModuleList(members)
        self.species = list(members[0].species)
        self.metadata: dict[str, Any] = dict(metadata or {})

    @property
    def r_cut(self) -> float:
        """Cutoff radius, Angstrom: the largest of the members'."""
        return max(member.r_cut for member in self.members)

    @property
    def dtype(self) -> torch.dtype:
        return self.members[0].dtype

    @property
    def energy_shift(self) -> torch.Tensor:
        """The first member's per-species shift (its dtype and device are the committee's)."""
        return self.members[0].energy_shift

    @property
    def config(self) -> dict:
        """Architecture, species and every member's configuration."""
        return {"model": self.architecture, "species": list(self.species),
                "members": [member.config for member in self.members]}

    def member_energies(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """Per-atom energies of every member, shape (K, n_local), eV.

        Arguments as in :meth:`ase_mlip.Potential.forward`. A member with a
        cutoff below the committee's gets only the edges within its own.
        """
        outputs = []
        r = None
        for member in self.members:
            if member.r_cut < self.r_cut:
                if r is None:
                    r = torch.linalg.norm(edge_vec.detach(), dim=-1)
                keep = torch.nonzero(r < member.r_cut).squeeze(-1)
                outputs.append(member(species, edge_index.index_select(1, keep),
                                      edge_vec.index_select(0, keep), n_local))
            else:
                outputs.append(member(species, edge_index, edge_vec, n_local))
        return torch.stack(outputs, 0)

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """Per-atom energies, the member average, shape (n_local,), eV."""
        return self.member_energies(species, edge_index, edge_vec, n_local).mean(0)

    def save(self, path: str | os.PathLike) -> None:
        """Write the committee to one potential file (atomically)."""
        from . import __version__

        meta = {
            "format_version": COMMITTEE_FORMAT_VERSION,
            "architecture": self.architecture,
            "species": list(self.species),
            "r_cut": self.r_cut,
            "units": {"energy": "eV", "length": "Angstrom"},
            "dtype": str(self.dtype).replace("torch.", ""),
            "code_version": __version__,
            "metadata": self.metadata,
            "members": [member._meta() for member in self.members],
        }
        state = {f"members.{k}.{name}": value for k, member in enumerate(self.members)
                 for name, value in member.state_dict().items()}
        _write_archive(path, meta, state)

    def extra_repr(self) -> str:
        return f"members={len(self.members)}, species={self.species}, r_cut={self.r_cut}, dtype={self.dtype}"


def make_committee(potentials, metadata: dict | None = None) -> Committee:
    """A committee of potentials or potential files (copies; the inputs are left as they are).

    The committee's metadata records each member's source (file name, or
    ``"object"``) besides ``metadata``.
    """
    from .potential import load_potential

    members, sources = [], []
    for item in potentials:
        if isinstance(item, (str, os.PathLike)):
            loaded = load_potential(item)
            if isinstance(loaded, Committee):
                members.extend(loaded.members)
                sources.extend(f"{Path(item).name}[member {k}]" for k in range(len(loaded.members)))
                continue
            members.append(loaded)
            sources.append(Path(item).name)
        elif isinstance(item, Committee):
            members.extend(copy.deepcopy(list(item.members)))
            sources.extend(f"object[member {k}]" for k in range(len(item.members)))
        else:
            members.append(copy.deepcopy(item))
            sources.append("object")
    return Committee(members, {"members_from": sources, **(metadata or {})})


def committee_from_archive(meta: dict, state: dict, path: Path) -> Committee:
    """The committee that a file's ``meta.json`` and weights describe."""
    entries = meta.get("members")
    if not isinstance(entries, list) or len(entries) < 2:
        raise _refuse(path, "it names the committee architecture but lists fewer than two members")
    members = []
    for k, entry in enumerate(entries):
        prefix = f"members.{k}."
        member_state = {name[len(prefix):]: value for name, value in state.items() if name.startswith(prefix)}
        members.append(_potential_from({"format_version": meta["format_version"], **entry}, member_state, path))
    expected = {f"members.{k}." for k in range(len(entries))}
    stray = sorted(name for name in state if not any(name.startswith(p) for p in expected))
    if stray:
        raise _refuse(path, f"weights belong to no member ({stray[:3]})")
    try:
        return Committee(members, meta.get("metadata", {}))
    except (TypeError, ValueError) as err:
        raise _refuse(path, str(err)) from None
