"""Potentials: a model plus species, cutoff and energy scale, in one file.

The per-edge-force contract
---------------------------
A potential maps a graph to per-atom energies,

    E_i = scale[Z_i] * model_i(species, edge_index, edge_vec) + shift[Z_i],

with ``edge_vec_ij = r_j - r_i`` (periodic images folded in). Because every
dependence on positions goes through ``edge_vec``, one backward pass gives the
per-edge forces ``f_ij = dE / d edge_vec_ij``. With ``E = sum_i E_i``,

    F_k = -dE/dr_k = sum_{ij: i=k} f_ij - sum_{ij: j=k} f_ij,

so the force on i gains f_ij and the force on j loses it. Under a homogeneous
strain eps every edge vector becomes (1 + eps) edge_vec, hence

    dE/d eps_ab = sum_ij f_ij,a edge_vec_ij,b = -W_ab,
    W = -sum_ij edge_vec_ij (outer) f_ij          (the virial, eV),

and the stress in ASE's convention (positive = tensile, eV/A^3) is
``sigma = (1/V) dE/d eps = -W / V``; ``tests/test_calculator.py`` checks the
sign against a finite-difference strain derivative.

The file format
---------------
A potential file is a zip archive holding ``meta.json`` (format, format
version, architecture, hyperparameters, species, cutoff, units, dtype, code
version, training record, SHA-256 of the weights) and ``weights.npz`` (plain
arrays, read with ``allow_pickle=False``). Nothing in the file is executed on
load; a pickled object, a damaged archive or an unknown format version is
refused with a message that says so.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import atomic_numbers
from torch import nn

from ._atomic import atomic_write
from .models import Allegro, AllegroConfig, input_gradients_only
from .models._zbl import ZBLRepulsion

__all__ = [
    "Potential",
    "build_potential",
    "load_potential",
    "with_zbl",
    "energy_and_edge_forces",
    "forces_and_virial",
    "FORMAT_VERSION",
    "NEWEST_FORMAT_VERSION",
]

FORMAT_NAME = "ase-mlip-potential"
FORMAT_VERSION = 4
# Version history: 2 added the allegro key normalize_radial (files of version 1
# were written without it and mean normalize_radial=False); 3 stopped storing
# the tensor products' coupling constants, which follow from the irreps. Files
# of versions 1 and 2 hold them and ChannelwiseTensorProduct drops them on
# load; a reader of version 2 would miss them in a version-3 file. 4 added
# zbl_r_cut, a ZBL cutoff below r_cut (absent: r_cut, as before); a reader of
# version 3 would apply that ZBL up to r_cut. 5 is the version of committee files
# (several members averaged, ase_mlip.Committee); single-model files stay at 4, so
# that readers of version 4 keep reading them.
COMMITTEE_FORMAT_VERSION = 5
NEWEST_FORMAT_VERSION = max(FORMAT_VERSION, COMMITTEE_FORMAT_VERSION)  # this code reads 1..newest
ARCHITECTURES = ("allegro",)
_GENERAL_KEYS = ("model", "species", "seed", "dtype", "zbl", "zbl_r_cut")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {name!r}")
    return _DTYPES[name]


def _make_model(architecture: str, hyperparameters: dict, num_species: int) -> nn.Module:
    if architecture == "allegro":
        unknown = sorted(set(hyperparameters) - set(AllegroConfig.keys()) - {"num_species"})
        if unknown:
            allowed = sorted(set(AllegroConfig.keys()) - {"num_species"})
            raise ValueError(
                f"unknown allegro hyperparameters {unknown}; allowed: {allowed} "
                f"and the general keys {list(_GENERAL_KEYS)}"
            )
        hp = {k: v for k, v in hyperparameters.items() if k != "num_species"}
        return Allegro(AllegroConfig(num_species=num_species, **hp))
    raise ValueError(f"unknown model {architecture!r}; available: {list(ARCHITECTURES)}")


class Potential(nn.Module):
    """A trained or untrained potential: model, species, cutoff and energy scale.

    Parameters
    ----------
    architecture : str
        Model name (``"allegro"``).
    hyperparameters : dict
        Model hyperparameters (see :class:`ase_mlip.models.AllegroConfig`).
    species : list of str
        Chemical symbols; their order defines species indices.
    metadata : dict, optional
        JSON-serialisable training record.
    zbl : bool
        Add the ZBL screened nuclear repulsion (:class:`ase_mlip.models.ZBLRepulsion`).
        ``mlip train`` then fits the energy shift and scale to the reference data
        minus this term (``zbl: true`` under ``model:`` in the training config).
    zbl_r_cut : float, optional
        Radius, Angstrom, at which the ZBL term's envelope reaches zero (default:
        ``r_cut``). ZBL is a screened nuclear repulsion, meant for close contacts;
        up to a full cutoff of 5 A it adds a bonding-range repulsion (0.8 eV per
        Mo pair at 2.73 A) that the network must cancel, and in training that
        cost accuracy (README). A radius below the nearest-neighbour distance,
        as in NEP's and LAMMPS's ZBL switching, keeps it to close contacts.
    """

    def __init__(
        self,
        architecture: str,
        hyperparameters: dict,
        species: list[str],
        metadata: dict | None = None,
        zbl: bool = False,
        zbl_r_cut: float | None = None,
    ):
        super().__init__()
        species = list(species)
        if not species:
            raise ValueError("species must list at least one chemical symbol, e.g. ['Li']")
        bad = [s for s in species if s not in atomic_numbers or s == "X"]
        if bad:
            raise ValueError(f"species {bad} are not chemical symbols (e.g. 'Li', 'Mo', 'Si')")
        if len(set(species)) != len(species):
            raise ValueError(f"species {species} contains duplicates")
        self.architecture = architecture
        self.species = species
        self.model = _make_model(architecture, dict(hyperparameters), len(species))
        self.register_buffer("energy_shift", torch.zeros(len(species)))
        self.register_buffer("energy_scale", torch.ones(len(species)))
        self.metadata: dict[str, Any] = dict(metadata or {})
        if zbl_r_cut is not None:
            if not zbl:
                raise ValueError("zbl_r_cut is set but zbl is not; add zbl: true, or drop zbl_r_cut")
            zbl_r_cut = float(zbl_r_cut)
            if not 0.0 < zbl_r_cut <= self.r_cut:
                raise ValueError(f"zbl_r_cut must lie in (0, r_cut = {self.r_cut}] A, got {zbl_r_cut}")
        self.zbl_r_cut = (self.r_cut if zbl_r_cut is None else zbl_r_cut) if zbl else None
        self.zbl = ZBLRepulsion(species, self.zbl_r_cut, self.model.config.polynomial_p) if zbl else None

    @property
    def r_cut(self) -> float:
        """Cutoff radius, Angstrom."""
        return float(self.model.config.r_cut)

    @property
    def config(self) -> dict:
        """Hyperparameters, species and architecture as a plain dict."""
        hp = self.model.config.to_dict()
        hp.pop("num_species")
        out = {"model": self.architecture, "species": list(self.species), "zbl": self.zbl is not None, **hp}
        if self.zbl is not None:
            out["zbl_r_cut"] = self.zbl_r_cut
        return out

    @property
    def dtype(self) -> torch.dtype:
        return self.energy_shift.dtype

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """Per-atom energies, shape (n_local,), eV.

        Parameters
        ----------
        species : torch.Tensor
            Species indices of local then ghost atoms, shape (num_atoms,), int64.
        edge_index : torch.Tensor
            (center i, neighbor j), shape (2, num_edges); all centers < n_local.
        edge_vec : torch.Tensor
            r_j - r_i, shape (num_edges, 3), Angstrom.
        n_local : int
            Number of local atoms.
        """
        raw = self.model(species, edge_index, edge_vec, n_local)  # [n_local]
        local = species[:n_local]
        energy = raw * self.energy_scale[local] + self.energy_shift[local]
        if self.zbl is not None:
            energy = energy + self.zbl(species, edge_index, edge_vec, n_local)
        return energy

    def save(self, path: str | os.PathLike) -> None:
        """Write the potential to ``path`` (atomically: a crash leaves the old file)."""
        _write_archive(path, {"format_version": FORMAT_VERSION, **self._meta()}, self.state_dict())

    def _meta(self) -> dict:
        """Everything of ``meta.json`` but the format and the weights' checksum."""
        from . import __version__

        return {
            "architecture": self.architecture,
            "species": list(self.species),
            "r_cut": self.r_cut,
            "hyperparameters": {k: v for k, v in self.config.items()
                                if k not in ("model", "species", "zbl", "zbl_r_cut")},
            "zbl": self.zbl is not None,
            **({"zbl_r_cut": self.zbl_r_cut} if self.zbl is not None else {}),
            "units": {"energy": "eV", "length": "Angstrom"},
            "dtype": str(self.dtype).replace("torch.", ""),
            "code_version": __version__,
            "metadata": self.metadata,
        }

    def extra_repr(self) -> str:
        return f"species={self.species}, r_cut={self.r_cut}, dtype={self.dtype}"


