"""Error metrics, the metrics CSV, learning curves and parity plots.

Reported units: energy per atom in meV/atom, force components in
eV/Angstrom, stress components (the six Voigt ones) in GPa. MAE and RMSE are
taken over structures (energy), force components and stress components.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from ase.units import GPa

from ase_mlip.data import GraphBatch

from ._loss import Errors, Prediction, with_group_weights

__all__ = ["ErrorCollector", "error_summary", "write_csv", "plot_learning_curve", "plot_parity"]

_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


def _mae_rmse(x: np.ndarray) -> tuple[float, float]:
    if x.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(np.abs(x))), float(np.sqrt(np.mean(x * x)))


def error_summary(energy_error: np.ndarray, forces_error: np.ndarray,
                  stress_error: np.ndarray) -> dict[str, float]:
    """MAE and RMSE in reporting units.

    Parameters
    ----------
    energy_error : numpy.ndarray
        (num_structures,) energy-per-atom errors, eV/atom.
    forces_error : numpy.ndarray
        (num_atoms, 3) force errors, eV/Angstrom.
    stress_error : numpy.ndarray
        (num_with_stress, 6) Voigt stress errors, eV/Angstrom^3.

    Returns
    -------
    dict
        ``energy_mae_meV_per_atom``, ``energy_rmse_meV_per_atom``,
        ``forces_mae_eV_per_A``, ``forces_rmse_eV_per_A``,
        ``stress_mae_GPa``, ``stress_rmse_GPa``, ``num_structures``.
    """
    e_mae, e_rmse = _mae_rmse(np.asarray(energy_error) * 1000.0)
    f_mae, f_rmse = _mae_rmse(np.asarray(forces_error).ravel())
    s_mae, s_rmse = _mae_rmse(np.asarray(stress_error).ravel() / GPa)
    return {
        "energy_mae_meV_per_atom": e_mae, "energy_rmse_meV_per_atom": e_rmse,
        "forces_mae_eV_per_A": f_mae, "forces_rmse_eV_per_A": f_rmse,
        "stress_mae_GPa": s_mae, "stress_rmse_GPa": s_rmse,
        "num_structures": int(np.asarray(energy_error).size),
    }


class ErrorCollector:
    """Gather predictions and references over batches, then summarise.

    Keeps, per structure, its group, energy per atom (eV/atom), forces
    (eV/Angstrom) and Voigt stress (eV/Angstrom^3), predicted and reference.
    """

    def __init__(self):
        self.groups: list[str] = []
        self.names: list[str] | None = None  # "FILE[INDEX]" per structure, when known
        self.energy = []  # (pred, ref) eV/atom per structure
        self.forces = []  # (pred [n,3], ref [n,3]) per structure
        self.stress = []  # (pred [6], ref [6]) or None per structure

    def add(self, prediction: Prediction, batch: GraphBatch) -> None:
        n = batch.num_atoms.cpu().numpy()
        e_pred = prediction.energy.detach().cpu().numpy() / n
        e_ref = batch.energy.cpu().numpy() / n
        f_pred = np.split(prediction.forces.detach().cpu().numpy(), np.cumsum(n)[:-1])
        f_ref = np.split(batch.forces.cpu().numpy(), np.cumsum(n)[:-1])
        s_pred = prediction.stress.detach().cpu().numpy()[:, _VOIGT[0], _VOIGT[1]]
        s_ref = batch.stress.cpu().numpy()[:, _VOIGT[0], _VOIGT[1]]
        has = batch.has_stress.cpu().numpy()
        for k, group in enumerate(batch.groups):
            self.groups.append(group)
            self.energy.append((e_pred[k], e_ref[k]))
            self.forces.append((f_pred[k], f_ref[k]))
            self.stress.append((s_pred[k], s_ref[k]) if has[k] else None)

    def _arrays(self, mask: np.ndarray):
        idx = np.flatnonzero(mask)
        energy = np.array([self.energy[i] for i in idx]).reshape(-1, 2)
        forces = [self.forces[i] for i in idx]
        f_pred = np.concatenate([f[0] for f in forces]) if forces else np.zeros((0, 3))
        f_ref = np.concatenate([f[1] for f in forces]) if forces else np.zeros((0, 3))
        stress = [self.stress[i] for i in idx if self.stress[i] is not None]
        s = np.array(stress).reshape(-1, 2, 6)
        return energy, f_pred, f_ref, s

    def summary(self, by_group: bool = True) -> dict:
        """``{"all": {...}, "groups": {group: {...}}}`` of :func:`error_summary`."""
        groups = np.array(self.groups)
        out = {"all": self._summary(np.ones(len(groups), bool))}
        if by_group:
            out["groups"] = {g: self._summary(groups == g) for g in sorted(set(self.groups))}
        return out

    def _summary(self, mask: np.ndarray) -> dict:
        energy, f_pred, f_ref, s = self._arrays(mask)
        return error_summary(energy[:, 0] - energy[:, 1], f_pred - f_ref, s[:, 0] - s[:, 1])

    def per_structure(self) -> list[dict]:
        """Errors of each structure, in the order they were added.

        Each entry: ``name`` ("FILE[INDEX]" when known, else the position),
        ``group``, ``num_atoms``, ``energy_error_meV_per_atom`` (predicted
        minus reference, signed), ``forces_mae_eV_per_A``,
        ``forces_rmse_eV_per_A``, ``forces_max_eV_per_A`` (the largest
        per-atom error vector length; 0 without atoms) and ``stress_mae_GPa``
        (None without a stress label).
        """
        rows = []
        for k, group in enumerate(self.groups):
            e_pred, e_ref = self.energy[k]
            f_err = self.forces[k][0] - self.forces[k][1]
            f_mae, f_rmse = _mae_rmse(f_err.ravel())
            stress = self.stress[k]
            rows.append({
                "name": self.names[k] if self.names is not None else str(k),
                "group": group,
                "num_atoms": int(f_err.shape[0]),
                "energy_error_meV_per_atom": float((e_pred - e_ref) * 1000.0),
                "forces_mae_eV_per_A": f_mae,
                "forces_rmse_eV_per_A": f_rmse,
                "forces_max_eV_per_A": float(np.linalg.norm(f_err, axis=1).max()) if len(f_err) else 0.0,
                "stress_mae_GPa": (float(np.mean(np.abs(stress[0] - stress[1]))) / GPa
                                   if stress is not None else None),
            })
        return rows

    def errors(self, dtype: torch.dtype = torch.float64,
               group_weights: Mapping[str, float] | None = None) -> Errors:
        """All errors as :class:`Errors` (for the validation loss), with group weights if given."""
        energy, f_pred, f_ref, s = self._arrays(np.ones(len(self.groups), bool))
        s_err = s[:, 0] - s[:, 1]  # [M, 6] -> symmetric [M, 3, 3]
        full = np.zeros((s_err.shape[0], 3, 3))
        full[:, _VOIGT[0], _VOIGT[1]] = s_err
        full[:, _VOIGT[1], _VOIGT[0]] = s_err
        errors = Errors(
            energy_per_atom=torch.as_tensor(energy[:, 0] - energy[:, 1], dtype=dtype),
            forces=torch.as_tensor(f_pred - f_ref, dtype=dtype),
            stress=torch.as_tensor(full, dtype=dtype),
        )
        atom_structure = np.repeat(np.arange(len(self.forces)), [f[0].shape[0] for f in self.forces])
        has_stress = np.array([x is not None for x in self.stress], dtype=bool)
        return with_group_weights(errors, self.groups, group_weights, atom_structure, has_stress)

    def plot_parity(self, path: str | os.PathLike, title: str = "") -> None:
        """Write parity plots (energy, forces, stress) to a PNG file."""
        plot_parity(self, path, title)


def write_csv(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Write rows of metrics to a CSV file atomically (replacing it)."""
    path = Path(path)
    if not rows:
        return
    columns = list(rows[0])
    for row in rows[1:]:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _savefig(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def plot_learning_curve(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Plot training/validation loss and validation errors against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    epoch = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].semilogy(epoch, [r["train_loss"] for r in rows], label="train")
    axes[0].semilogy(epoch, [r["val_loss"] for r in rows], label="validation (EMA)")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    axes[1].semilogy(epoch, [r["val_energy_mae_meV_per_atom"] for r in rows])
    axes[1].set_ylabel("validation energy MAE (meV/atom)")
    axes[2].semilogy(epoch, [r["val_forces_mae_eV_per_A"] for r in rows])
    axes[2].set_ylabel("validation force MAE (eV/A)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _savefig(fig, Path(path))
    plt.close(fig)


def plot_parity(collector: ErrorCollector, path: str | os.PathLike, title: str = "") -> None:
    """Parity plots of predicted vs reference energy, forces and stress, by group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = np.array(collector.groups)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    panels = [("energy (eV/atom)", 1.0), ("force component (eV/A)", 1.0), ("stress (GPa)", 1 / GPa)]
    for group in sorted(set(collector.groups)):
        energy, f_pred, f_ref, s = collector._arrays(groups == group)
        data = [(energy[:, 1], energy[:, 0]), (f_ref.ravel(), f_pred.ravel()),
                (s[:, 1].ravel(), s[:, 0].ravel())]
        for ax, (ref, pred), (_, unit) in zip(axes, data, panels):
            if ref.size:
                ax.scatter(ref * unit, pred * unit, s=6, alpha=0.6, label=group)
    for ax, (label, _) in zip(axes, panels):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"predicted {label}")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _savefig(fig, Path(path))
    plt.close(fig)
