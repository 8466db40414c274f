"""Results on disk: one JSON file per finished cell, written atomically.

A run directory holds ``suite.json`` (the resolved suite), ``cells/<cell-id>.json`` (one per
finished cell), ``tables/<name>/<cell-id>.parquet`` (per-cell tidy tables such as gradient
flow), ``models/<cell-id>.keras`` and ``report.html``. Files are written to a temporary
name and renamed, so a reader never sees a half-written file and a killed run loses at most the
cell in flight.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class ResultsError(ValueError):
    """A results file that cannot be parsed; the message names the file."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(run_dir: Path, name: str, cell_id: str, table) -> str:
    """Atomically write a cell's tidy table as ``tables/<name>/<cell-id>.parquet``.

    Returns the path relative to the run directory, for the cell result to point at.
    """
    path = Path(run_dir) / "tables" / name / f"{cell_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_parquet(tmp, index=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return str(path.relative_to(run_dir))


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN/inf allowed: a diverged cell has them)."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"cannot read results file {path}: {err}") from err


def cell_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / "cells" / f"{cell_id}.json"


def model_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / "models" / f"{cell_id}.keras"


def is_done(run_dir: Path, cell_id: str) -> bool:
    """True when the cell has a finished result (any final status) in ``run_dir``."""
    path = cell_path(run_dir, cell_id)
    if not path.exists():
        return False
    return read_json(path).get("status") in FINAL_STATUSES


# A cell that ended for good; "error" is retried on resume since it usually means a bug fixed since.
FINAL_STATUSES = ("ok", "diverged", "oom")


def read_results(run_dir: Path) -> list[dict]:
    """All cell results of a run, sorted by cell id; an unparsable file raises naming it."""
    cells_dir = Path(run_dir) / "cells"
    if not cells_dir.is_dir():
        raise ResultsError(f"{run_dir} is not a run directory (no cells/ folder)")
    return [read_json(p) for p in sorted(cells_dir.glob("*.json"))]
