"""``mlip committee OUT MEMBER MEMBER...``: one potential file averaging several."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ase_mlip import make_committee

    committee = make_committee(args.members)
    committee.save(args.output)
    print(f"committee of {len(committee.members)} members ({', '.join(committee.metadata['members_from'])}), "
          f"species {committee.species}, r_cut {committee.r_cut} A, written to {args.output}")
    return 0


def register(subparsers) -> None:
    """Add the ``committee`` sub-command."""
    parser = subparsers.add_parser(
        "committee",
        help="join potentials into one committee file (their average, with its spread)",
        description="Write one potential file whose energies, forces and stresses are the averages of "
        "the members'. ASE, LAMMPS and mlip evaluate run it like any potential file, at the members' "
        "summed cost; MLIPCalculator also reports the members' spread (energy_std, forces_std). "
        "Members must have the same species and dtype; committee files given as members are "
        "flattened into their members.",
    )
    parser.add_argument("output", help="the committee file to write")
    parser.add_argument("members", nargs="+", help="two or more potential files")
    parser.set_defaults(func=_run)