def build_potential(config: dict | str | os.PathLike) -> Potential:
    """Build an untrained, seeded potential from hyperparameters.

    Parameters
    ----------
    config : dict or path
        Hyperparameters, or a YAML file holding them. Keys: ``model``
        (default ``"allegro"``), ``species`` (required), ``seed`` (default 0),
        ``zbl`` (add ZBL nuclear repulsion, default False), ``zbl_r_cut``
        (where the ZBL term ends, default ``r_cut``),
        ``dtype`` (``"float64"`` default, or ``"float32"``) and the model's
        hyperparameters (:class:`ase_mlip.models.AllegroConfig`).

    Returns
    -------
    Potential

    Examples
    --------
    >>> pot = build_potential({"species": ["Li"], "r_cut": 4.0, "num_layers": 1})
    >>> pot.species, pot.r_cut
    (['Li'], 4.0)
    """
    if isinstance(config, (str, os.PathLike)):
        import yaml

        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict or a YAML path, got {type(config).__name__}")
    config = dict(config)
    if "species" not in config:
        raise ValueError("config needs 'species', the list of chemical symbols, e.g. species: [Li]")
    architecture = config.pop("model", "allegro")
    species = config.pop("species")
    if isinstance(species, str):
        species = [species]
    seed = int(config.pop("seed", 0))
    zbl = bool(config.pop("zbl", False))
    zbl_r_cut = config.pop("zbl_r_cut", None)
    dtype = _dtype(config.pop("dtype", "float64"))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            potential = Potential(architecture, config, species, zbl=zbl, zbl_r_cut=zbl_r_cut)
    finally:
        torch.set_default_dtype(previous)
    return potential.to(dtype)


