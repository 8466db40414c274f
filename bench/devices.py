"""Where and how a cell runs: device, precision policy, data-parallel replicas, memory peaks.

One small adapter between the training loop and the backends:

- ``place(cell)`` resolves ``device`` (``auto`` takes a GPU when one is visible) and
  ``replicas`` to the device names the cell trains on, or raises ``Unavailable`` (a ``gpu`` cell
  on a machine without one, more replicas than devices), which the runner records as
  ``skipped`` with the reason.
- ``running(placement, precision)`` is the context the loop builds, compiles and fits in: the
  Keras dtype policy (reset on exit), and on TensorFlow a ``tf.device`` scope (one device) or a
  ``tf.distribute.MirroredStrategy`` scope (several: the suite's batch size is the global batch,
  split over the replicas by Keras's distributed dataset); on JAX a
  ``keras.distribution.DataParallel`` over the devices.
- ``HostMemory`` and ``DeviceMemory``: the process's RSS high-water mark over a cell (reset
  through ``/proc/self/clear_refs``) and the device allocator's peak over it (reset on
  TensorFlow and PyTorch; JAX, which cannot reset it, gives it only when it is the cell's; None
  on a CPU).
- ``split_cpu(n)``: n logical CPU devices, so data-parallel cells run on a CPU-only host (tests,
  dry runs); TensorFlow allows it only before it initialises its devices.
- ``apply_threads()``: the math libraries' thread pools pinned to ``$RESDEPTH_THREADS``
  (``bench run --threads``), so a cell's numbers do not depend on the machine's cores or on how
  many cells share it (``bench run --jobs``); ``thread_env(n)`` is what a child process starts
  with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
from pathlib import Path

import keras

PROC_STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


THREADS_ENV = "RESDEPTH_THREADS"
_threads: int | None = None  # what apply_threads put in force in this process


def thread_env(threads: int) -> dict[str, str]:
    """The environment a child process starts with to run its cells on ``threads`` threads:
    OpenMP and MKL (oneDNN, PyTorch) read theirs when they load, before any Python runs."""
    n = str(threads)
    return {THREADS_ENV: n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def apply_threads() -> int | None:
    """Pin TensorFlow's intra- and inter-op pools (or PyTorch's) to ``$RESDEPTH_THREADS``.

    Returns the count in force, or None: unset (the framework's default, one thread per core),
    or TensorFlow's runtime had already started in this process with other pools (it reads
    ``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` when it starts, which is how a
    test session fixes them). A thread count moves float sums in the last digits (two smoke
    runs at 1 and 2 threads: the same accuracy, test loss 0.858314 vs 0.858337), so it is
    recorded in every cell's ``environment``. JAX's XLA pool is left at its default.
    """
    global _threads
    raw = os.environ.get(THREADS_ENV)
    if not raw:
        return None
    n = int(raw)
    if _threads == n:
        return n
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:  # the runtime is up: its pools kept the size it started with
            pools = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
            if any(os.environ.get(v) != raw for v in pools):
                return None
    elif backend == "torch":
        import torch

        torch.set_num_threads(n)
    elif backend == "jax":
        return None
    _threads = n
    return n


def threads() -> int | None:
    """The thread count ``apply_threads`` put in force here, None for the framework's default."""
    return _threads


class Unavailable(RuntimeError):
    """The cell asks for devices this process does not have; the message says which."""


@dataclasses.dataclass(frozen=True)
class Placement:
    """The devices one cell trains on."""

    kind: str  # "cpu" or "gpu"
    names: tuple[str, ...]  # e.g. ("/device:GPU:0",) or ("/device:CPU:0", "/device:CPU:1")

    @property
    def count(self) -> int:
        return len(self.names)


def _backend() -> str:
    return keras.backend.backend()


def visible(kind: str) -> list[str]:
    """Names of this process's logical devices of ``kind`` (``cpu``/``gpu``) on its backend."""
    if _backend() == "jax":
        import jax

        try:
            return [str(d) for d in jax.devices(kind)]
        except RuntimeError:  # no such platform
            return []
    if _backend() == "torch":
        import torch

        if kind == "gpu":
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return ["cpu"]
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(kind.upper())]


def place(device: str, replicas: int) -> Placement:
    """The devices of a cell asking for ``device`` (auto/cpu/gpu) on ``replicas`` devices.

    Raises:
        Unavailable: a ``gpu`` cell without a GPU, or fewer devices than ``replicas``.
    """
    gpus = visible("gpu") if device in ("auto", "gpu") else []
    if device == "gpu" and not gpus:
        raise Unavailable(f"device=gpu but no GPU is visible to {_backend()}")
    kind = "gpu" if gpus else "cpu"
    names = gpus if gpus else visible("cpu")
    if replicas > len(names):
        hint = (
            " (split the CPU first: bench.devices.split_cpu, done by `bench run` for a suite "
            "with replicas > 1 on a CPU-only host)"
            if kind == "cpu"
            else ""
        )
        raise Unavailable(f"replicas={replicas} but {len(names)} {kind} device(s) visible{hint}")
    return Placement(kind, tuple(names[:replicas]))


def split_cpu(n: int) -> bool:
    """Split TensorFlow's CPU into ``n`` logical devices; False when it is too late to.

    TensorFlow fixes its logical devices when it first initialises them (the first op or device
    listing); after that the configuration cannot change, and replica cells find too few
    devices and are skipped with the reason.
    """
    import tensorflow as tf

    if n <= 1:
        return True
    (cpu,) = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError:
        return len(tf.config.list_logical_devices("CPU")) >= n
    return True


@contextlib.contextmanager
def precision(policy: str):
    """Keras's global dtype policy set to ``policy`` inside, restored on exit.

    Layers built inside compute in the policy's dtype and keep float32 weights; ``compile``
    wraps the optimizer in a ``LossScaleOptimizer`` under ``mixed_float16`` (dynamic loss
    scaling). Layers built with an explicit ``dtype="float32"`` (the log-mel front end, the
    logits) stay float32.
    """
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def compute_dtype(policy: str) -> str:
    return keras.DTypePolicy(policy).compute_dtype


@contextlib.contextmanager
def running(placement: Placement, policy: str = "float32"):
    """Build, compile and fit inside this: the policy, and the placement's device scope."""
    with precision(policy), _scope(placement):
        yield


@contextlib.contextmanager
def _scope(placement: Placement):
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if placement.count == 1:
            with tf.device(placement.names[0]):
                yield
            return
        with _mirrored(placement.names).scope():
            yield
        return
    if backend == "jax" and placement.count > 1:
        import jax

        by_name = {str(d): d for d in jax.devices(placement.kind)}
        devices = [by_name[n] for n in placement.names]
        distribution = keras.distribution.DataParallel(devices=devices)
        before = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            yield
        finally:
            keras.distribution.set_distribution(before)
        return
    if placement.count > 1:
        raise Unavailable(
            f"replicas > 1 is not supported on the {backend} backend: Keras 3's data "
            "parallelism (keras.distribution) is JAX's, and TensorFlow has MirroredStrategy; "
            "run this cell with --backend jax or tensorflow"
        )
    yield


@functools.cache
def _mirrored(names: tuple[str, ...]):
    """One ``MirroredStrategy`` per device set for the whole process: a new strategy per cell
    restarts the collective instance keys, and TensorFlow then matches a cell's all-reduce with
    the previous cell's (shape mismatch, then every later collective is aborted)."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=list(names))


def build_versions(placement: Placement) -> dict[str, str | None]:
    """CUDA and cuDNN versions TensorFlow was built with, on a GPU (else None)."""
    out = {"cuda_version": None, "cudnn_version": None}
    if placement.kind != "gpu" or _backend() != "tensorflow":
        return out
    import tensorflow as tf

    info = tf.sysconfig.get_build_info()
    return {"cuda_version": info.get("cuda_version"), "cudnn_version": info.get("cudnn_version")}


# ---- memory --------------------------------------------------------------------------------


def _status_bytes(field: str) -> int | None:
    try:
        text = PROC_STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


class HostMemory:
    """The process's peak resident memory (RSS) over a span, in bytes.

    ``start`` resets Linux's high-water mark (writing ``5`` to ``/proc/self/clear_refs`` sets
    ``VmHWM`` back to the current RSS), so each cell's peak is its own, not the largest of the
    process so far; ``peak`` reads ``VmHWM``. Where the reset is refused, the peak is the
    process's since its start, and ``reset`` says so (False). None off Linux.
    """

    def __init__(self) -> None:
        self.reset = False

    def start(self) -> None:
        try:
            CLEAR_REFS.write_text("5")
            self.reset = True
        except OSError:
            self.reset = False

    def peak(self) -> int | None:
        return _status_bytes("VmHWM")


class DeviceMemory:
    """Peak bytes allocated on the placement's first device over a span (a cell), every backend.

    ``start`` resets the allocator's high-water mark where the backend can: TensorFlow
    (``reset_memory_stats``, every device of the placement) and PyTorch
    (``torch.cuda.reset_peak_memory_stats``). JAX has no reset: ``start`` notes the peak and the
    bytes in use, and ``peak`` gives the device's peak only when it belongs to the span: the span
    set a new high, or nothing earlier in the process had used more than was in use at its start.
    Otherwise (an earlier cell's higher peak still stands) it is None, not that cell's figure.
    None on a CPU.
    """

    def __init__(self, placement: Placement) -> None:
        self.placement = placement
        self._jax_start: tuple[int, int] | None = None

    def start(self) -> None:
        if self.placement.kind != "gpu":
            return
        backend = _backend()
        if backend == "tensorflow":
            import tensorflow as tf

            for name in self.placement.names:
                tf.config.experimental.reset_memory_stats(_tf_device(name))
        elif backend == "torch":
            import torch

            for index in range(self.placement.count):
                torch.cuda.reset_peak_memory_stats(index)
        elif backend == "jax":
            stats = _jax_stats()
            self._jax_start = (stats.get("peak_bytes_in_use", 0), stats.get("bytes_in_use", 0))

    def peak(self) -> int | None:
        if self.placement.kind != "gpu":
            return None
        backend = _backend()
        if backend == "tensorflow":
            import tensorflow as tf

            info = tf.config.experimental.get_memory_info(_tf_device(self.placement.names[0]))
            return int(info["peak"])
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated(0))
        if backend == "jax":
            now = _jax_stats().get("peak_bytes_in_use")
            if now is None or self._jax_start is None:
                return None
            peak_before, in_use_before = self._jax_start
            return int(now) if now > peak_before or peak_before <= in_use_before else None
        return None


def _jax_stats() -> dict:
    import jax

    return jax.devices("gpu")[0].memory_stats() or {}


def _tf_device(name: str) -> str:
    """``/device:GPU:0`` -> ``GPU:0`` (what the memory-info functions take)."""
    return name.split("device:")[-1]
