"""Reports: turn a run directory into tidy tables, plots and one self-contained ``report.html``.

``tables`` (pandas, one row per cell; means over seeds), ``plots`` (seaborn on Agg, PNG bytes) and
``html`` (sections rendered with Jinja2; ``kws``, ``asr``, ``retrieval``, ``gradflow`` and ``speed``
build them on ``depth`` and ``page``). Results are read only through the results layer
(``results.store`` and the typed ``results.record.CellResult``), never from the harness.
``write_report`` is imported lazily so that reading the tables does not pull in matplotlib.
"""

from __future__ import annotations

__all__ = ["write_report"]


def __getattr__(name: str):
    if name == "write_report":
        from reports.html import write_report

        return write_report
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
