"""Train and test the shipped Li, Mo and Si potentials on the mlearn benchmark.

One command reproduces the README's comparison with the published methods:

    python benchmarks/mlearn_table.py                  # train (resumable) + evaluate all three
    python benchmarks/mlearn_table.py --skip-training  # evaluate the shipped files only
    python benchmarks/mlearn_table.py --elements Li --readme README.md

For each element it runs ``mlip train potentials/EL/config.yaml --resume``
(so an interrupted benchmark continues where it stopped; a finished run is
not repeated), evaluates ``potentials/EL/EL.mlip`` on the mlearn *test*
split, which training never reads, and writes next to the potential:
``test_errors.json`` (overall and per group, plus training time and best
validation errors), ``parity_test.png``, and copies of the training
``metrics.csv`` and ``learning_curve.png``. The markdown table goes to
``benchmarks/results/mlearn_table.md`` and, with ``--readme``, between the
markers ``<!-- mlearn-table:start -->`` and ``<!-- mlearn-table:end -->``.

Published test MAEs (energy meV/atom / force component eV/A) on the same
splits: GAP and MTP from Zuo et al., J. Phys. Chem. A 124, 731 (2020);
NNP, SNAP and qSNAP from evaluating the released mlearn models on the same
test files (numbers as listed in the project's issue 3).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (energy MAE meV/atom, force MAE eV/A) on the mlearn test splits.
PUBLISHED = {
    "Li": {"GAP": (0.49, 0.01), "MTP": (0.49, 0.010), "NNP": (0.75, 0.017),
           "SNAP": (1.03, 0.028), "qSNAP": (0.73, 0.033)},
    "Mo": {"GAP": (2.24, 0.09), "MTP": (2.83, 0.09), "NNP": (3.65, 0.125),
           "SNAP": (5.48, 0.207), "qSNAP": (2.77, 0.184)},
    "Si": {"GAP": (2.91, 0.07), "MTP": (2.21, 0.056), "NNP": (5.63, 0.109),
           "SNAP": (6.44, 0.133), "qSNAP": (3.81, 0.116)},
}
METHODS = ["GAP", "MTP", "NNP", "SNAP", "qSNAP"]
START, END = "<!-- mlearn-table:start -->", "<!-- mlearn-table:end -->"


def _run_files(cfg) -> list[tuple[Path, str]]:
    """(run folder, suffix) of each training run of a config: one, or one per committee member."""
    from ase_mlip.training import member_config

    if not cfg.committee_seeds:
        return [(Path(cfg.output_dir), "")]
    return [(Path(member_config(cfg, seed).output_dir), f"_seed{seed}") for seed in cfg.committee_seeds]


def _train(element: str, threads: int | None) -> None:
    from ase_mlip.training import load_config, train

    overrides = {"num_threads": threads} if threads else {}
    cfg = load_config(REPO / "potentials" / element / "config.yaml", **overrides)
    train(cfg, resume=True)
    for out, suffix in _run_files(cfg):
        for name in ("metrics.csv", "learning_curve.png"):
            if (out / name).exists():
                stem, ext = name.rsplit(".", 1)
                shutil.copy(out / name, REPO / "potentials" / element / f"{stem}{suffix}.{ext}")


def _training_time_s(folder: Path) -> float | None:
    """Summed epoch times of the metrics files next to a potential (every member's for a committee)."""
    import csv

    total, found = 0.0, False
    for path in sorted(folder.glob("metrics*.csv")):
        with open(path) as handle:
            total += sum(float(r["epoch_time_s"]) for r in csv.DictReader(handle))
        found = True
    return total if found else None


def _evaluate(element: str) -> dict:
    from ase_mlip import load_potential
    from ase_mlip.training import evaluate, format_errors

    folder = REPO / "potentials" / element
    pot_path = folder / f"{element}.mlip"
    if not pot_path.exists():
        raise FileNotFoundError(f"{pot_path} does not exist; train it first (drop --skip-training)")
    pot = load_potential(pot_path)
    summary, collector = evaluate(pot, REPO / "data" / "mlearn" / element / "test.json")
    print(f"{element} test split:\n{format_errors(summary)}")
    collector.plot_parity(folder / "parity_test.png", title=f"{element}: mlearn test split")
    record = pot.metadata.get("training", {})
    result = {
        "element": element,
        "potential": str(pot_path.relative_to(REPO)),
        "test_file": f"data/mlearn/{element}/test.json",
        "test": summary,
        "best_epoch": record.get("best_epoch"),
        "epochs_run": record.get("epochs_run"),
        "best_validation": record.get("best_validation"),
        "committee_seeds": record.get("committee_seeds"),
        "training_time_s": _training_time_s(folder),
        "num_threads": (record.get("config") or {}).get("num_threads"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor()}".strip(),
        "python": platform.python_version(),
    }
    (folder / "test_errors.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(results: dict[str, dict]) -> str:
    """Markdown table: ours next to the published MAEs (energy meV/atom / force eV/A)."""
    lines = [
        "| | ase-mlip (this repo) | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for element, result in results.items():
        m = result["test"]["all"]
        ours = f"{m['energy_mae_meV_per_atom']:.2f} / {m['forces_mae_eV_per_A']:.3f}"
        published = [f"{e:.2f} / {f:.3f}" for e, f in (PUBLISHED[element][k] for k in METHODS)]
        lines.append(f"| {element} | {ours} | " + " | ".join(published) + " |")
    lines.append("")
    lines.append("Test-split MAE, energy (meV/atom) / force components (eV/A). Training: ")
    notes = []
    for element, result in results.items():
        t = result.get("training_time_s")
        when = (f"{t / 60:.1f} min wall on {result.get('num_threads')} thread(s)" if t
                else "time not recorded")
        if t and result.get("committee_seeds"):
            when = f"{t / 60:.1f} min wall summed over the members' runs (README: how each ran)"
        best_e = min(PUBLISHED[element][k][0] for k in METHODS)
        best_f = min(PUBLISHED[element][k][1] for k in METHODS)
        m = result["test"]["all"]
        epochs = result.get("epochs_run")
        if isinstance(epochs, list):  # a committee: one run per member
            epochs = f"committee of {len(epochs)} ({' + '.join(str(e) for e in epochs)})"
        notes.append(
            f"{element} {epochs} epochs, {when}; vs best published: energy "
            f"{100 * (m['energy_mae_meV_per_atom'] / best_e - 1):+.0f}%, force "
            f"{100 * (m['forces_mae_eV_per_A'] / best_f - 1):+.0f}%"
        )
    lines[-1] += "; ".join(notes) + ". Reproduce: `python benchmarks/mlearn_table.py`."
    return "\n".join(lines)


def _update_readme(path: Path, text: str) -> None:
    content = path.read_text()
    if START not in content or END not in content:
        print(f"{path} has no {START} ... {END} markers; table not inserted")
        return
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    print(f"table written into {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", nargs="+", default=["Li", "Mo", "Si"], choices=list(PUBLISHED))
    parser.add_argument("--skip-training", action="store_true", help="evaluate the shipped files only")
    parser.add_argument("--threads", type=int, default=None, help="override num_threads of the configs")
    parser.add_argument("--readme", default=None, help="insert the table into this README (markers)")
    args = parser.parse_args(argv)
    results = {}
    for element in args.elements:
        if not args.skip_training:
            start = time.perf_counter()
            _train(element, args.threads)
            print(f"{element}: training step took {time.perf_counter() - start:.0f} s")
        results[element] = _evaluate(element)
    text = table(results)
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlearn_table.md").write_text(text + "\n")
    print(text)
    if args.readme:
        _update_readme(Path(args.readme), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
