"""Typed, frozen configuration: suites expand into experiments, experiments into cells.

Everything a TOML suite says is parsed into these dataclasses and validated up front, so a typo in
a suite fails before the first model trains, with the bad value named.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

from bench import validate
from datasets.augment import Augment
from results.errors import UserError
from results.record import CellInfo, kind_label

BACKENDS = ("tensorflow", "jax", "torch")
# Backends on which ``jit_compile`` switches XLA on and off; JAX always compiles with XLA (off
# would run op by op) and on PyTorch it means ``torch.compile``, so those cells keep the default.
XLA_BACKENDS = ("tensorflow",)
# Device, precision and data-parallel axes (bench.devices puts a cell on them).
DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Cell-id suffixes of the non-default precisions; the defaults add nothing to the id.
PRECISION_TAGS = {"float32": "", "mixed_float16": "-fp16", "mixed_bfloat16": "-bf16"}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def freeze_options(pairs) -> tuple[tuple[str, Any], ...]:
    """Dataset options as a sorted tuple of pairs, from a dict or (JSON) list of pairs."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return tuple(sorted((k, _freeze(v)) for k, v in items))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training budget and optimizer of one cell (AdamW, warm-up + cosine decay, early stopping)."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0
    patience: int = 5
    gradient_interval: int = 50  # steps between gradient-flow recordings (bench.gradflow)
    steps_per_execution: int = 1  # training steps per compiled call (Keras compile)
    # Keyword spotting: compute the log-mel features of the corpus once and train the encoder
    # on them (the saved model still takes raw audio; bench.tasks.kws): training steps about
    # 1.7-2x faster on a 2-core CPU (bench/benchmarks/frontend_ab.py). False: every step
    # recomputes them inside the model (needed for waveform augmentation in the pipeline).
    # Speech recognition always trains on audio.
    precompute_features: bool = False  # on: train the trunk on log-mel computed once (kws)
    # Training-time augmentation ([train.augment]; None: none, the committed baselines' setting).
    augment: Augment | None = None
    # Start from another cell's trained encoder (bench.transfer): a saved ``.keras`` path,
    # ``RUN_DIR:CELL_ID``, or ``@EXPERIMENT`` (the same model's cell of an earlier experiment of
    # this run). None: from scratch.
    init_from: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):  # from a run's suite.json
            object.__setattr__(self, "augment", Augment(**self.augment))
        _check(
            self.augment is None or isinstance(self.augment, Augment),
            f"train.augment must be a table. Received: augment={self.augment!r}",
        )
        _check(
            not (self.precompute_features and self.augment is not None and self.augment.waveform),
            "train.precompute_features trains on features computed once, which waveform "
            "augmentation (time shift, noise, speed) would never reach: set one of them off. "
            f"Received: precompute_features=True, augment={self.augment}",
        )
        _check(
            self.init_from is None or (isinstance(self.init_from, str) and self.init_from.strip()),
            f"train.init_from must be a non-empty string. Received: init_from={self.init_from!r}",
        )
        _check(self.epochs >= 1, f"train.epochs must be >= 1. Received: epochs={self.epochs}")
        _check(
            self.batch_size >= 1,
            f"train.batch_size must be >= 1. Received: batch_size={self.batch_size}",
        )
        _check(
            self.learning_rate > 0,
            f"train.learning_rate must be > 0. Received: learning_rate={self.learning_rate}",
        )
        _check(
            self.weight_decay >= 0,
            f"train.weight_decay must be >= 0. Received: weight_decay={self.weight_decay}",
        )
        _check(
            0 <= self.warmup_epochs < self.epochs,
            f"train.warmup_epochs must be in [0, epochs). Received: warmup_epochs="
            f"{self.warmup_epochs}",
        )
        _check(self.patience >= 1, f"train.patience must be >= 1. Received: {self.patience}")
        _check(
            self.gradient_interval >= 1,
            f"train.gradient_interval must be >= 1. Received: {self.gradient_interval}",
        )
        _check(
            isinstance(self.steps_per_execution, int) and self.steps_per_execution >= 1,
            f"train.steps_per_execution must be an integer >= 1. Received: "
            f"{self.steps_per_execution}",
        )
        _check(
            isinstance(self.precompute_features, bool),
            f"train.precompute_features must be true or false. Received: "
            f"{self.precompute_features!r}",
        )


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A preset swept over depths (in residual blocks) and residual/plain.

    ``block`` is the residual block variant (``models.blocks.VARIANTS``); ``post`` is the
    published form of each family.
    """

    preset: str
    depths: tuple[int, ...] = ()
    residual: tuple[bool, ...] = (True, False)
    width: float | None = None
    block: str = "post"

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(self.depths))
        object.__setattr__(self, "residual", tuple(self.residual))
        _check(
            all(isinstance(d, int) and d >= 1 for d in self.depths),
            f"model depths must be integers >= 1. Received: depths={list(self.depths)}",
        )
        _check(
            len(self.residual) > 0 and all(isinstance(r, bool) for r in self.residual),
            f"model residual must be a non-empty list of booleans. Received: {self.residual}",
        )
        _check(
            self.width is None or self.width > 0,
            f"model width must be > 0. Received: width={self.width}",
        )


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One task on one dataset (with its options), a training budget and the models to sweep."""

    name: str
    task: str
    dataset: str
    dataset_options: tuple[tuple[str, Any], ...]
    train: TrainConfig
    models: tuple[ModelSpec, ...]
    # Keras backends to run the cells on (None: the running process's) and XLA on/off
    # (None: Keras's default); both are axes of the sweep, for timing cells.
    backends: tuple[str | None, ...] = (None,)
    jit_compile: tuple[bool | None, ...] = (None,)
    # Where and how each cell runs (bench.devices): device, precision policies (an axis) and
    # data-parallel replicas (the batch size is the global batch).
    device: str = "auto"
    precision: tuple[str, ...] = ("float32",)
    replicas: int = 1
    # This experiment's seeds, when not the suite's (e.g. one seed for an expensive task).
    seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "backends", tuple(self.backends))
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))
            validate.check_seeds(list(self.seeds), f"experiment {self.name!r}")
        object.__setattr__(self, "jit_compile", tuple(self.jit_compile))
        if isinstance(self.precision, str):
            object.__setattr__(self, "precision", (self.precision,))
        object.__setattr__(self, "precision", tuple(self.precision))
        _check(
            self.device in DEVICES,
            f"experiment {self.name!r}: device must be one of {DEVICES}. "
            f"Received: device={self.device!r}",
        )
        _check(
            bool(self.precision) and all(p in PRECISIONS for p in self.precision),
            f"experiment {self.name!r}: precision must be a non-empty list of {PRECISIONS}. "
            f"Received: precision={list(self.precision)}",
        )
        _check(
            isinstance(self.replicas, int) and self.replicas >= 1,
            f"experiment {self.name!r}: replicas must be an integer >= 1. "
            f"Received: replicas={self.replicas!r}",
        )
        _check(bool(self.models), f"experiment {self.name!r} lists no models")
        _check(
            bool(self.backends) and all(b is None or b in BACKENDS for b in self.backends),
            f"experiment {self.name!r}: backends must be a non-empty list of {BACKENDS}. "
            f"Received: backends={list(self.backends)}",
        )
        _check(
            bool(self.jit_compile)
            and all(j is None or isinstance(j, bool) for j in self.jit_compile),
            f"experiment {self.name!r}: jit_compile must be a non-empty list of booleans. "
            f"Received: jit_compile={list(self.jit_compile)}",
        )

    def variants(self) -> list[tuple[str | None, bool | None]]:
        """(backend, jit_compile) pairs of the sweep; XLA on/off only where it applies."""
        out = []
        for backend in self.backends:
            applies = backend is None or backend in XLA_BACKENDS
            for jit in self.jit_compile if applies else (None,):
                if (backend, jit) not in out:
                    out.append((backend, jit))
        return out

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.dataset_options)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One trained model: (task, dataset, preset, depth, residual, seed) plus its budget.

    ``model_options`` are the keyword arguments of ``models.build``/``models.describe``.
    """

    experiment: str
    task: str
    dataset: str
    dataset_options: tuple[tuple[str, Any], ...]
    preset: str
    depth: int | None
    width: float | None
    residual: bool
    seed: int
    train: TrainConfig
    block: str = "post"
    backend: str | None = None  # None: the running process's Keras backend
    jit_compile: bool | None = None  # None: Keras's default ("auto")
    device: str = "auto"  # auto | cpu | gpu (bench.devices)
    precision: str = "float32"  # a Keras dtype policy name
    replicas: int = 1  # data-parallel devices; train.batch_size is the global batch

    @property
    def id(self) -> str:
        """A stable file-name-safe id, e.g. ``kws-synth-words-tc-resnet8-d3-res-s0``; a
        backend and XLA setting, when the suite sweeps them, end it (``-jax``, ``-tf-xla``),
        then a non-default device, precision and replica count (``-gpu-bf16-r2``): cells with
        the defaults keep the ids they had before these axes existed."""
        depth = "dp" if self.depth is None else f"d{self.depth}"
        width = "" if self.width is None else f"-w{self.width:g}"
        kind = ("res" if self.residual else "plain") + (
            "" if self.block == "post" else f"-{self.block}"
        )
        run = ""
        if self.backend is not None:
            run += "-" + {"tensorflow": "tf"}.get(self.backend, self.backend)
        if self.jit_compile is not None:
            run += "-xla" if self.jit_compile else "-noxla"
        if self.device != "auto":
            run += f"-{self.device}"
        run += PRECISION_TAGS[self.precision]
        if self.replicas != 1:
            run += f"-r{self.replicas}"
        return (
            f"{self.task}-{self.experiment}-{self.preset}{width}-{depth}-{kind}-s{self.seed}{run}"
        )

    @property
    def model_options(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "width": self.width,
            "residual": self.residual,
            "block": self.block,
        }

    @property
    def kind(self) -> str:
        """``residual``/``plain`` (with a non-default block variant), as the reports label it."""
        return kind_label(self.residual, self.block)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in every model sidecar."""
        out = dataclasses.asdict(self)
        out["dataset_options"] = dict(self.dataset_options)
        out["id"] = self.id
        return out

    def info(self) -> CellInfo:
        """The cell as the result record's ``CellInfo``."""
        out = self.to_dict()
        return CellInfo(**out)


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one cell asks of a cluster node when it runs as a Ray task (``[resources]``).

    ``memory`` is in bytes (None: no reservation). Only the ray executor reads these; the local
    executor runs one cell at a time in its own process.
    """

    num_cpus: float = 1
    num_gpus: float = 0
    memory: int | None = None

    def __post_init__(self) -> None:
        _check(self.num_cpus > 0, f"resources.num_cpus must be > 0. Received: {self.num_cpus}")
        _check(self.num_gpus >= 0, f"resources.num_gpus must be >= 0. Received: {self.num_gpus}")
        _check(
            self.memory is None or (isinstance(self.memory, int) and self.memory > 0),
            f"resources.memory must be a positive number of bytes. Received: {self.memory}",
        )


@dataclasses.dataclass(frozen=True)
class Suite:
    """A declarative benchmark: experiments × seeds (an experiment may name its own), expanded
    into cells."""

    name: str
    description: str
    seeds: tuple[int, ...]
    experiments: tuple[Experiment, ...]
    resources: Resources = Resources()
    # Cells at once on one machine (``bench run --jobs``); None: as many as its cores allow.
    # A suite that times speed sets 1, so no cell shares the machine while it is timed.
    jobs: int | None = None

    def __post_init__(self) -> None:
        _check(bool(self.seeds), f"suite {self.name!r} lists no seeds")
        _check(
            self.jobs is None or self.jobs >= 1,
            f"suite {self.name!r}: jobs must be >= 1. Received: jobs={self.jobs}",
        )
        names = [e.name for e in self.experiments]
        _check(
            len(set(names)) == len(names),
            f"suite {self.name!r} has duplicate experiment names: {names}",
        )

    def cells(self) -> list[Cell]:
        """Expand into cells in a stable order: experiment, model, depth, residual, seed."""
        out = []
        for exp in self.experiments:
            runs = itertools.product(exp.models, exp.variants(), exp.precision)
            for spec, (backend, jit), precision in runs:
                for depth in spec.depths or (None,):
                    for residual in spec.residual:
                        for seed in exp.seeds or self.seeds:
                            out.append(
                                Cell(
                                    experiment=exp.name,
                                    task=exp.task,
                                    dataset=exp.dataset,
                                    dataset_options=exp.dataset_options,
                                    preset=spec.preset,
                                    depth=depth,
                                    width=spec.width,
                                    residual=residual,
                                    seed=seed,
                                    train=exp.train,
                                    block=spec.block,
                                    backend=backend,
                                    jit_compile=jit,
                                    device=exp.device,
                                    precision=precision,
                                    replicas=exp.replicas,
                                )
                            )
        return out

    def to_json(self) -> str:
        """The resolved suite as JSON; default ``resources`` are left out, so the ``suite.json``
        of runs made before the ``[resources]`` table existed still match (and resume)."""
        data = dataclasses.asdict(self)
        if self.resources == Resources():
            del data["resources"]
        del data["jobs"]  # how a run runs, not what: a resume may use other jobs
        for exp in data["experiments"]:
            if exp["seeds"] is None:  # the suite's: left out, as for runs made before the key
                del exp["seeds"]
        return json.dumps(data, indent=2, default=str)

    @classmethod
    def from_dict(cls, data: dict) -> Suite:
        """The inverse of ``to_json``'s data (a run directory's ``suite.json``)."""
        experiments = []
        for e in data["experiments"]:
            e = dict(e)
            e["dataset_options"] = freeze_options(e.get("dataset_options") or ())
            e["train"] = TrainConfig(**e["train"])
            e["models"] = tuple(ModelSpec(**m) for m in e["models"])
            experiments.append(Experiment(**e))
        resources = Resources(**data.get("resources", {}))
        return cls(
            data["name"], data["description"], tuple(data["seeds"]), tuple(experiments), resources
        )
