"""The device, precision and replica axes from the command line, and the host made ready for them.

``bench run --device/--precision/--replicas`` override a suite's axes (typed fields of
``bench.config.Experiment``, validated there); ``prepare`` splits a CPU-only host into logical
CPU devices when a cell asks for more replicas than it has, before TensorFlow fixes its devices.
"""

from __future__ import annotations

import dataclasses

from bench.config import Suite


def override(
    suite: Suite,
    *,
    device: str | None = None,
    precision: list[str] | None = None,
    replicas: int | None = None,
    backends: list[str] | None = None,
    batch_size: int | None = None,
) -> Suite:
    """``suite`` with every experiment's axes (and, given ``batch_size``, its training batch)
    replaced by the ones given (None: kept)."""
    given = {"device": device, "precision": precision, "replicas": replicas, "backends": backends}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes and batch_size is None:
        return suite

    def train(e):
        if batch_size is None:
            return e.train
        return dataclasses.replace(e.train, batch_size=batch_size)

    experiments = tuple(
        dataclasses.replace(e, **changes, train=train(e)) for e in suite.experiments
    )
    return dataclasses.replace(suite, experiments=experiments)


def prepare(suite: Suite) -> None:
    """Give TensorFlow as many logical CPU devices as the suite's most replicated CPU cell needs.

    Only on a host without a GPU (a GPU host runs replicas on its GPUs), and only while
    TensorFlow has not initialised its devices; a cell that still finds too few is skipped with
    the reason (``bench.devices.place``).
    """
    import keras

    need = max((c.replicas for c in suite.cells() if c.device != "gpu"), default=1)
    if need <= 1 or keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    from bench import devices

    if not tf.config.list_physical_devices("GPU"):
        devices.split_cpu(need)
