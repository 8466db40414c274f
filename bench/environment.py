"""What a result was measured on: package versions, CPU, backend, so numbers can be compared."""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus(backend: str) -> str:
    """The accelerators the cell's backend sees, or ``none`` (a CPU-only run). Asked of the
    backend itself, so a JAX or PyTorch cell needs no TensorFlow (and lists what it can use)."""
    try:
        if backend == "jax":
            import jax

            try:
                gpus = [f"{d} ({d.device_kind})" for d in jax.devices("gpu")]
            except RuntimeError:  # no GPU platform
                gpus = []
        elif backend == "torch":
            import torch

            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        else:
            import tensorflow as tf

            gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - a broken driver stack: say so, do not fail the cell
        return "unknown"
    return ", ".join(gpus) or "none"


@functools.cache
def describe() -> dict:
    """A JSON-ready description of the machine and software stack."""
    import keras

    backend = keras.backend.backend()
    packages = {
        name: _version(name)
        for name in (
            "keras",
            "tensorflow",
            "tensorflow-cpu",
            "jax",
            "jaxlib",
            "torch",
            "numpy",
            "espeakng-loader",
            "soundfile",
            "soxr",
            "pandas",
        )
    }
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpus(backend),
        "backend": backend,
        "packages": {k: v for k, v in packages.items() if v},
    }
