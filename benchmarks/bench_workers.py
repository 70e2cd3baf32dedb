"""Epoch time of the shipped training configs with one process or several workers.

``mlip train`` runs a few epochs of ``potentials/EL/config.yaml`` (in a
temporary output folder; for a committee config, of one member) once as one process with ``--threads`` torch threads
and once as ``--workers`` data-parallel workers (``num_workers``) of one
thread each, alternating the two ``--repeats`` times, so that load drifts hit
both alike. The figure is the median epoch time (``epoch_time_s`` of
``metrics.csv``: the training steps and the validation of one epoch) over the
epochs after the first of every repeat; the first epoch also warms up
allocators. Results go to ``results/training_workers.{json,md}``.

    python benchmarks/bench_workers.py --elements Li Mo Si --epochs 3 --repeats 2
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from bench_allegro import machine_info  # same directory; standard library only

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _epoch_times(element: str, epochs: int, workers: int, threads: int, tmp: Path) -> list[float]:
    """Epoch times (s) of one short run of the shipped config of ``element``."""
    config_path = ROOT / "potentials" / element / "config.yaml"
    cfg = yaml.safe_load(config_path.read_text())
    run = tmp / f"{element}-{workers}x{threads}"
    for key in ("train_file", "validation_file"):
        if isinstance(cfg.get(key), str):
            cfg[key] = str((config_path.parent / cfg[key]).resolve())
    cfg.pop("committee_seeds", None)  # a committee's members train one after the other: time one
    cfg.update(output_dir=str(run), potential_file=str(run / "potential.mlip"), max_epochs=epochs,
               num_workers=workers, num_threads=threads, progress=False)
    path = tmp / f"{element}-{workers}x{threads}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = "import sys; from ase_mlip.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", command, "train", str(path)], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    with open(run / "metrics.csv") as handle:
        times = [float(row["epoch_time_s"]) for row in csv.DictReader(handle)]
    for leftover in run.iterdir():
        leftover.unlink()
    run.rmdir()
    return times[1:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", nargs="+", default=["Li", "Mo", "Si"])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is not counted)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the single process")
    parser.add_argument("--workers", type=int, default=2, help="workers of one thread each")
    parser.add_argument("--out", default=str(RESULTS / "training_workers"))
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not counted")

    import torch

    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cases = {f"1 process x {args.threads} threads": (1, args.threads),
             f"{args.workers} workers x 1 thread": (args.workers, 1)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for element in args.elements:
            times = {name: [] for name in cases}
            for _ in range(args.repeats):
                for name, (workers, threads) in cases.items():
                    times[name] += _epoch_times(element, args.epochs, workers, threads, Path(tmp))
            row = {"element": element, "epoch_s": {n: statistics.median(t) for n, t in times.items()},
                   "all_epoch_s": times}
            rows.append(row)
            print(element, {k: round(v, 2) for k, v in row["epoch_s"].items()}, flush=True)

    meta = {"command": "python benchmarks/bench_workers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{machine_info()['cpu']}, {os.cpu_count()} cores, {platform.platform()}",
            "python": platform.python_version(), "torch": torch.__version__,
            "working_tree": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
            "load_average_at_start": load_at_start, "epochs_per_run": args.epochs, "repeats": args.repeats}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    names = list(cases)
    lines = ["# Training epoch time: one process against data-parallel workers", "",
             *(f"- {k}: {v}" for k, v in meta.items()), "",
             "Median seconds per epoch (training steps and validation) of the shipped configs on "
             "their mlearn training data, the first epoch of every run left out.", "",
             "| element | " + " | ".join(names) + " | speed-up |", "|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        t = [row["epoch_s"][n] for n in names]
        lines.append(f"| {row['element']} | " + " | ".join(f"{v:.1f}" for v in t) + f" | {t[0] / t[1]:.2f}x |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
