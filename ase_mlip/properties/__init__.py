"""Property tools on top of any ASE calculator: phonons, path-integral MD, spectra.

Phonons (phonopy): :func:`run_phonons`.  Path-integral MD: :class:`PIMD`.
Spectra and structure from trajectories: :func:`vibrational_dos`,
:func:`radial_distribution`, :func:`mean_squared_displacement`; momenta at a
temperature: :func:`thermalize`.  Running an
ASE calculator as an i-PI client: :func:`run_ipi_client`.
"""

from ._estimators import block_average
from ._ipi import run_ipi_client
from ._md import thermalize
from ._phonons import PhononResults, phonopy_force_constants, relax_structure, run_phonons
from ._pimd import PIMD
from ._spectra import (
    diffusion_coefficient,
    frame_velocities,
    mean_squared_displacement,
    radial_distribution,
    read_frames,
    unwrap_positions,
    velocity_autocorrelation,
    vibrational_dos,
)

__all__ = [
    "PIMD",
    "PhononResults",
    "block_average",
    "diffusion_coefficient",
    "frame_velocities",
    "mean_squared_displacement",
    "phonopy_force_constants",
    "radial_distribution",
    "read_frames",
    "relax_structure",
    "run_ipi_client",
    "run_phonons",
    "thermalize",
    "unwrap_positions",
    "velocity_autocorrelation",
    "vibrational_dos",
]
