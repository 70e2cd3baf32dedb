"""SAM, measured: Li trained with and without sharpness-aware minimisation.

Trains the shipped Li config twice with identical settings except ``sam``
(and, with ``--equal-cost``, twice the epochs for the plain run, since a SAM
step costs two gradient evaluations), then reports for each

* test-split MAE (energy meV/atom, forces eV/A) on ``data/mlearn/Li/test.json``;
* robustness in hot MD: Langevin NVT (ASE) of a bcc Li supercell from
  ``--seeds`` different random velocities and noise. The thermostat target
  starts at ``--temperature-K`` and, with ``--final-temperature-K``, rises
  linearly to it over ``--steps`` steps (a heating ramp: every run ends with a
  number, the temperature it failed at). A run *fails* at the first step where
  the smallest interatomic distance drops below ``--min-distance`` (default
  1.5 A; DFT nearest neighbours of Li are ~3.0 A), any force exceeds
  ``--max-force`` (default 20 eV/A), or the energy is not finite. Runs that
  survive all steps are censored at that length.

    python benchmarks/sam_study.py                                    # defaults
    python benchmarks/sam_study.py --epochs 2 --steps 50 --seeds 2    # smoke run

The two trainings, and then the MD runs, go to ``--jobs`` worker processes
with one thread each. Cost: one 54-atom MD step is about 0.05 s on one core.

Results: ``--results`` (default ``benchmarks/results/sam_study.json``) with the
per-seed steps and temperatures at failure, test errors, settings, date,
machine and versions.
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


def _train(sam: bool, epochs: int, out: str, threads: int | None) -> str:
    from ase_mlip.training import load_config, train

    # zbl_after_training: None, as when the results were recorded: the study measures the
    # networks, and the close-range term would hide their wells (close_contact_md.py).
    overrides = {"sam": sam, "max_epochs": epochs, "output_dir": out, "zbl_after_training": None,
                 "potential_file": str(Path(out) / "Li.mlip"), "progress": False}
    if threads:
        overrides["num_threads"] = threads
    cfg = load_config(REPO / "potentials" / "Li" / "config.yaml", **overrides)
    train(cfg, resume=True, log=lambda _: None)
    return str(cfg.potential_path)


class CloseContacts:
    """Tracks pairs of atoms closer than ``min_distance`` over the steps of a run.

    ``update`` takes the pair distances of one step (always the same pairs in the
    same order) and says whether some pair has now been closer than
    ``min_distance`` for ``trap_steps`` consecutive steps. With ``trap_steps`` 1
    that is the first approach; with more, a hard collision that rebounds within
    a few steps does not count, a pair caught in a spurious well does.
    """

    def __init__(self, min_distance: float, trap_steps: int = 1):
        if trap_steps < 1:
            raise ValueError(f"trap_steps must be >= 1, got {trap_steps}")
        self.min_distance, self.trap_steps = float(min_distance), int(trap_steps)
        self.close_for: dict[int, int] = {}  # pair index -> consecutive steps below min_distance
        self.approaches = 0  # pairs that came closer than min_distance (each approach once)
        self.closest = np.inf

    @property
    def held(self) -> int:
        """Consecutive steps of the pair that has been close the longest, now."""
        return max(self.close_for.values(), default=0)

    def update(self, distances: np.ndarray) -> bool:
        distances = np.asarray(distances)
        self.closest = min(self.closest, float(distances.min()))
        close = np.flatnonzero(distances < self.min_distance)
        self.close_for = {int(k): self.close_for.get(int(k), 0) + 1 for k in close}
        self.approaches += sum(n == 1 for n in self.close_for.values())
        return self.held >= self.trap_steps


def heating_run(potential_path: str, seed: int, start_K: float, end_K: float, steps: int,
                timestep_fs: float, min_distance: float, max_force: float,
                repeat: int = 3, threads: int | None = 1, crystal: tuple = ("Li", "bcc", 3.44),
                trap_steps: int = 1) -> dict:
    """One Langevin run; the target temperature goes linearly from start_K to end_K.

    ``crystal`` is (element, structure, lattice constant A) of the cubic cell
    repeated ``repeat`` times along each axis. The run fails when one pair of
    atoms has been closer than ``min_distance`` for ``trap_steps`` consecutive
    steps (1: at the first such approach; more tells a pair caught in a
    spurious well from a hard collision that rebounds), on a force above
    ``max_force`` or on a non-finite energy.
    Returns the steps survived (``steps`` if it never failed), the target
    temperature at that step, the closest distance seen and the number of
    pairs that came closer than ``min_distance`` without ending the run.
    """
    import torch
    from ase import units
    from ase.build import bulk
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin

    from ase_mlip import MLIPCalculator, load_potential
    from ase_mlip.properties import thermalize

    if threads:
        torch.set_num_threads(threads)
    element, structure, a = crystal
    atoms = bulk(element, structure, a=a, cubic=True).repeat((repeat,) * 3)
    atoms.calc = MLIPCalculator(load_potential(potential_path), device="cpu", dtype="float64")
    rng = np.random.default_rng(seed)
    thermalize(atoms, start_K, rng=rng)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=start_K, friction=0.01,
                   fixcm=False, rng=rng)
    upper = np.triu_indices(len(atoms), 1)
    contacts = CloseContacts(min_distance, trap_steps)
    for step in range(1, steps + 1):
        target = start_K + (end_K - start_K) * step / steps
        dyn.set_temperature(temperature_K=target)
        dyn.run(1)
        energy = atoms.get_potential_energy()
        distances = atoms.get_all_distances(mic=True)[upper]
        trapped = contacts.update(distances)
        force = float(np.abs(atoms.get_forces()).max())
        held = f" for {contacts.held} steps" if trap_steps > 1 else ""
        why = [text for bad, text in [(not np.isfinite(energy), f"energy {energy}"),
                                      (trapped, f"distance {distances.min():.3f} A{held}"),
                                      (force > max_force, f"force {force:.1f} eV/A")] if bad]
        if why:
            return {"seed": seed, "steps": step, "failed": True, "temperature_K": target,
                    "reason": ", ".join(why), "closest_A": contacts.closest,
                    "approaches": contacts.approaches - int(trapped)}
    return {"seed": seed, "steps": steps, "failed": False, "temperature_K": end_K,
            "closest_A": contacts.closest, "approaches": contacts.approaches}


def _versions() -> dict:
    import ase
    import torch

    import ase_mlip

    return {"python": platform.python_version(), "torch": torch.__version__, "ase": ase.__version__,
            "ase_mlip": ase_mlip.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Li with and without SAM: test errors and MD robustness")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the Li config's)")
    parser.add_argument("--equal-cost", action="store_true",
                        help="give the plain run twice the epochs (same gradient evaluations)")
    parser.add_argument("--rho", type=float, default=0.005)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--temperature-K", type=float, default=900.0, help="start temperature")
    parser.add_argument("--final-temperature-K", type=float, default=None,
                        help="ramp the thermostat linearly to this temperature (default: constant)")
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--min-distance", type=float, default=1.5)
    parser.add_argument("--max-force", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--output-dir", default=str(REPO / "runs" / "sam_study"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "sam_study.json"))
    args = parser.parse_args(argv)
    end_K = args.temperature_K if args.final_temperature_K is None else args.final_temperature_K

    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from ase_mlip.training import evaluate, load_config

    epochs = args.epochs or load_config(REPO / "potentials" / "Li" / "config.yaml").max_epochs
    runs = {"plain": (False, 2 * epochs if args.equal_cost else epochs), "sam": (True, epochs)}
    pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn"))
    with pool:
        trained = {name: pool.submit(_train, sam, run_epochs, str(Path(args.output_dir) / name), 1)
                   for name, (sam, run_epochs) in runs.items()}
        paths = {name: future.result() for name, future in trained.items()}
        md = {(name, seed): pool.submit(heating_run, paths[name], seed, args.temperature_K, end_K,
                                        args.steps, args.timestep_fs, args.min_distance,
                                        args.max_force)
              for name in runs for seed in range(args.seeds)}
        md = {key: future.result() for key, future in md.items()}

    from ase_mlip import load_potential

    results = {}
    for name, (sam, run_epochs) in runs.items():
        summary, _ = evaluate(load_potential(paths[name]), REPO / "data" / "mlearn" / "Li" / "test.json")
        survived = [md[(name, seed)] for seed in range(args.seeds)]
        results[name] = {"epochs": run_epochs, "sam": sam, "test": summary["all"], "md_runs": survived,
                         "failed_runs": sum(r["failed"] for r in survived)}
        m = summary["all"]
        print(f"{name}: {run_epochs} epochs, test E {m['energy_mae_meV_per_atom']:.2f} meV/atom, "
              f"F {m['forces_mae_eV_per_A']:.4f} eV/A; steps survived "
              f"{[r['steps'] for r in survived]}, at K {[round(r['temperature_K']) for r in survived]}")
    record = {
        "settings": {k: v for k, v in vars(args).items()},
        "md": f"Langevin NVT, 54 bcc Li atoms, target {args.temperature_K:g} -> {end_K:g} K "
              f"linearly over {args.steps} steps of {args.timestep_fs:g} fs, friction 0.01/fs",
        "failure_criterion": f"min distance < {args.min_distance} A or |F| > {args.max_force} eV/A "
                             "or non-finite energy",
        "results": results,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor()}",
        "versions": _versions(),
    }
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
