"""Run directories on disk: one JSON file per finished cell, every file written atomically.

A run directory holds ``suite.json`` (the resolved suite), ``cells/<cell-id>.json`` (one
``results.record.CellResult`` per finished cell), ``tables/<name>/<cell-id>.parquet`` (per-cell
tidy tables such as gradient flow), ``models/<cell-id>.keras`` (with a ``.json`` sidecar),
``tensorboard/<cell-id>/`` and ``report.html``. Every file is written to a temporary name in its
folder and renamed (``atomic_path``), so a reader never sees a half-written file and a killed run
loses at most the cell in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from results.errors import UserError
from results.record import FINAL_STATUSES, CellResult, SchemaError


class ResultsError(UserError):
    """A results file that cannot be read or parsed; the message names the file."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    The one atomic-write helper: whatever writes the temporary file (text, parquet, a Keras
    model) becomes visible under ``path`` all at once, or not at all.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A dot name (never read as a result) keeping the suffix (Keras saves only to ``.keras``).
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically, synced to disk."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())


def write_table(run_dir: Path, name: str, cell_id: str, table) -> str:
    """Atomically write a cell's tidy table as ``tables/<name>/<cell-id>.parquet``.

    Returns the path relative to the run directory, for the cell result to point at.
    """
    path = Path(run_dir) / "tables" / name / f"{cell_id}.parquet"
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
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


def tensorboard_dir(run_dir: Path, cell_id: str) -> Path:
    """Where a cell's TensorBoard event files go: ``RUN/tensorboard/<cell-id>/``."""
    return Path(run_dir) / "tensorboard" / cell_id


def write_result(run_dir: Path, result: CellResult) -> Path:
    """Atomically write a cell's result as ``cells/<cell-id>.json``; returns the path."""
    path = cell_path(run_dir, result.id)
    write_json(path, result.to_dict())
    return path


def read_result(path: Path) -> CellResult:
    """One cell result file, upgraded to the current schema; errors name the file."""
    try:
        return CellResult.from_dict(read_json(path), str(path))
    except SchemaError as err:
        raise ResultsError(str(err)) from err


def claim(run_dir: Path, cell_id: str) -> bool:
    """Take a cell for this process (``claims/<cell-id>``, created exclusively): True for the
    one process of a parallel run that gets it, False for every other."""
    folder = Path(run_dir) / "claims"
    folder.mkdir(exist_ok=True)
    try:
        os.close(os.open(folder / cell_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def clear_claims(run_dir: Path) -> None:
    """Forget every claim (before a parallel run starts, and after it ends)."""
    shutil.rmtree(Path(run_dir) / "claims", ignore_errors=True)


def is_done(run_dir: Path, cell_id: str) -> bool:
    """True when the cell has a finished result (any final status) in ``run_dir``."""
    path = cell_path(run_dir, cell_id)
    return path.exists() and read_result(path).status in FINAL_STATUSES


def read_results(run_dir: Path) -> list[CellResult]:
    """All cell results of a run, sorted by cell id; an unparsable file raises naming it."""
    cells_dir = Path(run_dir) / "cells"
    if not cells_dir.is_dir():
        raise ResultsError(f"{run_dir} is not a run directory (no cells/ folder)")
    paths = sorted(p for p in cells_dir.glob("*.json") if not p.name.startswith("."))
    return [read_result(p) for p in paths]  # dot files: temporaries of atomic writes


def set_aside_corrupt(run_dir: Path) -> list[tuple[Path, str]]:
    """Move every unreadable ``cells/*.json`` to ``cells/corrupt/``; returns (new path, reason).

    A truncated or foreign cell file would otherwise block both the report and a resume; moved
    aside, its cell counts as not run (a resume trains it again) and the file is kept to inspect.
    """
    cells_dir = Path(run_dir) / "cells"
    moved = []
    for path in sorted(cells_dir.glob("*.json")) if cells_dir.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            read_result(path)
        except ResultsError as err:
            target = cells_dir / "corrupt" / path.name
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
            moved.append((target, str(err)))
    return moved
