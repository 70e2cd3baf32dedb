"""Read labelled structures from any format and check them record by record.

Anything ``ase.io.read`` understands that carries energies and forces
(extended XYZ, VASP OUTCAR/vasprun.xml, ASE databases, ...) is accepted, and
so are the mlearn JSON files (:func:`ase_mlip.data.read_mlearn`). Every
structure gets ``atoms.info["source_file"]`` and ``atoms.info["source_index"]``
so that any problem can be traced to the record that caused it. Bad records
(missing energy or forces, non-finite values, unknown elements) are collected
and reported together in one :class:`DataError`; nothing is silently dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

import ase.io
import ase.io.formats
import numpy as np
from ase import Atoms

from ._mlearn import read_mlearn

__all__ = [
    "DataError",
    "read_structures",
    "get_labels",
    "check_structures",
    "load_dataset",
    "config_type",
]

SOURCE_FILE = "source_file"
SOURCE_INDEX = "source_index"


class DataError(ValueError):
    """One or more bad records, each named by file and index."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(
            f"{len(self.problems)} bad record(s) in the data; fix or remove them:\n  {shown}{more}"
        )

    def __reduce__(self):
        # Rebuilt from the problem list (not from the message), e.g. when a training
        # worker process hands the error to the process that started it.
        return type(self), (self.problems,)


def _is_mlearn_json(path: str) -> bool:
    if not path.lower().endswith(".json"):
        return False
    with open(path) as handle:
        head = handle.read(4096).lstrip()
    # An ASE JSON database is an object; mlearn files are a list of records.
    return head.startswith("[") and '"structure"' in head


