"""Small helpers for ASE molecular dynamics."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def thermalize(atoms: Atoms, temperature_K: float, rng: np.random.Generator | None = None) -> None:
    """Draw Maxwell-Boltzmann momenta at ``temperature_K`` for ``atoms``.

    Uses ASE's ``thermalize_momenta`` (ASE >= 3.29) and falls back to
    ``MaxwellBoltzmannDistribution`` on older ASE, which 3.29 deprecates.
    """
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
        return
    thermalize_momenta(atoms, temperature_K, rng=rng)
