"""The building blocks of the report page: text, tables, figures and sections, and the run context.

Section builders (``reports.kws`` and ``reports.asr`` for tasks, ``reports.gradflow``,
``reports.speed``, ... for run-wide views) return ``Section`` objects made of these blocks; the
Jinja2 template lays them out. ``Context`` holds the run's ``results.record.CellResult``s, read
through ``results.store``: the reports read results only through the results layer.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path

import pandas as pd

from reports import tables
from results import provenance, store
from results.record import CellResult


@dataclasses.dataclass
class Text:
    text: str
    kind: str = dataclasses.field(default="text", init=False)


@dataclasses.dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] = dataclasses.field(default_factory=list)
    summary: str = ""  # when set, the table is collapsed under this summary line
    kind: str = dataclasses.field(default="table", init=False)

    def __post_init__(self) -> None:
        self.numeric = [bool(n) for n in self.numeric] + [False] * (
            len(self.columns) - len(self.numeric)
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, caption: str = "", summary: str = "") -> Table:
        """A table of display strings (``frame`` already formatted)."""
        rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
        columns = list(map(str, frame.columns))
        return cls(columns, rows, caption, tables.numeric_columns(frame), summary)


@dataclasses.dataclass
class Figure:
    png: bytes
    caption: str
    alt: str = ""
    kind: str = dataclasses.field(default="figure", init=False)

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclasses.dataclass
class Pre:
    text: str
    summary: str = ""  # when set, the block is collapsed under this summary line
    kind: str = dataclasses.field(default="pre", init=False)


@dataclasses.dataclass
class Section:
    id: str
    title: str
    blocks: list = dataclasses.field(default_factory=list)

    def figure(self, png: bytes | None, caption: str, alt: str = "") -> None:
        """Append a figure, or nothing when the plot had no data."""
        if png:
            self.blocks.append(Figure(png, caption, alt or re.split(r"(?<=\.)\s", caption)[0]))


@dataclasses.dataclass
class Context:
    """Everything a section builder may need, read once."""

    run_dir: Path
    suite: dict
    results: list[CellResult]
    df: pd.DataFrame
    info: dict[str, tables.MetricInfo]
    provenance: dict | None = None

    @classmethod
    def load(cls, run_dir: Path) -> Context:
        results = store.read_results(run_dir)
        suite_path = Path(run_dir) / "suite.json"
        suite = store.read_json(suite_path) if suite_path.exists() else {}
        df, info = tables.tidy(results), tables.metric_info(results)
        return cls(Path(run_dir), suite, results, df, info, provenance.read(run_dir))

    def tasks(self) -> list[str]:
        return list(dict.fromkeys(t for t in self.df["task"] if isinstance(t, str)))

    def task_results(self, task: str) -> list[CellResult]:
        return [r for r in self.results if r.cell.task == task]


def spread_block(df: pd.DataFrame, info: dict, metrics: list[str] | None = None, what: str = ""):
    """The seed spread of every metric (``tables.seed_spread``) as a table, or a sentence saying
    that no model point has two seeds, so the reader knows how far one number can be trusted."""
    spread = tables.seed_spread(df, metrics)
    if spread.empty:
        return Text(
            f"One seed per model point{what}: how far a number moves between seeds is unknown, "
            "so a difference between two cells here is a hint, not a finding (the intervals "
            "are the test set's only); run three or more seeds to measure the seed spread."
        )
    return Table.from_frame(
        tables.format_spread(spread, info),
        f"Seed spread{what}: how far each metric moves between seeds of the same model point; "
        "differences smaller than this are noise.",
    )
