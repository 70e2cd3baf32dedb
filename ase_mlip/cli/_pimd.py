"""``mlip pimd POTENTIAL STRUCTURE``: path-integral MD, or serve i-PI as a client."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._phonons import load_calculator, read_structure


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pimd", help="path-integral MD (PILE-L or TRPMD), or run as an i-PI client",
        description="Ring-polymer MD with normal-mode propagation; writes a log of the primitive "
        "and centroid-virial kinetic energies, potential energy and pressure, centroid and bead "
        "trajectories, and a state file to --restart from. With --ipi-unix/--ipi-port the "
        "potential serves forces to an i-PI server instead.",
    )
    parser.add_argument("potential", help="potential file, or 'emt' for ASE's EMT")
    parser.add_argument("structure", help="structure in any ASE-readable format")
    parser.add_argument("--beads", type=int, default=16, help="number of beads P (default 16)")
    parser.add_argument("--temperature", type=float, default=300.0, help="temperature, K")
    parser.add_argument("--timestep", type=float, default=0.5, help="time step, fs (default 0.5)")
    parser.add_argument("--steps", type=int, default=1000, help="number of steps")
    parser.add_argument("--thermostat", default="pile_l", choices=["pile_l", "trpmd", "none"])
    parser.add_argument("--tau-centroid", type=float, default=100.0, help="centroid thermostat time, fs")
    parser.add_argument("--pile-lambda", type=float, default=None, help="internal-mode friction scale")
    parser.add_argument("--supercell", type=int, nargs=3, default=(1, 1, 1), metavar=("NA", "NB", "NC"))
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--traj-interval", type=int, default=10, help="steps between frames")
    parser.add_argument("--restart", action="store_true", help="continue from OUTPUT/state.npz")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("-o", "--output", default="pimd", help="output folder (default ./pimd)")
    parser.add_argument("--ipi-unix", metavar="NAME", help="serve i-PI on the UNIX socket /tmp/ipi_NAME")
    parser.add_argument("--ipi-host", default="localhost", help="i-PI server host (with --ipi-port)")
    parser.add_argument("--ipi-port", type=int, help="serve i-PI on an internet socket")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from ase import units

    from ase_mlip.properties import PIMD, block_average, run_ipi_client
    from ase_mlip.properties._plots import plot_pimd

    calculator = load_calculator(args.potential, args.device, args.dtype)
    atoms = read_structure(args.structure).repeat(tuple(args.supercell))
    if args.ipi_unix or args.ipi_port:
        run_ipi_client(atoms, calculator, unixsocket=args.ipi_unix, host=args.ipi_host, port=args.ipi_port)
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    files = dict(logfile=out / "pimd.log", trajectory=out / "centroid.traj",
                 bead_trajectory=out / "beads.traj", traj_interval=args.traj_interval,
                 checkpoint=out / "state.npz")
    if args.restart:
        pimd = PIMD.restart(out / "state.npz", calculator, **files)
    else:
        pimd = PIMD(atoms, args.beads, args.timestep * units.fs, temperature_K=args.temperature,
                    thermostat=args.thermostat, tau_centroid=args.tau_centroid * units.fs,
                    pile_lambda=args.pile_lambda, rng=args.seed, calculator=calculator, **files)
    record = pimd.run(args.steps, progress=True)
    pimd.close()
    n = len(pimd.masses)
    half = record["kinetic_virial"][len(record["kinetic_virial"]) // 2:]
    if len(half) >= 10:
        mean, err = block_average(half / n, num_blocks=5)
        print(f"centroid-virial kinetic energy (second half): {mean:.5f} +- {err:.5f} eV/atom "
              f"(classical 3/2 k_B T = {1.5 * units.kB * pimd.temperature_K:.5f})")
    pressure = record["pressure"]
    if np.isfinite(pressure).all():
        print(f"mean pressure: {pressure.mean() / units.GPa:.4f} GPa")
    plot_pimd(record, out / "pimd_energies.png", n)
    print(f"wrote {out}/pimd.log, centroid.traj, beads.traj, state.npz, pimd_energies.png")
    return 0
