"""Training configuration: a YAML file mapped onto one dataclass.

Every key but ``train_file`` has a default; unknown keys are refused with
the list of known ones. Relative paths written in a YAML file are taken
relative to the folder holding that file, so a config works from any working
directory; the default ``output_dir`` is relative to the working directory.

Example (``potentials/Li/config.yaml`` shortened; that file has every setting)::

    train_file: ../../data/mlearn/Li/training.json
    validation_fraction: 0.1
    output_dir: ../../runs/Li        # checkpoint, metrics.csv, learning_curve.png
    potential_file: Li.mlip          # next to this config
    model: {species: [Li], r_cut: 5.0, num_layers: 2, l_max: 3}
    energy_weight: 20.0
    forces_weight: 1.0
    max_epochs: 150
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

__all__ = ["TrainConfig", "load_config"]

_LOSSES = ("mse", "huber")
_OPTIMIZERS = ("adam", "adamw")
_SCHEDULES = ("constant", "cosine", "plateau")
_DTYPES = ("float32", "float64")


@dataclass
class TrainConfig:
    """Everything ``mlip train`` needs, with documented defaults.

    Data
    ----
    train_file : str or list of str
        Training data: mlearn JSON or any ``ase.io`` file with energy and forces.
    validation_file : str or list of str or None
        Separate validation data; when None, ``validation_fraction`` of the
        training structures (chosen with ``seed``) are held out.
    validation_fraction : float
        Fraction held out for validation when no validation file is given (0.1).
    stratify_validation : bool
        Take that fraction from each group (``config_type``/mlearn ``group``)
        separately, so that every group of two or more structures is in the
        validation set (False: one random draw over all structures, where a
        rare group can be missing from validation).
    data_format : str or None
        Force a reader (``"mlearn"`` or an ``ase.io`` format); guessed if None.

    Output
    ------
    output_dir : str
        Folder for the checkpoint, metrics CSV and learning curve ("runs/train").
    potential_file : str or None
        The best-validation EMA potential (None: ``output_dir/potential.mlip``).

    Model
    -----
    model : dict
        Hyperparameters for :func:`ase_mlip.build_potential` (``species``,
        ``r_cut``, ``num_layers``, ...). ``species`` defaults to the
        elements found in the training data (sorted); ``dtype`` and ``seed``
        are taken from this config. ``avg_num_neighbors`` is measured on the
        training data unless given here.
    fit_energy_shift : bool
        Fit per-species energy shifts by least squares on the training set (True).
    fit_energy_scale : bool
        Set the energy scale to the training force RMS, eV/Angstrom (True).

    Loss
    ----
    energy_weight, forces_weight, stress_weight : float
        Weights of the energy-per-atom (eV/atom), force-component (eV/A)
        and stress-component (eV/A^3) terms (1.0, 1.0, 0.0).
    group_weights : dict
        Loss weight per group (``config_type``/mlearn ``group``), e.g.
        ``{Surface: 5.0}``: the energy, force and stress errors of every
        structure of that group count this many times in the training and
        validation losses; groups not named count once ({}). Use it for a
        kind of structure that is rare in the data but matters (surfaces,
        defects). Every named group must occur in the training data.
    stage_two_fraction : float
        Fraction of ``max_epochs`` at the end trained with
        ``stage_two_energy_weight`` instead of ``energy_weight`` (0.0: no
        second stage). A small energy weight first lets the forces shape the
        model quickly; a large one at the end, at small learning rates, brings
        the energies down (the two-stage recipe of MACE). The best-validation
        potential is chosen among the second-stage epochs.
    stage_two_energy_weight : float or None
        Energy weight of the second stage (None: ``energy_weight``).
    stage_two_restart : bool
        At the switch, clear the optimiser's moment estimates and ramp the
        learning rate up again over ``warmup_epochs`` (at least one epoch)
        (True). Adam's second-moment estimates were gathered at the old loss
        scale; kept, they make the first second-stage steps far too large
        and undo much of what the first stage reached.
    stage_two_lr_scale : float
        Factor on the learning rate of the second stage (1.0). Below 1 the
        second stage corrects the energies with smaller steps and undoes less
        of the force fit (on mlearn Si at 0.1, validation force MAE 0.067
        against 0.071 eV/A at the end, for a tied best validation loss).
    loss : {"mse", "huber"}
        Error function of every term ("mse").
    huber_delta : float
        Huber transition point in the unit of each term (0.01).

    Optimisation
    ------------
    optimizer : {"adam", "adamw"}
        Base optimiser ("adam").
    lr : float
        Peak learning rate (0.002).
    weight_decay : float
        Weight decay (0.0; decoupled for AdamW).
    batch_size : int
        Structures per optimiser step (4).
    max_epochs : int
        Upper limit of epochs (100).
    sam : bool
        Wrap the optimiser with sharpness-aware minimisation (False).
    sam_rho : float
        SAM neighbourhood radius (0.005).
    sam_adaptive : bool
        Use adaptive SAM (ASAM) (False).
    ema_decay : float
        Decay of the weight EMA used for validation and the saved file (0.99).
        After ``n`` optimiser steps the decay used is ``min(ema_decay, (1 + n) /
        (10 + n))``, so a value above 0.99 takes effect only after about
        ``9 / (1 - ema_decay)`` steps; 0 turns the average off.
    lr_schedule : {"constant", "cosine", "plateau"}
        Shape of the learning-rate schedule after warm-up ("plateau").
    warmup_epochs : float
        Linear warm-up length in epochs (0).
    lr_min : float
        Floor of cosine and plateau schedules (1e-6).
    plateau_factor : float
        Plateau reduction factor (0.5).
    plateau_patience : int
        Epochs without validation improvement before reducing (10).
    early_stopping_patience : int or None
        Stop after this many epochs without validation improvement (None: never).
    grad_clip : float or None
        Clip the global gradient norm to this value (None: no clipping).
    divergence_factor : float or None
        Stop when an epoch's mean training loss is not finite or exceeds this
        multiple of the lowest one of its stage (1000; None: never). Once the
        loss has jumped that far the weights are ruined and the rest of the
        run would be spent on them; the potential file keeps the best epoch
        before the jump. Lower ``lr`` and start again.
    zbl_after_training : float or None
        Add the ZBL repulsion, ending at this radius (A), to the potential file
        after training (:func:`ase_mlip.with_zbl`; None: no). Fitted networks
        have spurious wells below the shortest distance of their data, which
        hot MD falls into; this makes close contacts repulsive. Below the data's
        shortest distance the network is the one ``zbl: true, zbl_r_cut`` under
        ``model`` would train, and the recorded validation errors hold; a little
        above it, it changes the few structures that reach inside. The model
        must not have ``zbl`` itself.

    Numerics
    --------
    dtype : {"float32", "float64"}
        Floating precision of model and data ("float64").
    seed : int
        Seed of weight initialisation, validation split and shuffling (0).
    split_seed : int or None
        Seed of the validation split alone (None: ``seed``). Members of a
        committee trained with different ``seed`` and the same ``split_seed``
        share one validation set, on which the committee can be judged.
    committee_seeds : list of int or None
        Train a committee (:class:`ase_mlip.Committee`) instead of one model
        (None): one member per seed, one after the other, each with every
        other setting of this config, all on the validation split of
        ``split_seed`` (or ``seed``). Member k trains in
        ``output_dir/member_<seed>`` (its checkpoint, metrics and file; a
        killed committee run resumes there); ``potential_file`` receives the
        committee. Its training record holds each member's and the
        committee's errors on the shared validation set.
    num_threads : int or None
        ``torch.set_num_threads`` value, per worker (None: torch's default with
        one worker; the CPU cores divided among the workers with several).
    num_workers : int
        Processes that share each batch (data parallelism, ``torch.distributed``
        with gloo, CPU only) (1). Each computes the loss of its part of the
        batch and the gradients are summed before every step, so the step is
        that of the whole batch. On 2 cores, 2 workers of 1 thread each ran
        the shipped configs' training steps 1.3-1.4x faster than 1 process
        with 2 threads with the kernels before 2026-12-08; with the faster
        kernels since, the two are about level (README). Results match a single-process run to rounding only;
        with the same ``num_workers`` and threads a run is repeatable and
        resumes exactly.
    device : {"cpu", "cuda", "auto"}
        Where to train ("cpu"; "auto" picks CUDA when available).
    progress : bool
        Show a tqdm progress bar (True).
    """

    train_file: str | list[str] = ""
    validation_file: str | list[str] | None = None
    validation_fraction: float = 0.1
    stratify_validation: bool = False
    data_format: str | None = None
    output_dir: str = "runs/train"
    potential_file: str | None = None
    model: dict = field(default_factory=dict)
    fit_energy_shift: bool = True
    fit_energy_scale: bool = True
    energy_weight: float = 1.0
    forces_weight: float = 1.0
    stress_weight: float = 0.0
    group_weights: dict = field(default_factory=dict)
    stage_two_fraction: float = 0.0
    stage_two_energy_weight: float | None = None
    stage_two_restart: bool = True
    stage_two_lr_scale: float = 1.0
    loss: str = "mse"
    huber_delta: float = 0.01
    optimizer: str = "adam"
    lr: float = 0.002
    weight_decay: float = 0.0
    batch_size: int = 4
    max_epochs: int = 100
    sam: bool = False
    sam_rho: float = 0.005
    sam_adaptive: bool = False
    ema_decay: float = 0.99
    lr_schedule: str = "plateau"
    warmup_epochs: float = 0.0
    lr_min: float = 1e-6
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    early_stopping_patience: int | None = None
    grad_clip: float | None = None
    divergence_factor: float | None = 1000.0
    zbl_after_training: float | None = None
    dtype: str = "float64"
    seed: int = 0
    split_seed: int | None = None
    committee_seeds: list[int] | None = None
    num_threads: int | None = None
    num_workers: int = 1
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.train_file, (str, os.PathLike)):
            self.train_file = [os.fspath(self.train_file)] if self.train_file else []
        if not self.train_file:
            raise ValueError("train_file is required: a data file (mlearn JSON, extxyz, OUTCAR, ...)")
        self.train_file = [os.fspath(p) for p in self.train_file]
        if isinstance(self.validation_file, (str, os.PathLike)):
            self.validation_file = [os.fspath(self.validation_file)]
        choices = [("loss", _LOSSES), ("optimizer", _OPTIMIZERS), ("lr_schedule", _SCHEDULES),
                   ("dtype", _DTYPES)]
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: {getattr(self, name)!r} is unknown; use one of {allowed}")
        positive = ["lr", "batch_size", "max_epochs", "huber_delta"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("energy_weight", "forces_weight", "stress_weight", "weight_decay",
                     "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.validation_file is None and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}; "
                "or give a validation_file"
            )
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device {self.device!r} is unknown; use 'cpu', 'cuda' or 'auto'")
        if not (isinstance(self.num_workers, int) and self.num_workers >= 1):
            raise ValueError(f"num_workers must be an integer >= 1, got {self.num_workers!r}")
        if self.num_workers > 1 and self.device != "cpu":
            raise ValueError(f"num_workers > 1 trains on the CPU only, got device {self.device!r}; "
                             "set device: cpu or num_workers: 1")
        if self.num_workers > self.batch_size:
            raise ValueError(f"num_workers ({self.num_workers}) must not exceed batch_size "
                             f"({self.batch_size}): every worker takes a part of each batch")
        if self.sam and not self.sam_rho > 0:
            raise ValueError(f"sam_rho must be > 0 when sam is on, got {self.sam_rho}")
        if not 0.0 <= self.stage_two_fraction < 1.0:
            raise ValueError(f"stage_two_fraction must be in [0, 1), got {self.stage_two_fraction}")
        if not self.stage_two_lr_scale > 0.0:
            raise ValueError(f"stage_two_lr_scale must be > 0, got {self.stage_two_lr_scale}")
        if self.stage_two_energy_weight is not None and self.stage_two_energy_weight < 0:
            raise ValueError(f"stage_two_energy_weight must be >= 0, got {self.stage_two_energy_weight}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        if self.divergence_factor is not None and not self.divergence_factor > 1:
            raise ValueError(f"divergence_factor must be > 1 or null, got {self.divergence_factor}")
        if not isinstance(self.group_weights, dict):
            raise TypeError(f"group_weights must be a mapping of group name to weight, "
                            f"got {self.group_weights!r}")
        self.group_weights = {str(k): float(v) for k, v in self.group_weights.items()}
        for group, w in self.group_weights.items():
            if not (w >= 0 and w < float("inf")):
                raise ValueError(f"group_weights[{group!r}] must be a finite number >= 0, got {w}")
        if not isinstance(self.model, dict):
            raise TypeError(f"model must be a mapping of hyperparameters, got {self.model!r}")
        if self.zbl_after_training is not None:
            if self.model.get("zbl"):
                raise ValueError("zbl_after_training adds ZBL to a network trained without it, but the "
                                 "model has zbl: true; keep one of the two")
            r_cut = self.model.get("r_cut")
            if not 0 < self.zbl_after_training <= (r_cut if r_cut is not None else float("inf")):
                raise ValueError(f"zbl_after_training must lie in (0, r_cut = {r_cut}] A, "
                                 f"got {self.zbl_after_training}")
        if self.committee_seeds is not None:
            seeds = self.committee_seeds
            if (not isinstance(seeds, (list, tuple)) or len(seeds) < 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
                    or len(set(seeds)) != len(seeds)):
                raise ValueError(f"committee_seeds must list two or more different integers, got {seeds!r}; "
                                 "or null for a single model")
            self.committee_seeds = list(seeds)
        for key in ("dtype", "seed"):
            if key in self.model:
                raise ValueError(f"set {key} at the top level of the training config, not under model")

    @property
    def potential_path(self) -> Path:
        """Where the trained potential is written."""
        if self.potential_file is None:
            return Path(self.output_dir) / "potential.mlip"
        return Path(self.potential_file)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of all settings."""
        return asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


_PATH_KEYS = ("train_file", "validation_file", "output_dir", "potential_file")


def load_config(source: str | os.PathLike | dict, **overrides) -> TrainConfig:
    """Read a training config from YAML (or a dict) into :class:`TrainConfig`.

    Parameters
    ----------
    source : path or dict
        YAML file or mapping. Relative paths in a YAML file are resolved
        against the file's folder.
    **overrides
        Settings that replace those of the file.

    Returns
    -------
    TrainConfig
    """
    base = Path(".")
    if isinstance(source, (str, os.PathLike)):
        import yaml

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"training config {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
        base = path.parent
    elif isinstance(source, dict):
        data = dict(source)
    else:
        raise TypeError(f"config must be a YAML path or a dict, got {type(source).__name__}")
    data.update(overrides)
    unknown = sorted(set(data) - set(TrainConfig.keys()))
    if unknown:
        raise ValueError(f"unknown training settings {unknown}; known: {TrainConfig.keys()}")

    def resolve(p):
        return p if os.path.isabs(p) else os.path.normpath(base / p)

    for key in _PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            data[key] = resolve(value)
        elif isinstance(value, list):
            data[key] = [resolve(v) for v in value]
    return TrainConfig(**data)
