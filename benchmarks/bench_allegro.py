"""Energy+forces cost of the Allegro model, against nequip-allegro on the same input.

System: bcc Li, a = 3.44 Angstrom, cubic supercells of 128, 432, 1024 and 3456
atoms (4^3, 6^3, 8^3, 12^3 conventional cells), r_cut 5.0 Angstrom (26
neighbours per atom). Every case (implementation, l_max, dtype, size, mode) runs
in a fresh subprocess so that its peak memory is its own.

Modes
-----
raw
    The graph is built once; one evaluation is the model's energy, its forces
    on atoms and the virial (ours: one autograd call on the edge vectors, then
    the scatter of edge forces onto atoms; peer: its model's forward).
calc
    Through the ASE calculator, neighbour list included: ``calc.reset()``,
    ``atoms.get_forces()``, ``atoms.get_potential_energy()``.

Numbers
-------
us/atom is the median wall time of one evaluation divided by the number of
atoms (after warm-up calls); peak RSS is the kernel's high-water mark of the
resident memory of the case's process (``VmHWM``; libraries and model
included), and "eval" memory is that peak minus the resident memory just
before the first evaluation.

The peer (nequip-allegro) lives in its own environment, never a dependency of
ase-mlip: pass its interpreter with ``--peer-python``; without it, the current
interpreter is used if it can import ``allegro``, and the peer is skipped
otherwise. Peer model: ``allegro.model.AllegroModel`` with the reference
hyperparameters below, called eagerly on its own ``AtomicDataDict`` (graph
data in float64, as nequip always keeps it) and through ``NequIPCalculator``
with the vesin neighbour list. Its forward also returns the stress
(a 3x3 displacement gradient), which it cannot switch off when a cell is set.

Examples
--------
Default (sizes 128, 432, 1024; l_max 1 and 2; float32 and float64; both modes)::

    python benchmarks/bench_allegro.py --peer-python /work/peer-venv/bin/python

Full recorded run (3456 atoms: up to ~20 GB for the peer at l_max 2, float64)::

    python benchmarks/bench_allegro.py --large --mem-limit-gb 22 \\
        --peer-python /work/peer-venv/bin/python --output benchmarks/results/allegro_cpu.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

LATTICE_A = 3.44  # Angstrom, bcc Li
R_CUT = 5.0  # Angstrom
REPEATS_OF_SIZE = {128: 4, 432: 6, 1024: 8, 2000: 10, 3456: 12, 8192: 16}  # 2 n^3 atoms
DEFAULT_SIZES = [128, 432, 1024]
LARGE_SIZES = [3456]
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_TAG = "BENCH_RESULT "

# Reference hyperparameters, ase-mlip names (the peer's equivalents in _peer_model).
OUR_CONFIG = {
    "model": "allegro",
    "species": ["Li"],
    "r_cut": R_CUT,
    "num_layers": 2,
    "parity": True,
    "num_tensor_features": 32,
    "num_scalar_features": 64,
    "num_bessel": 8,
    "polynomial_p": 6,
    "two_body_mlp": [128],
    "latent_mlp": [128, 128],
    "readout_mlp": [32],
    "avg_num_neighbors": 20.0,
    "seed": 0,
}


# ----------------------------------------------------------------- worker side
def _rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process from /proc (``VmRSS`` now, ``VmHWM`` peak), MB.

    Without /proc (not Linux), falls back to the peak from ``getrusage``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _bcc_li(n_atoms: int):
    from ase.build import bulk

    if n_atoms not in REPEATS_OF_SIZE:
        raise ValueError(f"size {n_atoms} is not 2 n^3 of a known n; use one of {sorted(REPEATS_OF_SIZE)}")
    n = REPEATS_OF_SIZE[n_atoms]
    return bulk("Li", "bcc", a=LATTICE_A, cubic=True).repeat((n, n, n))


def _time_calls(evaluate, warmup: int, min_repeats: int, max_repeats: int, min_time: float):
    """Call ``evaluate`` ``warmup`` times, then time calls; return (seconds list, first-call s)."""
    t0 = time.perf_counter()
    evaluate()
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        evaluate()
    times: list[float] = []
    while len(times) < min_repeats or (sum(times) < min_time and len(times) < max_repeats):
        t0 = time.perf_counter()
        evaluate()
        times.append(time.perf_counter() - t0)
    return times, first


def _ours_case(case: dict) -> tuple:
    import numpy as np
    import torch

    import ase_mlip
    from ase_mlip import MLIPCalculator, build_potential
    from ase_mlip.neighbors import neighbor_graph, species_indices
    from ase_mlip.potential import energy_and_edge_forces, forces_and_virial

    dtype = getattr(torch, case["dtype"])
    potential = build_potential({**OUR_CONFIG, "l_max": case["l_max"], "dtype": case["dtype"]}).eval()
    atoms = _bcc_li(case["n_atoms"])
    n = len(atoms)
    versions = {"torch": torch.__version__, "e3nn": _version("e3nn"), "ase_mlip": ase_mlip.__version__}
    model = getattr(potential, "model", potential)
    info = {"num_parameters": sum(p.numel() for p in potential.parameters()), "model": model.extra_repr()}

    if case["mode"] == "calc":
        atoms.calc = MLIPCalculator(potential, device="cpu", dtype=case["dtype"])

        def evaluate():
            atoms.calc.reset()
            forces = atoms.get_forces()
            return atoms.get_potential_energy(), forces

        return evaluate, n, None, versions, info

    positions, cell = atoms.get_positions(), atoms.cell.array
    edge_index_np, cell_shifts = neighbor_graph(positions, cell, atoms.pbc, potential.r_cut)
    edge_vec_np = positions[edge_index_np[1]] - positions[edge_index_np[0]] + cell_shifts @ cell
    species = torch.as_tensor(species_indices(atoms.get_chemical_symbols(), potential.species))
    edge_index = torch.as_tensor(edge_index_np)
    edge_vec = torch.as_tensor(np.ascontiguousarray(edge_vec_np), dtype=dtype)

    def evaluate():
        atomic_energy, edge_forces = energy_and_edge_forces(
            potential, species, edge_index, edge_vec, n, create_graph=False
        )
        # the virial too, as the peer's forward returns the stress
        forces, _virial = forces_and_virial(edge_forces, edge_index, edge_vec, n)
        return float(atomic_energy.detach().sum()), forces.detach().numpy()

    return evaluate, n, edge_index.shape[1], versions, info


def _peer_model(l_max: int, model_dtype: str):
    """nequip-allegro 0.8.3 model with the reference hyperparameters."""
    from allegro.model import AllegroModel

    return AllegroModel(
        seed=0,
        model_dtype=model_dtype,
        type_names=["Li"],
        r_max=R_CUT,
        l_max=l_max,
        parity=True,
        radial_chemical_embed={
            "_target_": "allegro.nn.TwoBodyBesselScalarEmbed",
            "num_bessels": 8,
            "bessel_trainable": False,
            "polynomial_cutoff_p": 6,
        },
        scalar_embed_mlp_hidden_layers_depth=1,
        scalar_embed_mlp_hidden_layers_width=128,
        scalar_embed_mlp_nonlinearity="silu",
        num_layers=2,
        num_scalar_features=64,
        num_tensor_features=32,
        allegro_mlp_hidden_layers_depth=2,
        allegro_mlp_hidden_layers_width=128,
        allegro_mlp_nonlinearity="silu",
        readout_mlp_hidden_layers_depth=1,
        readout_mlp_hidden_layers_width=32,
        readout_mlp_nonlinearity="silu",
        avg_num_neighbors=OUR_CONFIG["avg_num_neighbors"],
    ).eval()


def _peer_case(case: dict) -> tuple:
    import torch
    from nequip.data import AtomicDataDict, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.integrations.ase import NequIPCalculator
    from nequip.utils.global_state import set_global_state

    set_global_state()  # nequip's required global set-up (default dtype float64, seeds)
    torch.set_num_threads(case["threads"])
    model = _peer_model(case["l_max"], case["dtype"])
    transforms = [
        ChemicalSpeciesToAtomTypeMapper(model_type_names=["Li"], chemical_species_to_atom_type_map={"Li": "Li"}),
        NeighborListTransform(r_max=R_CUT, backend="vesin"),
    ]
    atoms = _bcc_li(case["n_atoms"])
    n = len(atoms)
    versions = {
        "torch": torch.__version__,
        "e3nn": _version("e3nn"),
        "nequip": _version("nequip"),
        "allegro": _version("nequip-allegro"),
    }
    tps = [m for name, m in model.named_modules() if name.endswith("allegro.tps")]
    info = {
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "model": "; ".join(str(tp) for tp in tps[0]) if tps else "",
    }

    if case["mode"] == "calc":
        atoms.calc = NequIPCalculator(model, device="cpu", transforms=transforms)

        def evaluate():
            atoms.calc.reset()
            forces = atoms.get_forces()
            return atoms.get_potential_energy(), forces

        return evaluate, n, None, versions, info

    data = from_ase(atoms)
    for transform in transforms:
        data = transform(data)
    num_edges = data[AtomicDataDict.EDGE_INDEX_KEY].shape[1]

    def evaluate():
        out = model(dict(data))
        return float(out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().sum()), out[AtomicDataDict.FORCE_KEY]

    return evaluate, n, num_edges, versions, info


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def run_worker(case: dict) -> dict:
    """Run one benchmark case in this process and return its measurements."""
    import numpy as np
    import torch

    torch.set_num_threads(case["threads"])
    build = _peer_case if case["impl"] == "peer" else _ours_case
    evaluate, n_atoms, num_edges, versions, info = build(case)
    torch.set_num_threads(case["threads"])  # the peer's global set-up may reset it
    rss_before = _rss_mb("VmRSS")
    load = os.getloadavg()[0]
    times, first = _time_calls(
        evaluate, case["warmup"], case["min_repeats"], case["max_repeats"], case["min_time"]
    )
    energy, forces = evaluate()
    forces = np.asarray(forces.detach() if hasattr(forces, "detach") else forces, dtype=float)
    median = statistics.median(times)
    return {
        **case,
        "n_atoms": n_atoms,
        "num_edges": num_edges,
        "repeats": len(times),
        "seconds_median": median,
        "seconds_min": min(times),
        "seconds_first_call": first,
        "us_per_atom": 1e6 * median / n_atoms,
        "us_per_atom_min": 1e6 * min(times) / n_atoms,
        "us_per_edge": None if not num_edges else 1e6 * median / num_edges,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb("VmHWM"),
        "energy_eV": energy,
        "max_abs_force": float(np.abs(forces).max()),
        "torch_threads": torch.get_num_threads(),
        "load_1min": load,
        "versions": versions,
        **info,
    }


# ----------------------------------------------------------------- driver side
def _python_can_import(python: str, module: str) -> bool:
    try:
        probe = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, timeout=300, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _read_proc_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_case(python: str, case: dict, threads: int, mem_limit_mb: float, timeout_s: float) -> dict:
    """Run one case in a fresh subprocess, watching its memory; return its result or error."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    if case["impl"] == "ours":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [python, str(Path(__file__).resolve()), "--worker", json.dumps(case)]
    # files, not pipes: a chatty case must not block on a full pipe while we poll it
    stdout_file, stderr_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(command, stdout=stdout_file, stderr=stderr_file, text=True, cwd=str(REPO_ROOT))
    start, watched_peak, killed = time.monotonic(), 0.0, None
    while process.poll() is None:
        rss = _read_proc_rss_mb(process.pid)
        watched_peak = max(watched_peak, rss)
        if mem_limit_mb and rss > mem_limit_mb:
            killed = f"killed: resident memory {rss / 1024:.1f} GB > --mem-limit-gb {mem_limit_mb / 1024:.1f}"
        elif time.monotonic() - start > timeout_s:
            killed = f"killed: ran longer than --timeout {timeout_s:.0f} s"
        if killed:
            process.kill()
            break
        time.sleep(0.1)
    process.wait()
    stdout_file.seek(0)
    stderr_file.seek(0)
    stdout, stderr = stdout_file.read(), stderr_file.read()
    stdout_file.close()
    stderr_file.close()
    for line in stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = killed or (stderr.strip().splitlines() or ["no output"])[-1]
    return {**case, "error": tail, "watched_peak_rss_mb": watched_peak}


