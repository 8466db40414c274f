"""A cell function for ``tests/test_ray_cluster.py``: records where Ray placed the cell.

Ray imports it by name on the worker (``tests/`` is on the workers' ``PYTHONPATH``). It writes
what the task saw (node, the GPUs Ray gave it, ``CUDA_VISIBLE_DEVICES``, the ``RESDEPTH_*``
variables it got, the prepared corpus and its size) to ``$PLACEMENT_DIR/<cell id>.json``, holds
its resources for a moment (so the cells of a sweep must run side by side), and returns the
cell as an ``error`` record saying it was a placement probe: it trains nothing, so cells asking
for GPUs run on a machine without any.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import ray

from bench import executors
from datasets import prepare


def train_cell(cell, prepared, verbose, source=None):
    data = prepare.open_prepared(prepared)
    seen = {
        "node": ray.get_runtime_context().get_node_id(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "env": {k: v for k, v in os.environ.items() if k.startswith("RESDEPTH_")},
        "prepared": prepared,
        "train_clips": len(data.train),
        "pid": os.getpid(),
    }
    Path(os.environ["PLACEMENT_DIR"], f"{cell.id}.json").write_text(json.dumps(seen))
    time.sleep(float(os.environ.get("PLACEMENT_HOLD", "3")))
    return {"result": executors.failed_cell(cell, "placement probe").to_dict(), "files": {}}
