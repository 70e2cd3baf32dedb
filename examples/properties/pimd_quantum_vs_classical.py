"""Classical vs quantum kinetic energy and vibrational spectrum at low temperature.

    python examples/properties/pimd_quantum_vs_classical.py POTENTIAL_FILE   # bcc Li
    python examples/properties/pimd_quantum_vs_classical.py emt              # fcc Cu, ASE's EMT

Runs classical Langevin MD (one bead) and path-integral MD (PILE-L, P beads) of the
same crystal, and compares

- the kinetic energy per atom: classical 3/2 k_B T vs the centroid-virial PIMD
  estimate, and the harmonic quantum value sum_modes (hbar w / 4) coth(beta hbar w / 2)
  from phonopy (the difference between PIMD and harmonic is anharmonicity);
- the vibrational DOS of the classical velocities and of the PIMD centroid
  velocities (weak centroid thermostat; use --thermostat trpmd for TRPMD).

An ase-mlip potential evaluates all beads in one batched call; any other ASE
calculator is called bead by bead.  Output: ./pimd_<element>/ (logs, centroid
trajectories, vdos.png).
"""

import argparse
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk

from ase_mlip.properties import PIMD, block_average, read_frames, run_phonons, vibrational_dos
from ase_mlip.properties._normal_modes import HBAR
from ase_mlip.properties._plots import plot_spectrum


def setup(potential: str):
    if potential == "emt":
        from ase.calculators.emt import EMT

        return bulk("Cu", "fcc", a=3.6, cubic=True), EMT()
    from ase_mlip import MLIPCalculator

    return bulk("Li", "bcc", a=3.44, cubic=True), MLIPCalculator(potential)


def harmonic_quantum_kinetic(atoms, calculator, temperature_K):
    """Kinetic energy per atom (eV) of the harmonic crystal from phonopy's mesh frequencies."""
    results = run_phonons(atoms, calculator, supercell=(3, 3, 3), mesh=20.0, relax=True, relax_cell=False)
    mesh = results.phonopy.mesh
    omega = 2 * np.pi * np.array(mesh.frequencies) * 1e12 / units.s  # [n_q, n_branch], 1/ASE time
    weights = np.array(mesh.weights, dtype=float)
    beta = 1.0 / (units.kB * temperature_K)
    kinetic = np.where(omega > 1e-6, HBAR * omega / 4 / np.tanh(beta * HBAR * omega / 2), 0.5 / beta)
    return float((kinetic.sum(axis=1) * weights).sum() / weights.sum() / results.num_primitive_atoms)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("potential", help="ase-mlip potential file (Li), or 'emt' (Cu)")
    parser.add_argument("--temperature", type=float, default=50.0, help="K (default 50)")
    parser.add_argument("--beads", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--timestep", type=float, default=2.0, help="fs")
    parser.add_argument("--thermostat", default="pile_l", choices=["pile_l", "trpmd"])
    parser.add_argument("--supercell", type=int, default=2)
    args = parser.parse_args()

    unit, calculator = setup(args.potential)
    element = unit.get_chemical_symbols()[0]
    out = Path(f"pimd_{element}")
    out.mkdir(exist_ok=True)
    atoms = unit.repeat(args.supercell)
    n, dt = len(atoms), args.timestep * units.fs
    classical_value = 1.5 * units.kB * args.temperature
    harmonic = harmonic_quantum_kinetic(unit, calculator, args.temperature)

    spectra, kinetic = {}, {}
    for label, beads in (("classical MD", 1), (f"PIMD centroid, P={args.beads}", args.beads)):
        pimd = PIMD(atoms.copy(), beads, dt, temperature_K=args.temperature, thermostat=args.thermostat,
                    tau_centroid=500 * units.fs, rng=0, calculator=calculator,
                    logfile=out / f"P{beads}.log", trajectory=out / f"P{beads}_centroid.traj")
        pimd.run(args.steps // 5)  # equilibration (also written to the log)
        record = pimd.run(args.steps, progress=True)
        pimd.close()
        frames = read_frames(out / f"P{beads}_centroid.traj")[-args.steps:]
        if beads == 1:  # classical: the kinetic energy of the momenta (the estimators are exact here)
            series = np.array([f.get_kinetic_energy() for f in frames]) / n
        else:
            series = record["kinetic_virial"] / n
        kinetic[label] = block_average(series, num_blocks=10)
        velocities = np.array([f.get_velocities() for f in frames])
        spectra[label] = vibrational_dos(velocities, dt, frames[0].get_masses(), max_lag=args.steps // 2)

    print(f"{element}, {n} atoms, T = {args.temperature} K: kinetic energy per atom (meV)")
    print(f"  classical 3/2 k_B T          {1000 * classical_value:8.3f}")
    for label, (mean, err) in kinetic.items():
        print(f"  {label:28s} {1000 * mean:8.3f} +- {1000 * err:.3f}")
    print(f"  harmonic quantum (phonopy)   {1000 * harmonic:8.3f}")
    xmax = 1.3 * max(f[np.argmax(d)] for f, d in spectra.values())
    plot_spectrum(spectra, out / "vdos.png", xmax=xmax)
    for label, (f, d) in spectra.items():
        print(f"  VDOS peak of {label}: {f[np.argmax(d)]:.2f} THz")
    print(f"  wrote {out}/vdos.png, logs and centroid trajectories")


if __name__ == "__main__":
    main()