def source_revision() -> str:
    """Git commit of this checkout, with ``+dirty`` if ``ase_mlip/`` has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "ase_mlip"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (commit or "no commit") + ("+dirty" if dirty else "")


def machine_info() -> dict:
    """CPU model, core count, memory and load of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory_gb = int(meminfo.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "memory_gb": None if memory_gb is None else round(memory_gb, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ratio(numerator, denominator) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}"


def results_table(results: list[dict]) -> str:
    """Markdown table: one row per (l_max, dtype, size, mode), ours and peer side by side."""
    keyed = {(r["impl"], r["l_max"], r["dtype"], r["n_atoms"], r["mode"]): r for r in results}
    rows = sorted({k[1:] for k in keyed}, key=lambda k: (k[0], k[1], k[3] != "raw", k[2]))
    edges_of_size = {r["n_atoms"]: r["num_edges"] for r in results if r.get("num_edges")}
    lines = [
        "| l_max | dtype | mode | atoms | edges | ours us/atom (min) | peer us/atom (min) | speed-up peer/ours "
        "| ours peak MB (eval) | peer peak MB (eval) | memory ours/peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for l_max, dtype, n_atoms, mode in rows:
        ours, peer = keyed.get(("ours", l_max, dtype, n_atoms, mode)), keyed.get(("peer", l_max, dtype, n_atoms, mode))

        def speed(r):
            if r is None:
                return "not run"
            return r["error"] if "error" in r else f"{r['us_per_atom']:.0f} ({r['us_per_atom_min']:.0f})"

        def memory(r):
            if r is None or "error" in r:
                return "-"
            return f"{r['peak_rss_mb']:.0f} ({r['peak_rss_mb'] - r['rss_before_mb']:.0f})"

        ok = [r if r is not None and "error" not in r else None for r in (ours, peer)]
        edges = edges_of_size.get(n_atoms)
        lines.append(
            f"| {l_max} | {dtype} | {mode} | {n_atoms} | {_cell(edges, 'd')} | {speed(ours)} | {speed(peer)} "
            f"| {_ratio(ok[1] and ok[1]['us_per_atom'], ok[0] and ok[0]['us_per_atom'])} "
            f"| {memory(ours)} | {memory(peer)} "
            f"| {_ratio(ok[0] and ok[0]['peak_rss_mb'], ok[1] and ok[1]['peak_rss_mb'])} |"
        )
    return "\n".join(lines)


def results_markdown(header: dict, results: list[dict]) -> str:
    """The results file: how it was run, where, with what, and the table."""
    versions: dict[str, str] = {}
    for r in results:
        for name, value in r.get("versions", {}).items():
            key = name if name in ("ase_mlip", "nequip", "allegro") else f"{name} ({r['impl']})"
            versions.setdefault(key, value)
    models = {}
    for r in results:
        if "error" not in r:
            models.setdefault((r["impl"], r["l_max"]), (r["num_parameters"], r["model"]))
    machine = header["machine"]
    loads = [r["load_1min"] for r in results if "load_1min" in r] or [float("nan")]
    out = [
        "# Allegro energy+forces benchmark (CPU)",
        "",
        f"- command: `{header['command']}`",
        f"- date: {header['date']} (wall time {header['wall_time_s']:.0f} s; cases run: {header['cases_done']})",
        f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gb']} GB RAM, {machine['platform']}, Python {machine['python']}",
        f"- load average (1 min) at start / end: {header['load_start']:.2f} / {header['load_end']:.2f}; "
        f"at the start of the timed calls of each case: {min(loads):.2f} to {max(loads):.2f}",
        f"- torch threads: {header['threads']}; warm-up calls: {header['warmup']}; "
        f"timed calls: >= {header['min_repeats']} and >= {header['min_time']} s (at most {header['max_repeats']})",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + f"; ase-mlip source: git {header['revision']}",
        "- system: bcc Li, a = 3.44 A, r_cut 5.0 A; 2 layers, 32 tensor features, 64 scalar "
        "features, 8 Bessel, p = 6, two-body MLP [128], latent MLP [128, 128], readout [32], parity on",
        "",
        "us/atom: median (and fastest) wall time of one energy+forces evaluation per atom; the "
        "speed-up is the ratio of medians. raw: graph prebuilt; "
        "calc: ASE calculator, neighbour list included. peak MB: high-water resident memory of the "
        "case's own process (libraries included); (eval): peak minus the resident memory just "
        "before the first evaluation. speed-up > 1: ours is faster; memory ours/peer < 1: ours uses less.",
        "",
        results_table(results),
        "",
        "Parameters and tensor track per model:",
        "",
    ]
    for (impl, l_max), (num_parameters, text) in sorted(models.items()):
        out.append(f"- {impl}, l_max {l_max}: {num_parameters} parameters; `{text}`")
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="atom counts (default 128 432 1024)")
    parser.add_argument("--large", action="store_true", help="add 3456 atoms (peer l_max 2 float64: ~20 GB)")
    parser.add_argument("--l-max", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", default=["raw", "calc"], choices=["raw", "calc"])
    parser.add_argument("--impl", nargs="+", default=["ours", "peer"], choices=["ours", "peer"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads per case (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first, at least 1 (default 2)")
    parser.add_argument("--min-repeats", type=int, default=3)
    parser.add_argument("--max-repeats", type=int, default=20)
    parser.add_argument("--min-time", type=float, default=2.0, help="time at least this many seconds per case")
    parser.add_argument("--python", default=sys.executable, help="interpreter with ase_mlip (default: this one)")
    parser.add_argument("--peer-python", default=None, help="interpreter with nequip-allegro (default: this one if it has it)")
    parser.add_argument("--mem-limit-gb", type=float, default=10.0, help="kill a case above this RSS (0: no limit)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="kill a case after this many seconds")
    parser.add_argument("--output", type=Path, default=None, help="write the results file here (.md; a .json beside it)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        print(RESULT_TAG + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return 0

    sizes = sorted(set((args.sizes or DEFAULT_SIZES) + (LARGE_SIZES if args.large else [])))
    for size in sizes:
        if size not in REPEATS_OF_SIZE:
            raise SystemExit(f"--sizes: {size} is not one of {sorted(REPEATS_OF_SIZE)} (2 n^3 atoms of bcc)")
    pythons = {"ours": args.python, "peer": args.peer_python or sys.executable}
    impls = list(args.impl)
    if "peer" in impls and not _python_can_import(pythons["peer"], "allegro"):
        print(f"peer skipped: {pythons['peer']} cannot import allegro (pass --peer-python)", flush=True)
        impls.remove("peer")
    if "ours" in impls and not _python_can_import(pythons["ours"], "ase_mlip.potential"):
        print(f"ours skipped: {pythons['ours']} cannot import ase_mlip.potential", flush=True)
        impls.remove("ours")

    header = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "revision": source_revision(),
        "load_start": os.getloadavg()[0],
        "threads": args.threads,
        "warmup": args.warmup,
        "min_repeats": args.min_repeats,
        "max_repeats": args.max_repeats,
        "min_time": args.min_time,
    }
    start = time.monotonic()
    results = []
    common = {k: getattr(args, k) for k in ("threads", "warmup", "min_repeats", "max_repeats", "min_time")}
    # ours and peer back to back for each setting: they see the same machine load
    cases = [
        {"impl": impl, "l_max": l_max, "dtype": dtype, "n_atoms": n_atoms, "mode": mode, **common}
        for l_max, dtype, n_atoms, mode, impl in itertools.product(args.l_max, args.dtypes, sizes, args.modes, impls)
    ]
    num_cases = len(cases)
    for case in cases:
        result = run_case(pythons[case["impl"]], case, args.threads, 1024 * args.mem_limit_gb, args.timeout)
        results.append(result)
        label = f"{case['impl']:4s} l_max={case['l_max']} {case['dtype']} {case['n_atoms']:5d} {case['mode']:4s}"
        if "error" in result:
            print(f"{label}: {result['error']}", flush=True)
        else:
            print(
                f"{label}: {result['us_per_atom']:8.1f} us/atom  peak {result['peak_rss_mb']:7.0f} MB "
                f"(eval {result['peak_rss_mb'] - result['rss_before_mb']:6.0f} MB)  "
                f"x{result['repeats']}  load {result['load_1min']:.1f}",
                flush=True,
            )
        write_results(args.output, header, results, start, num_cases)
    report = write_results(args.output, header, results, start, num_cases)
    print()
    print(report)
    if args.output is not None:
        print(f"written: {args.output} and {args.output.with_suffix('.json')}")
    return 0


def write_results(output: Path | None, header: dict, results: list[dict], start: float, num_cases: int) -> str:
    """Render the results file (and its .json) from the cases run so far; return the markdown."""
    header["load_end"] = os.getloadavg()[0]
    header["wall_time_s"] = time.monotonic() - start
    header["cases_done"] = f"{len(results)} of {num_cases}"
    report = results_markdown(header, results)
    if output is not None:  # rewritten after every case: a run cut short keeps what it measured
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
        output.with_suffix(".json").write_text(json.dumps({"header": header, "results": results}, indent=1))
    return report


if __name__ == "__main__":
    raise SystemExit(main())