def with_zbl(potential: Potential, zbl_r_cut: float, structures=None) -> Potential:
    """A copy of a trained potential with the ZBL repulsion added at close range.

    Fitted networks are unconstrained below the shortest distance in their
    training data and often have spurious wells there, into which hot MD
    falls. The ZBL term, ending at ``zbl_r_cut``, makes close contacts
    repulsive. Chosen below the shortest pair distance of the training data it
    is exactly zero on every training structure, so training with it
    (``zbl: true, zbl_r_cut: ...`` under ``model:``) would have given the same
    network, and every error measured on such structures is unchanged.

    Parameters
    ----------
    potential : Potential
        Without ZBL.
    zbl_r_cut : float
        Where the ZBL term ends, Angstrom (at most ``potential.r_cut``).
    structures : sequence of ase.Atoms, optional
        Structures that must be untouched (the training data): refused if any
        has a pair closer than ``zbl_r_cut``.

    Returns
    -------
    Potential
        Same weights, metadata and dtype, plus the ZBL term; the metadata
        records ``zbl_added_after_training``.
    """
    if potential.zbl is not None:
        raise ValueError(f"the potential already has a ZBL term (zbl_r_cut {potential.zbl_r_cut} A)")
    if structures is not None:
        from ase.neighborlist import neighbor_list

        for k, atoms in enumerate(structures):
            d = neighbor_list("d", atoms, float(zbl_r_cut))
            if len(d):
                raise ValueError(
                    f"structure {k} has a pair {d.min():.3f} A apart, closer than zbl_r_cut = "
                    f"{zbl_r_cut} A: the term would change the fit there; choose zbl_r_cut below "
                    "the shortest distance of the data, or train with it in the model config")
    dtype = str(potential.dtype).replace("torch.", "")
    new = build_potential({**potential.config, "zbl": True, "zbl_r_cut": zbl_r_cut, "dtype": dtype})
    missing, unexpected = new.load_state_dict(potential.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("zbl.") for k in missing), (missing, unexpected)
    new.metadata = copy.deepcopy(potential.metadata)
    new.metadata["zbl_added_after_training"] = {"zbl_r_cut": new.zbl_r_cut}
    return new.to(device=potential.energy_shift.device)


