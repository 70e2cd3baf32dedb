"""Run any ASE calculator (ours included) as a client of i-PI.

i-PI (Kapil et al., Comput. Phys. Commun. 236, 214, 2019) runs the path-integral
dynamics itself and asks force clients over a socket for the energy, forces and
virial of each bead.  ASE's :class:`ase.calculators.socketio.SocketClient` speaks
that protocol; this wrapper connects it to an :class:`ase_mlip.MLIPCalculator`
(or any calculator).  In i-PI's ``input.xml`` declare a ``<ffsocket mode="unix">``
with ``<address>NAME</address>`` (socket file ``/tmp/ipi_NAME``) or
``mode="inet"`` with a host and port, start i-PI, then start the client::

    mlip pimd potential.mlip structure.xyz --ipi-unix NAME

or from Python ``run_ipi_client(atoms, MLIPCalculator("potential.mlip"), unixsocket="NAME")``.
Several clients may connect to one server to share the beads.  The client uses the
atoms only as a template (species, and the cell when i-PI sends none); positions
and cell come from i-PI at each request.
"""

from __future__ import annotations

from ase import Atoms
from ase.calculators.calculator import Calculator

__all__ = ["run_ipi_client"]


def run_ipi_client(
    atoms: Atoms,
    calculator: Calculator,
    *,
    unixsocket: str | None = None,
    host: str = "localhost",
    port: int | None = None,
    use_stress: bool | None = None,
    timeout: float | None = None,
    log=None,
) -> None:
    """Serve energies, forces (and stresses) to an i-PI-protocol server until it exits.

    Parameters
    ----------
    atoms : ase.Atoms
        Template structure with the same atoms, in the same order, as i-PI's.
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator, e.g. :class:`ase_mlip.MLIPCalculator`.
    unixsocket : str, optional
        Name of a UNIX socket (the file ``/tmp/ipi_<name>``); use this or ``port``.
    host, port : str, int
        Internet socket of the server.
    use_stress : bool, optional
        Send the virial from the stress; default: when the structure is 3-D periodic
        and the calculator gives stresses.
    timeout : float, optional
        Seconds to wait for the server.
    log : file, optional
        Protocol log.
    """
    from ase.calculators.socketio import SocketClient

    if (unixsocket is None) == (port is None):
        raise ValueError("give exactly one of unixsocket='NAME' or port=NUMBER (with host=...)")
    if use_stress is None:
        use_stress = bool(atoms.pbc.all() and "stress" in calculator.implemented_properties)
    template = atoms.copy()
    template.calc = calculator
    client = SocketClient(host=host, port=port, unixsocket=unixsocket, timeout=timeout, log=log)
    try:
        client.run(template, use_stress=use_stress)
    finally:
        client.close()
