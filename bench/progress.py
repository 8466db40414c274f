"""Live progress of a sweep: cells done/total, running, failed, elapsed and ETA.

On a terminal it is a ``tqdm`` bar redrawn in place; when stdout is not a terminal (CI logs, a
file) it degrades to one plain line per event, so logs stay readable. Both executors drive it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from results.record import CellResult


def _clock(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class Progress:
    """Counts a sweep's cells as they start and finish, and shows the counts.

    Args:
        total: cells in the sweep, finished ones included.
        stream: where to draw (default stdout).
        live: a redrawn bar (True) or plain lines (False); default: whether ``stream`` is a TTY.
    """

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None):
        self.total = total
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.done = self.failed = self.running = self.resumed = 0
        self._t0 = time.monotonic()
        self._bar = None
        if self.live:
            from tqdm import tqdm

            self._bar = tqdm(total=total, file=self.stream, unit="cell", dynamic_ncols=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def eta(self) -> float | None:
        """Seconds left, from the mean time of the cells finished in this session."""
        trained = self.done - self.resumed
        if trained <= 0:
            return None
        return self.elapsed / trained * (self.total - self.done)

    def status(self) -> str:
        """One line: ``3/8 done, 2 running, 1 failed, elapsed 1:02, ETA 2:10``."""
        eta = self.eta()
        return (
            f"{self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
            f"elapsed {_clock(self.elapsed)}, ETA {'?' if eta is None else _clock(eta)}"
        )

    def skipped(self, result: CellResult) -> None:
        """A cell already finished in the run directory (resumed)."""
        self.resumed += 1
        self._finish(result, show=False)

    def started(self, n: int = 1) -> None:
        """``n`` cells began running (or were handed to an executor that runs them)."""
        self.running += n
        self._show()

    def set_running(self, n: int) -> None:
        """The executor's own count of running cells (Ray knows only how many fit at once);
        shown when it changes."""
        if n != self.running:
            self.running = n
            self._show()

    def finished(self, result: CellResult) -> None:
        """A cell of this session finished, with any status."""
        self.running = max(0, self.running - 1)
        self._finish(result, show=True)

    def _finish(self, result: CellResult, *, show: bool) -> None:
        self.done += 1
        self.failed += result.status != "ok"
        if self._bar is not None:
            self._bar.update(1)
        if show:
            self._show()

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.running} running, {self.failed} failed", refresh=True)
        else:
            print(f"progress: {self.status()}", file=self.stream, flush=True)

    def write(self, line: str) -> None:
        """Print a log line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