def _refuse(path: Path, why: str) -> ValueError:
    return ValueError(f"cannot load potential file {path}: {why}")


def _write_archive(path: str | os.PathLike, meta: dict, state: dict) -> None:
    """A potential file: ``meta.json`` (with format and checksum added) and ``weights.npz``."""
    weights = io.BytesIO()
    np.savez(weights, **{k: v.detach().cpu().numpy() for k, v in state.items()})
    weights_bytes = weights.getvalue()
    meta = {"format": FORMAT_NAME, **meta, "weights_sha256": hashlib.sha256(weights_bytes).hexdigest()}
    with atomic_write(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=2, sort_keys=True))
        zf.writestr("weights.npz", weights_bytes)


def load_potential(path: str | os.PathLike) -> Potential:
    """Load a potential file written by :meth:`Potential.save` or :meth:`Committee.save`.

    Nothing in the file is executed: the weights are plain arrays and the
    metadata is JSON. Damaged files, pickled objects and unknown format
    versions are refused with a ``ValueError`` that says which. A committee
    file gives a :class:`ase_mlip.Committee`, which is used like a potential.
    """
    path = Path(path)
    meta, state = _read_archive(path)
    if meta.get("architecture") == "committee":
        from ._committee import committee_from_archive

        return committee_from_archive(meta, state, path)
    return _potential_from(meta, state, path)