def read_structures(path: str | os.PathLike, index: str | int = ":",
                    format: str | None = None) -> list[Atoms]:
    """Read the structures of one file, tagged with their source.

    Parameters
    ----------
    path : str or path-like
        An mlearn JSON file or any file ``ase.io.read`` reads.
    index : str or int
        Which frames, in ``ase.io.read`` syntax (default all: ``":"``).
        Applied after reading all frames, so indices are positions in the file.
    format : str, optional
        ``"mlearn"`` or an ``ase.io`` format name; guessed when omitted.

    Returns
    -------
    list of ase.Atoms
        With ``info["source_file"]`` (str) and ``info["source_index"]``
        (int, index in the file) set.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file {path!r} does not exist; check the path in the config")
    if format == "mlearn" or (format is None and _is_mlearn_json(path)):
        frames = read_mlearn(path)
    else:
        try:
            frames = ase.io.read(path, index=":", format=format)
        except (json.JSONDecodeError, StopIteration) as err:
            raise ValueError(f"could not read {path!r}: {err}") from err
        frames = [frames] if isinstance(frames, Atoms) else list(frames)
    indices = list(range(len(frames)))
    if not (isinstance(index, str) and index == ":"):
        selector = ase.io.formats.string2index(index) if isinstance(index, str) else index
        indices = [indices[selector]] if isinstance(selector, int) else indices[selector]
        frames = [frames[i] for i in indices]
    for i, atoms in zip(indices, frames):
        atoms.info[SOURCE_FILE] = path
        atoms.info[SOURCE_INDEX] = int(i)
    return frames


def config_type(atoms: Atoms) -> str:
    """Return the group a structure belongs to (``group``/``config_type`` info, else "all")."""
    for key in ("group", "config_type"):
        if key in atoms.info:
            return str(atoms.info[key])
    return "all"


def get_labels(atoms: Atoms) -> tuple[float | None, np.ndarray | None, np.ndarray | None]:
    """Return the reference energy, forces and stress of a structure.

    Looks in the attached calculator's results first, then in
    ``atoms.info["energy"]``, ``atoms.arrays["forces"]``, ``atoms.info["stress"]``.

    Returns
    -------
    energy : float or None
        Total energy, eV.
    forces : numpy.ndarray or None
        (num_atoms, 3), eV/Angstrom.
    stress : numpy.ndarray or None
        (6,) Voigt xx yy zz yz xz xy, eV/Angstrom^3, ASE sign (positive = tensile).
    """
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    energy = results.get("energy", atoms.info.get("energy"))
    forces = results.get("forces", atoms.arrays.get("forces"))
    stress = results.get("stress", atoms.info.get("stress"))
    if energy is not None:
        energy = float(np.asarray(energy, dtype=np.float64))
    if forces is not None:
        forces = np.asarray(forces, dtype=np.float64)
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return energy, forces, stress


def source_name(atoms: Atoms) -> str:
    """``FILE[INDEX]`` of a structure read by :func:`read_structures` (``<memory>[?]`` otherwise)."""
    return f"{atoms.info.get(SOURCE_FILE, '<memory>')}[{atoms.info.get(SOURCE_INDEX, '?')}]"


def check_structures(frames: Iterable[Atoms], species: Sequence[str] | None = None,
                     require_stress: bool = False) -> list[str]:
    """List the problems of each bad record; an empty list means all are usable.

    Parameters
    ----------
    frames : iterable of ase.Atoms
        Structures as returned by :func:`read_structures`.
    species : sequence of str, optional
        Elements the potential knows; any other element is a problem.
    require_stress : bool
        Whether a periodic structure without stress is a problem.

    Returns
    -------
    list of str
        ``"FILE[INDEX]: reason"`` for each problem found.
    """
    problems = []
    allowed = set(species) if species is not None else None
    for atoms in frames:
        where = source_name(atoms)
        energy, forces, stress = get_labels(atoms)
        n = len(atoms)
        if n == 0:
            problems.append(f"{where}: structure has no atoms")
            continue
        if energy is None:
            problems.append(f"{where}: missing energy")
        elif not np.isfinite(energy):
            problems.append(f"{where}: energy is {energy}")
        if forces is None:
            problems.append(f"{where}: missing forces")
        elif forces.shape != (n, 3):
            problems.append(f"{where}: forces have shape {forces.shape}, expected ({n}, 3)")
        elif not np.all(np.isfinite(forces)):
            problems.append(f"{where}: forces contain NaN or inf")
        if stress is not None:
            if stress.shape != (6,):
                problems.append(f"{where}: stress has shape {stress.shape}, expected (6,) or (3, 3)")
            elif not np.all(np.isfinite(stress)):
                problems.append(f"{where}: stress contains NaN or inf")
        elif require_stress and atoms.pbc.all():
            problems.append(f"{where}: missing stress (stress_weight > 0 needs it)")
        if not np.all(np.isfinite(atoms.positions)):
            problems.append(f"{where}: positions contain NaN or inf")
        if allowed is not None:
            unknown = sorted(set(atoms.get_chemical_symbols()) - allowed)
            if unknown:
                problems.append(
                    f"{where}: element(s) {unknown} not in the config's species {sorted(allowed)}"
                )
    return problems


def load_dataset(paths: str | os.PathLike | Sequence[str | os.PathLike],
                 species: Sequence[str] | None = None, require_stress: bool = False,
                 format: str | None = None) -> list[Atoms]:
    """Read and check labelled structures from one or more files.

    Parameters
    ----------
    paths : path or sequence of paths
        Data files (mlearn JSON or any ``ase.io`` format).
    species : sequence of str, optional
        Elements allowed; others are reported as bad records.
    require_stress : bool
        Report periodic structures without stress as bad records.
    format : str, optional
        Forced file format (``"mlearn"`` or an ``ase.io`` name).

    Returns
    -------
    list of ase.Atoms
        All structures of all files, in order.

    Raises
    ------
    DataError
        Listing every bad record by file and index.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames: list[Atoms] = []
    for path in paths:
        frames.extend(read_structures(path, format=format))
    if not frames:
        raise ValueError(f"no structures found in {list(map(str, paths))}; check the data paths")
    problems = check_structures(frames, species=species, require_stress=require_stress)
    if problems:
        raise DataError(problems)
    return frames
