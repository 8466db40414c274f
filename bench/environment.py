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


def _gpus() -> str:
    """Names of the accelerators TensorFlow sees, or ``none`` (a CPU-only run)."""
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    except Exception:  # noqa: BLE001 - another backend, or no TensorFlow: say so, do not fail
        return "unknown"
    return ", ".join(g.name for g in gpus) or "none"


@functools.cache
def describe() -> dict:
    """A JSON-ready description of the machine and software stack."""
    import keras

    packages = {
        name: _version(name)
        for name in (
            "keras",
            "tensorflow",
            "tensorflow-cpu",
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
        "gpu": _gpus(),
        "backend": keras.backend.backend(),
        "packages": {k: v for k, v in packages.items() if v},
    }
