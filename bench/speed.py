"""Speed of a cell: step times, data wait, inference latency and utilization against a peak.

Every figure here is taken in the process that trains the cell, on the backend Keras runs:

- ``peak_gflops``: the calibration kernel, a large matrix product in the cell's compute dtype
  (float32, or float16/bfloat16 under a mixed policy) timed on the current backend and device
  (the loop calls it inside the cell's device scope; best of several runs, cached per process,
  dtype and device). Utilization divides achieved FLOP/s by it,
  so a figure taken on one machine can be compared with another's.
- ``StepTimer``: a callback timing every training step. Synchronisation: at the end of each
  step it reads the step's loss back to the host (``convert_to_numpy``), which blocks until the
  device has finished the step, so on a GPU (or JAX's asynchronous dispatch) a step's time
  includes its device work, not only the launch. The first ``warmup`` steps carry the trace and
  compile; their excess over the median is reported as compile time, apart from throughput.
- Data wait: ``pipeline_wait`` times how long a consumer blocks on the training pipeline when it
  pulls a batch every median step, outside the training steps (a stamping op inside the steps
  would run in step with them under op determinism and slow every step), beyond the cost of
  pulling an always-ready batch.
- ``inference``: batch-1 latency (p50, p90) and large-batch throughput of a trained model.

Training FLOPs are counted as three forward passes per example (forward, and a backward pass of
about twice the forward's cost), the usual convention for model-FLOPs utilization.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import time

import keras
import numpy as np

from datasets import pipeline
from results.metrics import Metric
from results.record import Speed

PEAK_SIZE = 1024  # calibration matrix side: 2 * 1024**3 = 2.1 GFLOP per product
PEAK_REPEATS = 12
WARMUP_STEPS = 2  # training steps dropped before the step statistics (trace, compile, caches)
TRAIN_FLOPS_FACTOR = 3  # forward + backward (about twice the forward) per training example
LATENCY_RUNS = 20
THROUGHPUT_BATCH = 256
THROUGHPUT_RUNS = 5
WAIT_PROBE_BATCHES = 10


def _sync(value) -> np.ndarray:
    """The value as numpy: waits for the computation on every backend."""
    return keras.ops.convert_to_numpy(value)


def peak_gflops(
    size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS, dtype: str = "float32"
) -> float:
    """Best ``dtype`` matmul rate on the current device, in GFLOP/s (measured once, cached).

    Best of ``repeats``: other processes on a shared machine can only slow a run down, so the
    fastest is the closest to what the machine can do. Cached per (size, repeats, dtype, device
    scope), so a GPU cell's half-precision peak is measured on the GPU.
    """
    return _peak(size, repeats, dtype, _device_scope())


def _device_scope() -> str:
    if keras.backend.backend() != "tensorflow":
        return ""
    import tensorflow as tf

    return tf.constant(0.0).device  # where an op placed now runs


@functools.cache
def _peak(size: int, repeats: int, dtype: str, device: str) -> float:
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
    b = keras.ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
    _sync(keras.ops.matmul(a, b))  # warm-up: library initialisation, thread pools
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _sync(keras.ops.matmul(a, b))
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def percentiles(values, qs=(10, 50, 90)) -> dict[str, float]:
    """``{"p10": ..., "p50": ..., "p90": ...}`` of ``values`` (NaN when empty)."""
    arr = np.asarray(list(values), dtype=float)
    return {f"p{q}": float(np.percentile(arr, q)) if arr.size else float("nan") for q in qs}


def pipeline_wait(ds, step_seconds: float, batches: int = WAIT_PROBE_BATCHES) -> float:
    """Share of step time a consumer of ``ds`` spends blocked on it, at a step of ``step_seconds``.

    Pulls ``batches`` batches from a fresh iterator, one every ``step_seconds`` (the model's
    median step, during which the pipeline's prefetch can work ahead), and times each blocking
    ``next``. Each pull is paired with a pull, half a step earlier, from an always-ready source
    of the same batch; its time (about 0.5 ms: the Python iterator protocol and an eager tensor,
    which ``fit`` does not pay, as it pulls inside its compiled step) is subtracted, so what is
    left is the time the pipeline itself made the consumer wait. Used for training cells, whose
    steps must not carry a stamping op: under TensorFlow op determinism a stateful op in the
    pipeline runs in step with the consumer and would slow every step. The first batch (iterator
    start, shuffle-buffer fill) is left out. The dataset is repeated, so a training set of a
    single batch (a tiny corpus) is measured across its epochs instead of failing the cell.
    A ``keras.utils.PyDataset`` (JAX, PyTorch) is read the same way, its reader threads
    working ahead as they do in ``fit``; its ready source is the batch itself, repeated.
    """
    it = pipeline.forever(ds)  # epoch after epoch, as fit pulls them: one batch is enough
    ready = _always_ready(next(it))
    next(ready)
    blocked = []
    for _ in range(batches):
        time.sleep(step_seconds / 2)
        t0 = time.perf_counter()
        next(ready)
        baseline = time.perf_counter() - t0
        time.sleep(step_seconds / 2)
        t0 = time.perf_counter()
        try:
            next(it)
        except StopIteration:
            break
        blocked.append(max(0.0, time.perf_counter() - t0 - baseline))
    if not blocked:
        raise ValueError("the pipeline yielded a single batch; no wait to measure")
    return float(np.sum(blocked) / (np.sum(blocked) + len(blocked) * step_seconds))


def _always_ready(batch):
    """An endless source of ``batch`` that costs what pulling from a pipeline costs in Python:
    a tf.data iterator over the tensors on TensorFlow, else the batch itself."""
    if _is_tf(batch):
        import tensorflow as tf

        return iter(tf.data.Dataset.from_tensors(batch).repeat())
    return itertools.repeat(batch)


def _is_tf(batch) -> bool:
    leaves = keras.tree.flatten(batch)
    return bool(leaves) and type(leaves[0]).__module__.startswith("tensorflow")


class StepCount:
    """Training steps completed, from the arguments Keras gives its callbacks.

    With ``steps_per_execution`` k a callback sees one ``on_train_batch_*`` per compiled call,
    that is per k steps, and its ``batch`` argument is the call's last step in the epoch (capped
    here by the epoch's length, ``params["steps"]``, since the last call of an epoch may run
    fewer). Counting calls instead would make a gradient interval or a divergence step k times
    too small.
    """

    def __init__(self) -> None:
        self.done = 0  # steps completed over all epochs
        self._base = 0  # steps completed before this epoch

    def _epoch_steps(self, callback) -> int | None:
        return (getattr(callback, "params", None) or {}).get("steps")

    def upcoming(self, callback, begin: int) -> range:
        """The 1-based step numbers the call starting at epoch step ``begin`` will run."""
        k = getattr(callback.model, "steps_per_execution", 1) or 1
        last = begin + k
        cap = self._epoch_steps(callback)
        if cap:
            last = min(last, cap)
        return range(self._base + begin + 1, self._base + last + 1)

    def end_call(self, callback, batch: int) -> int:
        """Record the call that ended at epoch step ``batch``; the steps completed."""
        cap = self._epoch_steps(callback)
        self.done = self._base + (min(batch + 1, cap) if cap else batch + 1)
        return self.done

    def end_epoch(self) -> None:
        self._base = self.done


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step, and the loss of each step of the first epoch.

    Put it first in the callback list, so its end stamp is taken before other callbacks run.
    The loss Keras hands a batch's end is the epoch's running mean; the timer keeps those means
    (read anyway: they are what it waits on) and ``losses`` recovers each step's own loss from
    them, which says whether a timing cell's loss fell over its few steps.
    """

    def __init__(self, warmup: int = WARMUP_STEPS) -> None:
        super().__init__()
        self.warmup = warmup
        self.begins: list[float] = []
        self.ends: list[float] = []
        self.means: list[float] = []  # running mean loss after each call of the first epoch
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.begins.append(time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            mean = float(np.asarray(_sync(loss)).reshape(-1)[0])
            if self._epoch == 0:
                self.means.append(mean)
        self.ends.append(time.perf_counter())

    @property
    def losses(self) -> np.ndarray:
        """Each compiled call's own mean loss over the first epoch, from the running means:
        ``k * m_k - (k - 1) * m_(k-1)`` (every call is the same number of steps)."""
        means = np.asarray(self.means, dtype=np.float64)
        k = np.arange(1, len(means) + 1)
        return k * means - np.concatenate([[0.0], (k[:-1] * means[:-1])])

    @property
    def seconds(self) -> np.ndarray:
        """Wall time of every step, in order."""
        n = min(len(self.begins), len(self.ends))
        return np.subtract(self.ends[:n], self.begins[:n])

    def summary(self, batch_size: int) -> dict:
        """Step-time percentiles, median throughput and compile time.

        The first ``warmup`` steps (fewer when the run is shorter, always leaving one) are left
        out of the statistics; their excess over the median is the compile time.
        """
        seconds = self.seconds
        if len(seconds) == 0:
            raise ValueError("no training step was timed")
        warmup = min(self.warmup, len(seconds) - 1)
        steady = seconds[warmup:]
        median = float(np.median(steady))
        return {
            "steps": int(len(seconds)),
            "warmup_steps": warmup,
            "step_seconds": percentiles(steady),
            "compile_seconds": float(max(0.0, np.sum(seconds[:warmup] - median))),
            "train_samples_per_s": batch_size / median,
        }


def inference(model: keras.Model, example: np.ndarray, batch: int = THROUGHPUT_BATCH) -> dict:
    """Batch-1 latency (ms, p50/p90) and batch-``batch`` throughput (samples/s) of ``model``.

    ``example`` is one input without the batch axis (e.g. raw audio ``[samples]``). Calls go
    through ``predict_on_batch``, the compiled path a served model takes; the first calls of each
    shape are dropped (tracing).
    """
    one = np.asarray(example, dtype=np.float32)[None]
    many = np.repeat(one, batch, axis=0)
    for _ in range(3):
        model.predict_on_batch(one)
    latencies = []
    for _ in range(LATENCY_RUNS):
        t0 = time.perf_counter()
        model.predict_on_batch(one)
        latencies.append((time.perf_counter() - t0) * 1e3)
    model.predict_on_batch(many)
    big = []
    for _ in range(THROUGHPUT_RUNS):
        t0 = time.perf_counter()
        model.predict_on_batch(many)
        big.append(time.perf_counter() - t0)
    lat = percentiles(latencies, (50, 90))
    return {"latency_ms": lat, "infer_samples_per_s": batch / float(np.median(big))}


def utilization(flops_per_example: float, samples_per_s: float, peak: float) -> float:
    """Achieved training FLOP/s over the calibration peak (both in FLOP/s, peak in GFLOP/s)."""
    return TRAIN_FLOPS_FACTOR * flops_per_example * samples_per_s / (peak * 1e9)


SPEED_METRICS = (
    "latency_p50_ms",
    "latency_p90_ms",
    "infer_samples_per_s",
    "flops_per_example",
    "utilization",
    "data_wait_share",
    "compile_seconds",
)


def cell_speed(
    model: keras.Model,
    step_timing: dict,
    example: np.ndarray,
    *,
    samples=None,
    jit_compile=None,
    dtype: str = "float32",
    front_end: keras.Model | None = None,
) -> tuple[Speed, dict[str, Metric]]:
    """A trained cell's speed record and its headline speed metrics.

    Args:
        model: the trained model as saved (raw audio in); it must be compiled (``jit_compile``
            is read from it).
        step_timing: ``StepTimer.summary`` of its training, with ``data_wait_share`` added
            (``pipeline_wait``).
        example: one input for the latency measurement, without batch axis.
        samples: input samples per training example for the FLOP count (default: the example's).
        jit_compile: whether training ran XLA-compiled (default: ``model.jit_compile``).
        dtype: the cell's compute dtype: the calibration peak is measured in it.
        front_end: the part of ``model`` computed once before training (precomputed
            features), whose FLOPs the training steps do not spend: left out of the
            utilization (``flops_per_example`` stays the served model's).

    Returns:
        ``(speed, metrics)``: the record's ``Speed`` and the speed metrics declared in
        ``results.metrics`` (``train_samples_per_s`` excepted, which the loop records).
    """
    from bench import flops

    peak = peak_gflops(dtype=dtype)
    per_example = flops.per_example(model, int(samples or len(example)))
    trained = per_example
    if front_end is not None:
        trained -= flops.per_example(front_end, int(samples or len(example)))
    served = inference(model, example)
    rate = step_timing["train_samples_per_s"]
    record = Speed(
        peak_gflops=peak,
        flops_per_example=per_example,
        compile_seconds=step_timing["compile_seconds"],
        step_seconds=step_timing["step_seconds"],
        latency_ms=served["latency_ms"],
        infer_samples_per_s=served["infer_samples_per_s"],
        utilization=utilization(trained, rate, peak),
        data_wait_share=step_timing["data_wait_share"],
        data_wait_method="pipeline probe at the median step",
        backend=keras.backend.backend(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        jit_compile=bool(
            getattr(model, "jit_compile", False) if jit_compile is None else jit_compile
        ),
        train_samples_per_s=rate,
        steps=step_timing["steps"],
        warmup_steps=step_timing["warmup_steps"],
        compute_dtype=dtype,
    )
    values = {
        "latency_p50_ms": served["latency_ms"]["p50"],
        "latency_p90_ms": served["latency_ms"]["p90"],
        "infer_samples_per_s": served["infer_samples_per_s"],
        "flops_per_example": per_example,
        "utilization": record.utilization,
        "data_wait_share": step_timing["data_wait_share"],
        "compile_seconds": step_timing["compile_seconds"],
    }
    return record, {k: Metric.of(k, v) for k, v in values.items() if v is not None}


@contextlib.contextmanager
def xla_allowed(jit_compile: bool | None):
    """Let a TensorFlow timing cell compile with XLA; yields whether its ops stay deterministic.

    Every run enables TensorFlow's op determinism, and Keras then refuses ``jit_compile=True``
    (it falls back to no XLA with a warning), so an XLA on/off axis would time the same thing
    twice. Inside this context, on TensorFlow with ``jit_compile=True`` only, op determinism is
    off and restored on exit: the cell is timed with XLA but its numbers are not bit-for-bit
    reproducible, which the cell records (``deterministic: false``) and the report says.
    """
    if not (jit_compile and keras.backend.backend() == "tensorflow"):
        yield True
        return
    from tensorflow.python.framework import config as tf_config  # no public disable yet

    was_on = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()
    try:
        yield False
    finally:
        if was_on:
            tf_config.enable_op_determinism()
