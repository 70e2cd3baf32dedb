"""Time training steps of the shipped configs: ours now against ours at another revision.

A training step is what ``mlip train`` does per batch: energies, forces by a
backward pass that keeps its graph, the weighted loss, its backward and an
Adam step. Each case runs in a fresh subprocess on the config's training
data (the same first batches in the same order every time), after warm-up
steps; the figure is the median over repeats of the mean time per step.

``--ref REV`` also times the code of git revision REV (exported with
``git archive`` into a temporary directory) in the same run, alternating the
two, so that a change to the kernels can be measured against what it
replaces on the same machine and load. Results go to
``results/training_steps.{json,md}``.

    python benchmarks/bench_training.py --ref HEAD~1 --elements Mo Si --threads 1 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_allegro import machine_info  # same directory; standard library only

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

_CHILD = r"""
import json, sys, time
import torch
sys.path.insert(0, sys.argv[1])
from ase_mlip.training._config import load_config
from ase_mlip.training import _trainer
from ase_mlip.training._loss import predict, batch_errors, weighted_loss
from ase_mlip.data._graph import batch_graphs
config, steps, warmup, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
cfg = load_config(config)
species, train, val = _trainer._load_data(cfg, lambda line: None)
potential, graphs, _, _ = _trainer._build(cfg, species, train, val, lambda line: None)
dtype = potential.energy_shift.dtype
params = [p for p in potential.parameters() if p.requires_grad]
optimizer = torch.optim.Adam(params, lr=1e-4)
b = cfg.batch_size
def step(i):
    chosen = [graphs[(i * b + k) % len(graphs)] for k in range(b)]
    batch = batch_graphs(chosen, dtype=dtype)
    optimizer.zero_grad()
    errors = batch_errors(predict(potential, batch, True), batch, None)
    loss, _ = weighted_loss(errors, cfg.energy_weight, cfg.forces_weight, cfg.stress_weight)
    loss.backward()
    optimizer.step()
for i in range(warmup):
    step(i)
start = time.perf_counter()
for i in range(warmup, warmup + steps):
    step(i)
print(json.dumps({"s_per_step": (time.perf_counter() - start) / steps,
                  "edges_per_step": sum(graphs[k % len(graphs)].edge_index.shape[1]
                                        for k in range(warmup * b, (warmup + steps) * b)) / steps}))
"""


# Settings that organise runs (which seeds, which split) but do not change a training step;
# left out of the timed config so that revisions older than them read it.
_RUN_ONLY = ("committee_seeds", "split_seed")


def _step_config(config: Path, out: Path) -> Path:
    """A copy of ``config`` without the run-only settings, its paths made absolute."""
    import yaml

    data = yaml.safe_load(config.read_text())
    for key in _RUN_ONLY:
        data.pop(key, None)
    for key in ("train_file", "validation_file", "output_dir", "potential_file"):
        value = data.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            data[key] = str((config.parent / value).resolve())
        elif isinstance(value, list):
            data[key] = [v if Path(v).is_absolute() else str((config.parent / v).resolve()) for v in value]
    out.write_text(yaml.safe_dump(data))
    return out


def _export(rev: str, where: Path) -> Path:
    """The tree of ``rev`` as plain files under ``where``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def _time(code_root: Path, config: Path, steps: int, warmup: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(code_root), str(config), str(steps), str(warmup),
                          str(threads)], check=True, capture_output=True, text=True, env=env, cwd=config.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _revision(rev: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                          capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", nargs="+", default=["Li", "Mo", "Si"])
    parser.add_argument("--threads", nargs="+", type=int, default=[2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref", help="git revision to time beside the working tree")
    parser.add_argument("--out", default=str(RESULTS / "training_steps"))
    args = parser.parse_args(argv)

    import torch

    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    codes = {"working tree": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        if args.ref:
            codes[f"{args.ref} ({_revision(args.ref)})"] = _export(args.ref, Path(tmp))
        rows = []
        for element in args.elements:
            config = _step_config(ROOT / "potentials" / element / "config.yaml", Path(tmp) / f"{element}.yaml")
            for threads in args.threads:
                times = {name: [] for name in codes}
                edges = None
                for _ in range(args.repeats):  # alternate, so that load drifts hit both alike
                    for name, code_root in codes.items():
                        result = _time(code_root, config, args.steps, args.warmup, threads)
                        times[name].append(result["s_per_step"])
                        edges = result["edges_per_step"]
                row = {"element": element, "threads": threads, "edges_per_step": edges,
                       "s_per_step": {name: statistics.median(t) for name, t in times.items()},
                       "all_s_per_step": times}
                rows.append(row)
                print(element, threads, {k: round(v, 4) for k, v in row["s_per_step"].items()}, flush=True)

    head = _revision("HEAD")
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"command": "python benchmarks/bench_training.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{machine_info()['cpu']}, {os.cpu_count()} cores, {platform.platform()}",
            "python": platform.python_version(), "torch": torch.__version__,
            "working_tree": head + (" + uncommitted changes" if dirty else ""),
            "load_average_at_start": load_at_start,
            "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    names = list(codes)
    lines = ["# Training step time (shipped configs, mlearn training data)", "",
             *(f"- {k}: {v}" for k, v in meta.items()), "",
             "Median over repeats of the mean seconds per training step (batch of the config's size).", "",
             "| element | threads | edges/step | " + " | ".join(names) + (" | ratio |" if len(names) > 1 else ""),
             "|---|---|---|" + "---|" * len(names) + ("---|" if len(names) > 1 else "")]
    for row in rows:
        cells = [f"{row['s_per_step'][n]:.3f}" for n in names]
        ratio = f" {row['s_per_step'][names[1]] / row['s_per_step'][names[0]]:.2f}x |" if len(names) > 1 else ""
        lines.append(f"| {row['element']} | {row['threads']} | {row['edges_per_step']:.0f} | " + " | ".join(cells)
                     + " |" + ratio)
    if len(names) > 1:
        lines += ["", f"ratio: {names[1]} time over working-tree time (above 1: the working tree is faster)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
