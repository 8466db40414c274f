"""A cell's outcome as one typed, versioned record: what the harness writes and everyone reads.

``CellResult`` is a frozen dataclass with a ``schema_version``. The harness builds it (the
runner, from the training loop's ``Outcome``), ``results.store`` writes it as
``cells/<cell-id>.json``, and the reports and ``bench check`` read it back with
``CellResult.from_dict``, which upgrades older files (schema 1: the untyped dicts written before
this module) and refuses newer ones, naming the file.

Parts common to every task are typed fields (identity, status, metrics, timing, speed, gradient
flow); what only one task produces (a confusion matrix, WER error breakdowns, retrieval curves)
is the task's ``evaluation`` mapping, documented by the task that writes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from results.errors import UserError
from results.metrics import Metric

SCHEMA_VERSION = 2
# Status of a cell: final ones are not re-run on resume; ``error`` is (usually a bug fixed since).
STATUSES = ("ok", "diverged", "oom", "skipped", "error")
FINAL_STATUSES = ("ok", "diverged", "oom", "skipped")
# Keys of a schema-1 file that belong to ``CellResult.evaluation`` in schema 2.
_V1_EVALUATION_KEYS = (
    "labels",
    "confusion_matrix",
    "retrieval",
    "split",
    "n_examples",
    "errors",
    "errors_beam",
    "errors_lm",
    "worst",
    "lm_decoder",
    "term_detection",
    "beam_width",
)


class SchemaError(UserError):
    """A results file that does not match the record schema; the message names the file."""


@dataclasses.dataclass(frozen=True)
class CellInfo:
    """Which cell this is: the harness's ``bench.config.Cell`` as data."""

    id: str
    experiment: str
    task: str
    dataset: str
    preset: str
    depth: int | None
    width: float | None
    residual: bool
    seed: int
    block: str = "post"
    backend: str | None = None
    jit_compile: bool | None = None
    device: str = "auto"  # asked for: auto | cpu | gpu (Speed.device says what it ran on)
    precision: str = "float32"
    replicas: int = 1
    dataset_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``residual`` or ``plain``, suffixed by a block variant other than ``post``."""
        return kind_label(self.residual, self.block)


def kind_label(residual: bool, block: str = "post") -> str:
    """``residual``/``plain`` with ``-<block>`` for a non-default block variant: one labelling
    for the cell ids (``bench.config``) and the reports."""
    return ("residual" if residual else "plain") + ("" if block == "post" else f"-{block}")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """The model a cell trained, as ``models.describe`` resolves it (depth in blocks)."""

    family: str
    preset: str
    depth: int
    layers: int
    width: float
    residual: bool
    block: str = "post"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The corpus a cell trained on: name, split sizes, skipped files, and corpus extras."""

    name: str
    sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)
    skipped: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def skipped_count(self) -> int:
        return int(self.skipped.get("count", 0)) if self.skipped else 0


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall times of training and evaluation (seconds) and the steps taken."""

    train_seconds: float | None = None
    epoch_seconds: tuple[float, ...] = ()
    eval_seconds: float | None = None
    steps: int | None = None
    fit_samples_per_s: float | None = None
    step_seconds: tuple[float, ...] = ()  # every step, for cells that only time steps
    step_losses: tuple[float, ...] = ()  # every step's own loss, for cells that only time steps


@dataclasses.dataclass(frozen=True)
class Speed:
    """How fast a cell ran, measured in the process that trained it (``bench.speed``).

    ``peak_gflops`` is the calibration matmul of that process: speeds of two runs are compared
    after rescaling by it. Percentile mappings are ``{"p10": ..., "p50": ..., "p90": ...}``.
    """

    peak_gflops: float
    flops_per_example: float
    compile_seconds: float
    step_seconds: Mapping[str, float]
    latency_ms: Mapping[str, float]
    infer_samples_per_s: float
    utilization: float
    data_wait_share: float
    train_samples_per_s: float
    steps: int
    warmup_steps: int
    backend: str
    jit_compile: bool
    data_wait_method: str = ""
    omp_wait_policy: str | None = None
    # Where and in which precision the cell ran (bench.devices), and its memory high-water marks
    # (None where not measurable, e.g. device memory on a CPU). Absent in older files.
    device: str | None = None  # "cpu" or "gpu"
    device_count: int | None = None  # devices the cell trained on (replicas)
    device_names: tuple[str, ...] = ()
    precision: str | None = None  # Keras dtype policy
    compute_dtype: str | None = None  # dtype of the calibration matmul (the policy's compute)
    cuda_version: str | None = None  # TensorFlow's build info, on a GPU
    cudnn_version: str | None = None
    host_peak_rss_bytes: float | None = None  # process RSS high-water mark during the cell
    device_peak_bytes: float | None = None  # allocator peak of the first device, on a GPU


# A block is "vanished" below this fraction of the largest block's gradient norm.
VANISHED = 1e-3


@dataclasses.dataclass(frozen=True)
class GradientFlow:
    """Summary of the per-block gradient norms (``bench.gradflow.summarize``).

    ``init`` and ``end`` hold ``first_last_ratio``, ``log10_slope_per_block``,
    ``vanished_fraction`` (blocks below ``VANISHED`` of the largest norm) and ``blocks`` at the
    first and last recorded step.
    """

    init: Mapping[str, float] = dataclasses.field(default_factory=dict)
    end: Mapping[str, float] = dataclasses.field(default_factory=dict)
    steps: int = 0
    interval: int | None = None
    seconds: float | None = None
    overhead: float | None = None


@dataclasses.dataclass(frozen=True)
class CellResult:
    """Everything one cell produced: the record the run directory keeps per cell."""

    cell: CellInfo
    status: str
    model: ModelInfo | None = None
    dataset: DatasetInfo | None = None
    metrics: Mapping[str, Metric] = dataclasses.field(default_factory=dict)
    environment: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    diverged_step: int | None = None
    history: Mapping[str, tuple[float, ...]] = dataclasses.field(default_factory=dict)
    best_epoch: int | None = None
    timing: Timing | None = None
    speed: Speed | None = None
    gradient_flow: GradientFlow | None = None
    tables: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> relative path
    deterministic: bool = True
    evaluation: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # task-specific
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise SchemaError(f"status must be one of {STATUSES}. Received: status={self.status!r}")

    @property
    def id(self) -> str:
        return self.cell.id

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def kind(self) -> str:
        return self.cell.kind

    def value(self, name: str) -> float | None:
        """The value of metric ``name``, or None when the cell did not record it."""
        m = self.metrics.get(name)
        return None if m is None else m.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``from_dict``'s inverse)."""
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<result>") -> CellResult:
        """Parse a results file's data; schema 1 is upgraded, an unknown version refused.

        Raises:
            SchemaError: naming ``source``, the version and what is wrong.
        """
        if not isinstance(data, dict):
            raise SchemaError(f"{source}: a cell result must be a JSON object, not {_kind(data)}")
        version = data.get("schema_version", 1)
        if version == 1:
            data = upgrade_v1(data)
        elif version != SCHEMA_VERSION:
            raise SchemaError(
                f"{source}: cell result schema version {version!r}; this resdepth reads versions "
                f"1-{SCHEMA_VERSION}. Upgrade resdepth, or re-run the cell"
            )
        try:
            return _build(cls, data)
        except (TypeError, KeyError, ValueError) as err:
            raise SchemaError(
                f"{source}: not a valid cell result (schema {version}): {err}"
            ) from err