def _read_archive(path: Path) -> tuple[dict, dict]:
    """``meta.json`` and the weights of a potential file, checked."""
    if not path.is_file():
        raise FileNotFoundError(f"potential file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "meta.json" not in names:
                pickled = any(n.endswith(".pkl") for n in names)
                raise _refuse(
                    path,
                    "it holds a pickled Python object (e.g. from torch.save), which is refused because "
                    "loading it could run arbitrary code; export the model with Potential.save()"
                    if pickled
                    else "it is a zip archive without meta.json, not an ase-mlip potential",
                )
            meta = json.loads(zf.read("meta.json"))
            weights_bytes = zf.read("weights.npz")
    except zipfile.BadZipFile as err:
        raise _refuse(path, f"the file is damaged or not a potential file ({err})") from None
    except (zlib.error, EOFError, json.JSONDecodeError, OSError) as err:
        raise _refuse(path, f"the file is damaged or truncated ({err})") from None

    if meta.get("format") != FORMAT_NAME:
        raise _refuse(path, f"meta.json names format {meta.get('format')!r}, not {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > NEWEST_FORMAT_VERSION or version < 1:
        raise _refuse(
            path,
            f"it has format version {version}, this ase-mlip reads versions 1..{NEWEST_FORMAT_VERSION}; "
            "upgrade ase-mlip (pip install -U ase-mlip) to read newer files",
        )
    if hashlib.sha256(weights_bytes).hexdigest() != meta.get("weights_sha256"):
        raise _refuse(path, "the weights do not match their checksum (the file is damaged)")
    try:
        with np.load(io.BytesIO(weights_bytes), allow_pickle=False) as npz:
            state = {k: torch.from_numpy(npz[k].copy()) for k in npz.files}
    except ValueError as err:
        raise _refuse(path, f"the weights hold pickled objects, which are refused ({err})") from None
    return meta, state


def _potential_from(meta: dict, state: dict, path: Path) -> Potential:
    """The single-model potential that ``meta`` and ``state`` describe."""
    version = meta.get("format_version")
    hyperparameters = dict(meta["hyperparameters"])
    if version == 1 and meta["architecture"] == "allegro":
        hyperparameters.setdefault("normalize_radial", False)
    config = {
        "model": meta["architecture"],
        "species": meta["species"],
        "dtype": meta.get("dtype", "float64"),
        "zbl": bool(meta.get("zbl", False)),
        **({"zbl_r_cut": meta["zbl_r_cut"]} if meta.get("zbl_r_cut") is not None else {}),
        **hyperparameters,
    }
    try:
        potential = build_potential(config)
    except (TypeError, ValueError) as err:
        raise _refuse(path, f"its hyperparameters do not build a model ({err})") from None
    try:
        missing, unexpected = potential.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise _refuse(path, f"its weights do not fit the architecture it names ({err})") from None
    if missing or unexpected:
        raise _refuse(path, f"weights do not fit the architecture (missing {missing}, unexpected {unexpected})")
    potential.metadata = dict(meta.get("metadata", {}))
    return potential


def energy_and_edge_forces(
    potential: nn.Module,
    species: torch.Tensor,
    edge_index: torch.Tensor,
    edge_vec: torch.Tensor,
    n_local: int,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-atom energies and per-edge forces from one backward pass.

    Parameters
    ----------
    potential : Potential
        The potential (or any module with the same call signature).
    species, edge_index, edge_vec, n_local
        As in :meth:`Potential.forward`.
    create_graph : bool
        Keep the graph of the derivative (for force terms in a training loss).
        Without it the weights are not tracked: the returned energies and
        forces carry no gradient with respect to the weights.

    Returns
    -------
    atomic_energy : torch.Tensor
        Shape (n_local,), eV.
    edge_forces : torch.Tensor
        ``dE / d edge_vec``, shape (num_edges, 3), eV/Angstrom.
    """
    if not edge_vec.requires_grad:
        edge_vec = edge_vec.detach().requires_grad_(True)
    # Without create_graph the graph is freed after this call, so no gradient with
    # respect to the weights can ever be taken from it: do not track them.
    frozen = [] if create_graph else [p for p in potential.parameters() if p.requires_grad]
    try:
        for p in frozen:
            p.requires_grad_(False)
        with torch.enable_grad():
            atomic = potential(species, edge_index, edge_vec, n_local)
            if not atomic.requires_grad or edge_vec.shape[0] == 0:
                return atomic, torch.zeros_like(edge_vec)
            with input_gradients_only():  # forces only: no weight gradients of the energy
                (grad,) = torch.autograd.grad(
                    atomic.sum(), edge_vec, create_graph=create_graph, allow_unused=True
                )
    finally:
        for p in frozen:
            p.requires_grad_(True)
    if grad is None:
        grad = torch.zeros_like(edge_vec)
    return atomic, grad


def forces_and_virial(
    edge_forces: torch.Tensor,
    edge_index: torch.Tensor,
    edge_vec: torch.Tensor,
    num_atoms: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Atomic forces and virial from per-edge forces.

    Returns
    -------
    forces : torch.Tensor
        Shape (num_atoms, 3), eV/Angstrom.
    virial : torch.Tensor
        ``W = -sum edge_vec (outer) f``, shape (3, 3), eV.
    """
    forces = torch.zeros((num_atoms, 3), dtype=edge_forces.dtype, device=edge_forces.device)
    forces = forces.index_add(0, edge_index[0], edge_forces).index_add(0, edge_index[1], -edge_forces)
    virial = -(edge_vec.transpose(0, 1) @ edge_forces)
    return forces, virial
