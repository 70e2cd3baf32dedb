"""Close contacts in hot MD: a shipped potential with and without its ZBL term.

The shipped files add the ZBL repulsion below the shortest distance of their
training data (``zbl_r_cut`` in ``potentials/*/config.yaml``). This runs the
heating ramp of ``sam_study.py`` (Langevin NVT, the thermostat target rising
linearly from ``--temperature-K`` to ``--final-temperature-K`` over ``--steps``
steps) with the shipped file and with the same network without the term, from
the same seeds, and reports the temperature at which each run failed: the
smallest distance below ``--min-distance``, a force above ``--max-force`` or a
non-finite energy. With ``--trap-fs T`` a close pair ends the run only once it
has stayed below ``--min-distance`` for T fs: a hard collision rebounds within a
few steps, a pair caught in a spurious well does not.

    python benchmarks/close_contact_md.py --element Li --seeds 3
    python benchmarks/close_contact_md.py --element Li --seeds 3 --trap-fs 100
    python benchmarks/close_contact_md.py --steps 20 --seeds 1      # smoke run

Results: ``benchmarks/results/close_contact_md_<element>.json`` and ``.md``,
with settings, date, machine and versions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

CRYSTALS = {"Li": ("Li", "bcc", 3.44, 3), "Mo": ("Mo", "bcc", 3.16, 3), "Si": ("Si", "diamond", 5.43, 2)}


def network_only(path: Path, out: Path) -> Path:
    """Write the potential of ``path`` without its ZBL term to ``out``."""
    from ase_mlip import build_potential, load_potential

    pot = load_potential(path)
    if pot.zbl is None:
        raise ValueError(f"{path} has no ZBL term to compare against")
    config = {k: v for k, v in pot.config.items() if k not in ("zbl", "zbl_r_cut")}
    plain = build_potential({**config, "dtype": str(pot.dtype).replace("torch.", "")})
    missing, unexpected = plain.load_state_dict(pot.state_dict(), strict=False)
    assert not missing and all(k.startswith("zbl.") for k in unexpected), (missing, unexpected)
    plain.metadata = dict(pot.metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    plain.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    from bench_allegro import machine_info
    from sam_study import _versions, heating_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--element", choices=sorted(CRYSTALS), default="Li")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--final-temperature-K", type=float, default=3000.0)
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--min-distance", type=float, default=1.5)
    parser.add_argument("--max-force", type=float, default=20.0)
    parser.add_argument("--trap-fs", type=float, default=0.0,
                        help="a pair must stay below --min-distance this long to end a run (0: at once)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--output-dir", default=str(REPO / "runs" / "close_contact_md"))
    parser.add_argument("--results", default=None,
                        help="JSON path (default benchmarks/results/close_contact_md_<element>[_trap<T>fs].json)")
    args = parser.parse_args(argv)

    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from ase.build import bulk

    from ase_mlip import load_potential

    element, structure, a, repeat = CRYSTALS[args.element]
    trap_steps = max(1, round(args.trap_fs / args.timestep_fs))
    trap_flag = f" --trap-fs {args.trap_fs:g}" if args.trap_fs else ""
    shipped = REPO / "potentials" / element / f"{element}.mlip"
    arms = {"with ZBL (shipped)": shipped,
            "network only": network_only(shipped, Path(args.output_dir) / f"{element}_network_only.mlip")}
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {(arm, seed): pool.submit(heating_run, str(path), seed, args.temperature_K,
                                            args.final_temperature_K, args.steps, args.timestep_fs,
                                            args.min_distance, args.max_force, repeat, 1,
                                            (element, structure, a), trap_steps)
                   for arm, path in arms.items() for seed in range(args.seeds)}
        runs = {key: future.result() for key, future in futures.items()}

    results = {arm: [runs[(arm, seed)] for seed in range(args.seeds)] for arm in arms}
    natoms = len(bulk(element, structure, a=a, cubic=True)) * repeat**3
    md = (f"Langevin NVT, {natoms} {structure} {element} atoms, target {args.temperature_K:g} -> "
          f"{args.final_temperature_K:g} K linearly over {args.steps} steps of {args.timestep_fs:g} fs, "
          "friction 0.01/fs, float64")
    held = f" for {trap_steps} consecutive steps ({trap_steps * args.timestep_fs:g} fs)" if trap_steps > 1 else ""
    criterion = (f"one pair closer than {args.min_distance} A{held}, or |F| > {args.max_force} eV/A, "
                 "or a non-finite energy")
    record = {"element": element, "settings": vars(args), "md": md, "failure_criterion": criterion,
              "zbl_r_cut_A": load_potential(shipped).zbl_r_cut, "results": results,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "versions": _versions()}
    name = f"close_contact_md_{element}" + (f"_trap{args.trap_fs:g}fs" if args.trap_fs else "")
    out = Path(args.results or REPO / "benchmarks" / "results" / f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Close contacts in hot MD: {element}", "",
             f"`python benchmarks/close_contact_md.py --element {element} --seeds {args.seeds} "
             f"--steps {args.steps}{trap_flag}` on {record['date'][:10]}; machine: {record['machine']['cpu']}, "
             f"{record['machine']['logical_cores']} cores; "
             f"versions: {record['versions']}.", "", f"MD: {md}. Failure: {criterion}. "
             f"The shipped file's ZBL term ends at {record['zbl_r_cut_A']} A.", "",
             "| potential | failed runs | target K at failure (why), per seed | mean K "
             f"| closest A, per seed | other approaches below {args.min_distance} A, per seed |",
             "|---|---|---|---|---|---|"]
    for arm, rows in results.items():
        temps = [r["temperature_K"] for r in rows]
        closest = ", ".join(f"{r['closest_A']:.2f}" for r in rows)
        approaches = ", ".join(str(r["approaches"]) for r in rows)
        cells = [f"{r['temperature_K']:.0f} ({r['reason']})" if r["failed"] else
                 f"{r['temperature_K']:.0f} (survived)" for r in rows]
        lines.append(f"| {arm} | {sum(r['failed'] for r in rows)} of {len(rows)} | {'; '.join(cells)} | "
                     f"{sum(temps) / len(temps):.0f} | {closest} | {approaches} |")
        print(lines[-1])
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"written to {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