def upgrade_v1(data: dict) -> dict:
    """A schema-1 result (untyped dict, task extras at the top) in schema 2's layout."""
    data = dict(data)
    evaluation = {k: data.pop(k) for k in _V1_EVALUATION_KEYS if k in data}
    data["evaluation"] = evaluation
    dataset = data.get("dataset")
    if isinstance(dataset, dict):
        data["dataset"] = dataset_info(dataset)
    data["schema_version"] = SCHEMA_VERSION
    return data


def dataset_info(summary: Mapping[str, Any]) -> dict:
    """A dataset's ``summary()`` dict in ``DatasetInfo``'s layout (extras under ``extra``)."""
    summary = dict(summary)
    known = {"name": summary.pop("name", ""), "sizes": summary.pop("sizes", {})}
    known["skipped"] = summary.pop("skipped", {})
    if "extra" in summary and isinstance(summary["extra"], dict) and len(summary) == 1:
        return {**known, "extra": summary["extra"]}
    return {**known, "extra": summary}


# ---- (de)serialization ---------------------------------------------------------------------

_NESTED = {
    "cell": CellInfo,
    "model": ModelInfo,
    "dataset": DatasetInfo,
    "timing": Timing,
    "speed": Speed,
    "gradient_flow": GradientFlow,
}
_TUPLES = {"epoch_seconds", "step_seconds", "step_losses", "device_names"}


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """``cls(**data)`` with nested records built and unknown keys refused by name."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown key(s) {unknown}")
    kwargs = {}
    for key, value in data.items():
        if cls is CellResult and key in _NESTED and value is not None:
            value = _build(_NESTED[key], value) if value else None
        elif key == "metrics" and cls is CellResult:
            value = {n: Metric(**m) for n, m in (value or {}).items()}
        elif key == "history":
            value = {n: tuple(v) for n, v in (value or {}).items()}
        elif key in _TUPLES and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    return obj  # NaN/Infinity stay: json writes them, and a diverged cell has them


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
