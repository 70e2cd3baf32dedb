"""Path-integral molecular dynamics with normal-mode propagation.

The ring polymer of ``P`` beads (see :mod:`ase_mlip.properties._normal_modes`) is
integrated with a symmetric splitting of the Liouvillian into

- ``B``: kicks by the physical forces ``p_k += dt/2 F(q_k)``, on all beads at once;
- ``A``: the exact free ring-polymer step in normal modes;
- ``O``: a Langevin step on each normal mode (PILE-L or TRPMD, see
  :mod:`ase_mlip.properties._thermostat`).

``splitting="baoab"`` (``B A/2 O A/2 B``, Liu, Li and Liu, J. Chem. Phys. 145,
024103, 2016) samples configurations most accurately; ``"obabo"`` (``O/2 B A B O/2``)
is the original PILE scheme of Ceriotti et al. (2010).  Per step the integrator
records the primitive and centroid-virial kinetic energies, the bead-averaged
potential energy, the centroid-virial pressure (periodic cells with stresses), and a
conserved quantity (ring-polymer Hamiltonian plus the heat removed by the
thermostat) whose drift measures the time-step error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import Trajectory
from ase.stress import full_3x3_to_voigt_6_stress

from ._beads import make_bead_evaluator
from ._estimators import kinetic_primitive, kinetic_virial_tensor, pressure_tensor_virial, spring_energy
from ._normal_modes import (
    HBAR,
    FreeRingPolymerStep,
    from_normal_modes,
    normal_mode_frequencies,
    normal_mode_matrix,
    to_normal_modes,
)
from ._thermostat import LangevinModes, pile_friction

__all__ = [
    "PIMD",
    "STEP",
    "TIME_FS",
    "KINETIC_PRIMITIVE",
    "KINETIC_VIRIAL",
    "POTENTIAL",
    "PRESSURE",
    "STRESS",
    "CONSERVED",
]

# () int | number of steps done
STEP = "step"
# () | simulated time, fs
TIME_FS = "time_fs"
# () | primitive kinetic-energy estimator of the whole system, eV
KINETIC_PRIMITIVE = "kinetic_primitive"
# () | centroid-virial kinetic-energy estimator of the whole system, eV
KINETIC_VIRIAL = "kinetic_virial"
# () | bead-averaged potential energy, eV
POTENTIAL = "potential"
# () | centroid-virial pressure, eV/Angstrom^3 (positive = compressive); NaN without stress
PRESSURE = "pressure"
# (6,) | centroid-virial stress, Voigt, eV/Angstrom^3, ASE sign (positive = tensile)
STRESS = "stress"
# () | ring-polymer Hamiltonian (sampled at P T) plus heat removed by the thermostat, eV
CONSERVED = "conserved"

_SPLITTINGS = ("baoab", "obabo")
_STATE_VERSION = 1


class PIMD:
    """Ring-polymer (path-integral) molecular dynamics for any ASE calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure; all beads start at its positions.  Its calculator is used
        unless ``calculator`` is given.  Not modified except that ``atoms.positions``
        follow the centroid.
    num_beads : int
        Number of beads ``P`` (``P = 1`` is classical Langevin MD).
    timestep : float
        Time step in ASE time units (e.g. ``0.5 * ase.units.fs``).
    temperature_K : float
        Physical temperature in K.
    thermostat : {"pile_l", "trpmd", "none"}
        PILE-L (centroid Langevin with ``tau_centroid``), thermostatted RPMD
        (centroid free) or none (microcanonical RPMD).
    tau_centroid : float
        Centroid thermostat time in ASE time units (PILE-L only).
    pile_lambda : float or None
        Internal-mode friction ``2 lambda omega_k``; default 1 (PILE-L), 0.5 (TRPMD).
    splitting : {"baoab", "obabo"}
        Order of the integrator's sub-steps.
    rng : int, numpy.random.Generator or None
        Seed or generator of the thermostat noise and initial momenta.
    calculator : ase.calculators.calculator.Calculator, optional
        Any ASE calculator; an :class:`ase_mlip.MLIPCalculator` evaluates all
        beads in one batched model call.
    compute_stress : bool or "auto"
        Centroid-virial pressure from bead stresses; ``"auto"``: for 3-D periodic cells.
    batched : bool or "auto"
        See :func:`ase_mlip.properties._beads.make_bead_evaluator`.
    logfile : str or path, optional
        Text log of the estimators (appended to on restart).
    loginterval : int
        Steps between log lines.
    trajectory : str or path, optional
        ASE trajectory of the centroid (positions, centroid momenta, mean energy
        and centroid force).
    bead_trajectory : str or path, optional
        ASE trajectory of the ring polymer: each frame holds ``P N`` atoms, bead
        ``k`` in atoms ``k N .. (k+1) N - 1``, with ``info["num_beads"] = P``.
    traj_interval : int
        Steps between trajectory frames.
    checkpoint : str or path, optional
        State file rewritten every ``checkpoint_interval`` steps and at the end of
        :meth:`run`; :meth:`restart` continues from it.
    checkpoint_interval : int
        Steps between checkpoints.

    Examples
    --------
    >>> from ase import units
    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> atoms = bulk("Cu", cubic=True)
    >>> atoms.calc = EMT()
    >>> pimd = PIMD(atoms, 8, 1.0 * units.fs, temperature_K=50, rng=0)
    >>> record = pimd.run(10)
    >>> record["kinetic_virial"].shape
    (10,)
    """

    def __init__(
        self,
        atoms: Atoms,
        num_beads: int,
        timestep: float,
        *,
        temperature_K: float,
        thermostat: str = "pile_l",
        tau_centroid: float = 100.0 * units.fs,
        pile_lambda: float | None = None,
        splitting: str = "baoab",
        rng: int | np.random.Generator | None = None,
        calculator: Calculator | None = None,
        compute_stress: bool | str = "auto",
        batched: bool | str = "auto",
        logfile: str | os.PathLike | None = None,
        loginterval: int = 1,
        trajectory: str | os.PathLike | None = None,
        bead_trajectory: str | os.PathLike | None = None,
        traj_interval: int = 1,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_interval: int = 100,
        _state: dict | None = None,
    ):
        calculator = calculator if calculator is not None else atoms.calc
        if calculator is None:
            raise ValueError("the atoms have no calculator; pass calculator=... or set atoms.calc")
        if atoms.constraints:
            raise ValueError("PIMD does not support constraints; remove them with del atoms.constraints")
        if int(num_beads) < 1:
            raise ValueError(f"num_beads={num_beads!r} must be >= 1 (e.g. 16 at 100 K for Li)")
        if not temperature_K > 0:
            raise ValueError(f"temperature_K={temperature_K!r} must be positive")
        if not timestep > 0:
            raise ValueError(f"timestep={timestep!r} must be positive, in ASE units (e.g. 0.5 * units.fs)")
        if splitting not in _SPLITTINGS:
            raise ValueError(f"splitting={splitting!r} is unknown; use one of {_SPLITTINGS}")
        if compute_stress == "auto":
            compute_stress = bool(atoms.pbc.all() and "stress" in calculator.implemented_properties)

        self.atoms = atoms
        self.calculator = calculator
        self.num_beads = P = int(num_beads)
        self.timestep = float(timestep)
        self.temperature_K = float(temperature_K)
        self.thermostat = thermostat
        self.tau_centroid = float(tau_centroid)
        self.pile_lambda = pile_lambda
        self.splitting = splitting
        self.compute_stress = bool(compute_stress)
        self.masses = atoms.get_masses()
        self.kT = units.kB * self.temperature_K
        self.omega_p = P * self.kT / HBAR

        self.C = normal_mode_matrix(P)
        omega = normal_mode_frequencies(P, self.omega_p)
        friction = pile_friction(omega, thermostat, self.tau_centroid, pile_lambda)
        self._free_half = FreeRingPolymerStep(omega, 0.5 * self.timestep)
        self._free_full = FreeRingPolymerStep(omega, self.timestep)
        o_dt = self.timestep if splitting == "baoab" else 0.5 * self.timestep
        self._langevin = LangevinModes(friction, o_dt, P * self.kT) if thermostat != "none" else None
        self.evaluate = make_bead_evaluator(atoms, calculator, self.compute_stress, batched)

        if _state is None:
            self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
            self.positions = np.repeat(atoms.get_positions()[None], P, axis=0)  # [P, N, 3]
            sigma = np.sqrt(self.masses * P * self.kT)[None, :, None]
            self.momenta = sigma * self.rng.standard_normal(self.positions.shape)  # [P, N, 3]
            self.nsteps = 0
            self.thermostat_heat = 0.0
            self._set_results(self.evaluate(self.positions))
        else:
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = json.loads(str(_state["rng_state"]))
            self.positions = np.array(_state["positions"], dtype=float)
            self.momenta = np.array(_state["momenta"], dtype=float)
            self.nsteps = int(_state["nsteps"])
            self.thermostat_heat = float(_state["thermostat_heat"])
            stresses = _state["stresses"] if self.compute_stress else None
            self.energies = np.array(_state["energies"], dtype=float)
            self.forces = np.array(_state["forces"], dtype=float)
            self.stresses = None if stresses is None else np.array(stresses, dtype=float)

        mode = "a" if _state is not None else "w"
        self.observers: list = []
        self._logfile = open(logfile, mode) if logfile is not None else None
        if self._logfile is not None and mode == "w":
            self._logfile.write(
                "# step time[fs] K_prim[eV] K_cv[eV] E_pot[eV] T_cv[K] pressure[GPa] conserved[eV]\n"
            )
        if self._logfile is not None:
            self.attach(self._write_log, loginterval)
        self._traj = Trajectory(trajectory, mode) if trajectory is not None else None
        self._bead_traj = Trajectory(bead_trajectory, mode) if bead_trajectory is not None else None
        if self._traj is not None or self._bead_traj is not None:
            self.attach(self._write_frames, traj_interval)
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.attach(lambda: self.save_state(checkpoint), checkpoint_interval)

    # ------------------------------------------------------------------ dynamics
    def _set_results(self, results) -> None:
        self.energies, self.forces, self.stresses = results.energies, results.forces, results.stresses

    def _thermostat_step(self) -> None:
        if self._langevin is None:
            return
        p_nm, heat = self._langevin(to_normal_modes(self.momenta, self.C), self.masses, self.rng)
        self.momenta = from_normal_modes(p_nm, self.C)
        self.thermostat_heat += heat

    def _free_step(self, propagator: FreeRingPolymerStep) -> None:
        q_nm, p_nm = propagator(
            to_normal_modes(self.positions, self.C), to_normal_modes(self.momenta, self.C), self.masses
        )
        self.positions = from_normal_modes(q_nm, self.C)
        self.momenta = from_normal_modes(p_nm, self.C)

    def step(self) -> None:
        """Advance the ring polymer by one time step."""
        half = 0.5 * self.timestep
        if self.splitting == "obabo":
            self._thermostat_step()
            self.momenta += half * self.forces
            self._free_step(self._free_full)
        else:
            self.momenta += half * self.forces
            self._free_step(self._free_half)
            self._thermostat_step()
            self._free_step(self._free_half)
        self._set_results(self.evaluate(self.positions))
        self.momenta += half * self.forces
        if self.splitting == "obabo":
            self._thermostat_step()
        self.nsteps += 1
        self.atoms.positions = self.centroid_positions

    def attach(self, function, interval: int = 1, *args, **kwargs) -> None:
        """Call ``function(*args, **kwargs)`` every ``interval`` steps (after the step)."""
        if int(interval) < 1:
            raise ValueError(f"interval={interval!r} must be a positive number of steps")
        self.observers.append((function, int(interval), args, kwargs))

    def run(self, steps: int, progress: bool = False) -> dict[str, np.ndarray]:
        """Run ``steps`` steps and return the estimators of each step.

        Parameters
        ----------
        steps : int
            Number of steps.
        progress : bool
            Show a tqdm progress bar.

        Returns
        -------
        dict of numpy.ndarray
            The keys of :meth:`observables`, each with a leading axis of length
            ``steps``.
        """
        records: dict[str, list] = {}
        iterator = range(int(steps))
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc="PIMD", unit="step")
        for _ in iterator:
            self.step()
            for key, value in self.observables().items():
                records.setdefault(key, []).append(value)
            for function, interval, args, kwargs in self.observers:
                if self.nsteps % interval == 0:
                    function(*args, **kwargs)
        if self.checkpoint is not None:
            self.save_state(self.checkpoint)
        if self._logfile is not None:
            self._logfile.flush()
        return {key: np.asarray(values) for key, values in records.items()}

    # ---------------------------------------------------------------- estimators
    @property
    def centroid_positions(self) -> np.ndarray:
        """Centroid positions ``(N, 3)``, Angstrom."""
        return self.positions.mean(axis=0)

    @property
    def centroid_momenta(self) -> np.ndarray:
        """Centroid momenta ``(N, 3)`` (bead-averaged), amu * Angstrom / ASE time."""
        return self.momenta.mean(axis=0)

    def observables(self) -> dict:
        """Estimators of the current configuration (see the module constants)."""
        kinetic_tensor = kinetic_virial_tensor(self.positions, self.forces, self.kT)
        if self.stresses is not None:
            pressure_tensor = pressure_tensor_virial(
                self.positions, self.forces, self.stresses, self.kT, self.atoms.get_volume()
            )
            pressure = float(np.trace(pressure_tensor) / 3.0)
            stress = full_3x3_to_voigt_6_stress(-pressure_tensor)
        else:
            pressure, stress = float("nan"), np.full(6, np.nan)
        return {
            STEP: self.nsteps,
            TIME_FS: self.nsteps * self.timestep / units.fs,
            KINETIC_PRIMITIVE: kinetic_primitive(self.positions, self.masses, self.kT, self.omega_p),
            KINETIC_VIRIAL: float(np.trace(kinetic_tensor)),
            POTENTIAL: float(self.energies.mean()),
            PRESSURE: pressure,
            STRESS: stress,
            CONSERVED: self.conserved_energy(),
        }

    def conserved_energy(self) -> float:
        """Ring-polymer Hamiltonian plus the heat removed by the thermostat, eV."""
        kinetic = 0.5 * np.sum(self.momenta**2 / self.masses[None, :, None])
        springs = spring_energy(self.positions, self.masses, self.omega_p)
        return float(kinetic + springs + self.energies.sum() + self.thermostat_heat)

    # ------------------------------------------------------------------- output
    def centroid_atoms(self) -> Atoms:
        """The centroid as ``Atoms`` with centroid momenta, mean energy and centroid force."""
        atoms = Atoms(
            self.atoms.numbers, positions=self.centroid_positions, cell=self.atoms.cell,
            pbc=self.atoms.pbc, masses=self.masses, momenta=self.centroid_momenta,
        )
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(self.energies.mean()), forces=self.forces.mean(axis=0)
        )
        return atoms

    def ring_polymer_atoms(self) -> Atoms:
        """All beads as one ``Atoms`` of ``P N`` atoms (bead-major), with momenta."""
        P, N = self.positions.shape[:2]
        atoms = Atoms(
            np.tile(self.atoms.numbers, P), positions=self.positions.reshape(P * N, 3),
            cell=self.atoms.cell, pbc=self.atoms.pbc, masses=np.tile(self.masses, P),
            momenta=self.momenta.reshape(P * N, 3),
        )
        atoms.info["num_beads"] = P
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(self.energies.sum()), forces=self.forces.reshape(P * N, 3)
        )
        return atoms

    def _write_frames(self) -> None:
        if self._traj is not None:
            self._traj.write(self.centroid_atoms())
        if self._bead_traj is not None:
            self._bead_traj.write(self.ring_polymer_atoms())

    def _write_log(self) -> None:
        obs = self.observables()
        t_cv = 2.0 * obs[KINETIC_VIRIAL] / (3.0 * len(self.masses) * units.kB)
        self._logfile.write(
            f"{obs[STEP]:8d} {obs[TIME_FS]:12.3f} {obs[KINETIC_PRIMITIVE]:14.6f} "
            f"{obs[KINETIC_VIRIAL]:14.6f} {obs[POTENTIAL]:16.6f} {t_cv:10.3f} "
            f"{obs[PRESSURE] / units.GPa:12.5f} {obs[CONSERVED]:16.6f}\n"
        )

    def close(self) -> None:
        """Close the log and trajectory files."""
        for handle in (self._logfile, self._traj, self._bead_traj):
            if handle is not None:
                handle.close()

    # ------------------------------------------------------------------ restart
    def save_state(self, path: str | os.PathLike) -> None:
        """Write everything a resumed run needs to continue identically (``.npz``).

        The file holds the bead positions and momenta, the forces, energies and
        stresses at those positions, the thermostat heat, the step count, the
        random generator's state and the run parameters.  It is written to a
        temporary file first and then renamed, so an interrupted write leaves the
        previous state intact.
        """
        path = Path(path)
        params = dict(
            num_beads=self.num_beads, timestep=self.timestep, temperature_K=self.temperature_K,
            thermostat=self.thermostat, tau_centroid=self.tau_centroid, pile_lambda=self.pile_lambda,
            splitting=self.splitting, compute_stress=self.compute_stress,
        )
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp, version=_STATE_VERSION, params=json.dumps(params),
            rng_state=json.dumps(self.rng.bit_generator.state),
            numbers=self.atoms.numbers, masses=self.masses, cell=self.atoms.cell.array,
            pbc=self.atoms.pbc, positions=self.positions, momenta=self.momenta,
            forces=self.forces, energies=self.energies,
            stresses=self.stresses if self.stresses is not None else np.zeros(0),
            nsteps=self.nsteps, thermostat_heat=self.thermostat_heat,
        )
        os.replace(tmp, path)

    @classmethod
    def restart(cls, path: str | os.PathLike, calculator: Calculator, **kwargs) -> "PIMD":
        """Continue a run from a state file written by :meth:`save_state`.

        Parameters
        ----------
        path : str or path
            The state file.
        calculator : ase.calculators.calculator.Calculator
            The same calculator as the original run.
        **kwargs
            Output options (``logfile``, ``trajectory``, ``bead_trajectory``,
            ``checkpoint``, intervals, ``batched``); files are appended to.

        Returns
        -------
        PIMD
            An integrator whose next steps equal those of the uninterrupted run.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"PIMD state file {str(path)!r} does not exist")
        with np.load(path) as data:
            state = {key: data[key] for key in data.files}
        if int(state["version"]) != _STATE_VERSION:
            raise ValueError(
                f"{path} is a PIMD state of version {int(state['version'])}; this code reads "
                f"version {_STATE_VERSION}: start a new run from its last trajectory frame"
            )
        params = json.loads(str(state["params"]))
        atoms = Atoms(
            state["numbers"], positions=state["positions"].mean(axis=0), cell=state["cell"],
            pbc=state["pbc"], masses=state["masses"],
        )
        return cls(atoms, calculator=calculator, _state=state, **params, **kwargs)
