"""The Keras backend of ``python -m bench`` when nothing names one and TensorFlow is absent.

Keras takes its backend from ``$KERAS_BACKEND``, else from ``keras.json`` (``$KERAS_HOME``,
else ``~/.keras``; Keras writes one saying ``tensorflow`` the first time it is imported), else
TensorFlow. On a JAX- or PyTorch-only install that default fails at ``import keras``; so
there, before Keras is imported, the command line picks an installed backend (JAX first: its
distribution API spans hosts). ``$KERAS_BACKEND``, or a ``keras.json`` backend that is
installed, is left alone. Imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

FALLBACKS = ("jax", "torch")
# Keras backend -> the package it imports.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy",
            "openvino": "openvino"}  # fmt: skip


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _configured(environ: Mapping[str, str]) -> str:
    """The backend ``keras.json`` names (``tensorflow`` when there is none or it is unreadable)."""
    home = environ.get("KERAS_HOME") or os.path.join(environ.get("HOME", "~"), ".keras")
    try:
        config = json.loads((Path(home).expanduser() / "keras.json").read_text())
    except (OSError, ValueError):
        return "tensorflow"
    return str(config.get("backend", "tensorflow")) if isinstance(config, dict) else "tensorflow"


def choose(
    environ: MutableMapping[str, str] = os.environ,
    installed: Callable[[str], bool] = _installed,
) -> str | None:
    """Set ``environ["KERAS_BACKEND"]`` where Keras's own choice would not import; return what
    was set (None: nothing to choose, or nothing installed to choose from)."""
    if environ.get("KERAS_BACKEND"):
        return None
    configured = _configured(environ)
    if installed(configured):
        return None
    for name in FALLBACKS:
        if installed(name):
            environ["KERAS_BACKEND"] = name
            return name
    return None


def unavailable(
    environ: Mapping[str, str] = os.environ,
    installed: Callable[[str], bool] = _installed,
) -> str | None:
    """Why Keras could not start here (after ``choose``), as one sentence; None when it can.

    ``$KERAS_BACKEND`` naming a backend that is not installed, or no backend at all: both end
    in an ``ImportError`` deep inside ``import keras`` otherwise.
    """
    named = environ.get("KERAS_BACKEND") or _configured(environ)
    package = PACKAGES.get(named)
    if package is None or installed(package):
        return None  # a backend Keras knows and we do not: Keras says what is wrong
    if not any(installed(PACKAGES[b]) for b in ("tensorflow", *FALLBACKS)):
        return (
            "no Keras backend is installed (TensorFlow, JAX or PyTorch): pip install -e . "
            "(TensorFlow), or -e '.[jax]' / -e '.[torch]'"
        )
    source = "KERAS_BACKEND" if environ.get("KERAS_BACKEND") else "keras.json"
    return f"{source} names the {named} backend, which is not installed here"
