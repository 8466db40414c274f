"""The device, precision and replica axes from the command line, and the host made ready for them.

``bench run --device/--precision/--replicas`` (and ``--batch-size``, ``--profile``) override a
suite's axes (typed fields of
``bench.config.Experiment``, validated there); ``prepare`` splits a CPU-only host into logical
CPU devices when a cell asks for more replicas than it has, before TensorFlow fixes its devices.
"""

from __future__ import annotations

import dataclasses

import datasets
from bench.config import Suite, freeze_options
from results.errors import UserError


def override(
    suite: Suite,
    *,
    device: str | None = None,
    precision: list[str] | None = None,
    replicas: int | None = None,
    backends: list[str] | None = None,
    batch_size: int | None = None,
    profile: str | None = None,
) -> Suite:
    """``suite`` with every experiment's axes (and, given ``batch_size``, its training batch;
    given ``profile``, its generated corpus's size profile) replaced by the ones given (None:
    kept).

    Raises:
        UserError: ``profile`` given for a dataset without profiles, or not one of its profiles.
    """
    given = {"device": device, "precision": precision, "replicas": replicas, "backends": backends}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes and batch_size is None and profile is None:
        return suite

    def train(e):
        if batch_size is None:
            return e.train
        return dataclasses.replace(e.train, batch_size=batch_size)

    def options(e):
        if profile is None:
            return e.dataset_options
        if "profile" not in {f.name for f in dataclasses.fields(datasets.get(e.dataset).Config)}:
            raise UserError(
                f"--profile {profile}: dataset {e.dataset!r} (experiment {e.name!r}) has no size "
                "profiles; only the generated corpora do"
            )
        opts = {**dict(e.dataset_options), "profile": profile}
        try:
            datasets.make_config(e.dataset, opts)  # an unknown profile is named here, up front
        except UserError as err:
            raise UserError(f"--profile {profile}: dataset {e.dataset!r}: {err}") from None
        return freeze_options(opts)

    experiments = tuple(
        dataclasses.replace(e, **changes, train=train(e), dataset_options=options(e))
        for e in suite.experiments
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
