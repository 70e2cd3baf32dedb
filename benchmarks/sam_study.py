"""SAM, measured: Li trained with and without sharpness-aware minimisation.

Trains the shipped Li config twice with identical settings except ``sam``
(and, with ``--equal-cost``, twice the epochs for the plain run, since a SAM
step costs two gradient evaluations), then reports for each

* test-split MAE (energy meV/atom, forces eV/A) on ``data/mlearn/Li/test.json``;
* time to failure of hot NVT runs: Langevin MD (ASE) of a bcc Li supercell at
  ``--temperature-K`` from ``--seeds`` different random velocities/noise.
  A run *fails* at the first step where the smallest interatomic distance
  drops below ``--min-distance`` (default 1.5 A; DFT nearest neighbours of
  Li are ~3.0 A), any force exceeds ``--max-force`` (default 20 eV/A), or the
  energy is not finite. Runs that survive ``--steps`` steps count as censored
  at that length.

    python benchmarks/sam_study.py                         # full study
    python benchmarks/sam_study.py --epochs 2 --steps 50 --seeds 2   # smoke run

Cost: two trainings of the Li config, plus MD at about 0.085 s per step for
the 54-atom cell (1 thread, measured on a shared 2-core machine), i.e. about
70 min for the default 2 x 5 seeds x 5000 steps.

Results: ``benchmarks/results/sam_study.json`` (per-seed steps to failure,
test errors, settings, date and machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _train(sam: bool, epochs: int, out: Path, threads: int | None):
    from ase_mlip.training import load_config, train

    overrides = {"sam": sam, "max_epochs": epochs, "output_dir": str(out),
                 "potential_file": str(out / "Li.mlip"), "progress": False}
    if threads:
        overrides["num_threads"] = threads
    cfg = load_config(REPO / "potentials" / "Li" / "config.yaml", **overrides)
    return train(cfg, resume=True, log=lambda _: None)


def time_to_failure(potential, seed: int, temperature_K: float, steps: int, timestep_fs: float,
                    min_distance: float, max_force: float, repeat: int = 3) -> int:
    """Steps a Langevin NVT run survives (``steps`` if it never fails)."""
    from ase import units
    from ase.build import bulk
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from ase_mlip import MLIPCalculator

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((repeat,) * 3)
    atoms.calc = MLIPCalculator(potential, device="cpu", dtype="float64")
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.01,
                   fixcm=False, rng=rng)
    for step in range(1, steps + 1):
        dyn.run(1)
        forces = atoms.get_forces()
        distances = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
        energy = atoms.get_potential_energy()
        if (not np.isfinite(energy) or distances.min() < min_distance
                or np.abs(forces).max() > max_force):
            return step
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Li with and without SAM: test errors and MD robustness")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the Li config's)")
    parser.add_argument("--equal-cost", action="store_true",
                        help="give the plain run twice the epochs (same gradient evaluations)")
    parser.add_argument("--rho", type=float, default=0.005)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--temperature-K", type=float, default=900.0)
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--min-distance", type=float, default=1.5)
    parser.add_argument("--max-force", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output-dir", default=str(REPO / "runs" / "sam_study"))
    args = parser.parse_args(argv)

    from ase_mlip.training import evaluate, load_config

    epochs = args.epochs or load_config(REPO / "potentials" / "Li" / "config.yaml").max_epochs
    results = {}
    for name, sam in (("plain", False), ("sam", True)):
        run_epochs = 2 * epochs if (args.equal_cost and not sam) else epochs
        pot = _train(sam, run_epochs, Path(args.output_dir) / name, args.threads)
        summary, _ = evaluate(pot, REPO / "data" / "mlearn" / "Li" / "test.json")
        survived = [time_to_failure(pot, seed, args.temperature_K, args.steps, args.timestep_fs,
                                    args.min_distance, args.max_force) for seed in range(args.seeds)]
        results[name] = {"epochs": run_epochs, "test": summary["all"], "steps_to_failure": survived,
                         "failed_runs": sum(s < args.steps for s in survived)}
        m = summary["all"]
        print(f"{name}: {run_epochs} epochs, test E {m['energy_mae_meV_per_atom']:.2f} meV/atom, "
              f"F {m['forces_mae_eV_per_A']:.4f} eV/A; steps to failure {survived}")
    record = {
        "settings": {k: v for k, v in vars(args).items()},
        "failure_criterion": f"min distance < {args.min_distance} A or |F| > {args.max_force} eV/A "
                             "or non-finite energy",
        "results": results,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}",
    }
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sam_study.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {out / 'sam_study.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
