#!/usr/bin/env bash
# Set up (or refresh) the project's environment in .venv; sourced by main.sh and test.sh.
#
# - The venv sees the system's site-packages, so a CUDA build of torch that is
#   already installed is used as it is and never replaced.
# - Where no torch can be imported, the CPU build of torch 2.13.0 is installed
#   first, so that the package's unpinned `torch>=2.1` does not pull CUDA wheels.
# - The editable install is refreshed only when setup.cfg or pyproject.toml change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$python" -m venv --system-site-packages .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
if ! python -c "import torch" >/dev/null 2>&1; then
    echo "[setup] no torch found: installing the CPU build torch==2.13.0"
    python -m pip install --quiet --disable-pip-version-check torch==2.13.0
fi
stamp=".venv/.ase-mlip-installed"
want="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! python -c "import ase_mlip" >/dev/null 2>&1; then
    echo "[setup] installing ase-mlip and its dependencies"
    python -m pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
    python -c "import ase_mlip" || { echo "[setup] installation failed" >&2; exit 1; }
    echo "$want" > "$stamp"
fi
