"""The benchmarks run twice over: timed (``tox -e microbench``, ``--benchmark-enable``) and, with
the tests, once untimed (``--benchmark-disable``, the default in ``pyproject.toml``), so that each
benchmark's correctness checks run in CI and a broken benchmark fails instead of rotting.

Untimed, the search benchmark's collection is 20,000 items instead of 1,000,000 (its checks are
the same; the size matters only for the speed it would time). ``RESDEPTH_SCALE_ITEMS`` wins.
"""

from __future__ import annotations

import os

UNTIMED_ITEMS = "20000"


def pytest_configure(config):
    if config.getoption("benchmark_disable", False) and not config.getoption(
        "benchmark_enable", False
    ):
        os.environ.setdefault("RESDEPTH_SCALE_ITEMS", UNTIMED_ITEMS)
