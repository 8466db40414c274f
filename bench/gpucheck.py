"""``python -m bench gpu-check``: the verdicts on a run of the ``gpu-check`` suite.

The suite (``bench/suites/gpu-check.toml``) times res8 keyword-spotting cells and QuartzNet CTC
cells (on utterances of LibriSpeech's lengths), residual and plain at two depths each, in
float32 and mixed_bfloat16; this module reads their records and says, one
line per check, what a user should know before a long run on this machine:

- the device, and the libraries' versions, the cells ran on;
- each precision's calibration peak (the matrix product every cell measures in its own dtype);
- per cell: training samples/s, utilization of that peak, compile time, data-wait share,
  device-memory peak, and its loss over the timed steps (the mean of the first quarter's, then
  of the last quarter's);
- ``SLOW`` where mixed_bfloat16 trains slower than float32 (depthwise convolutions, QuartzNet's,
  and casts have made mixed precision slower on some stacks), ``INPUT-BOUND`` where a step
  waits on data for more than a quarter of its time, ``NO-LEARNING`` where the loss did not
  fall (or is not finite), ``FAILED`` for a cell that did not run.

Each verdict compares numbers of this one run, so it holds on any device; the figures
themselves are of this machine only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from pathlib import Path

import models
from results import store
from results.record import CellResult

SUITE = "gpu-check"
INPUT_BOUND = 0.25  # share of step time waiting on data above which the input pipeline is named


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One printed line: ``ok``, ``SLOW``, ``INPUT-BOUND``, ``NO-LEARNING``, ``FAILED`` or
    ``info``."""

    status: str
    text: str

    def line(self) -> str:
        return f"{self.status:<11} {self.text}"


def _model(r: CellResult) -> str:
    return f"{r.cell.preset} d{r.cell.depth} {'res' if r.cell.residual else 'plain'}"


# What to suspect when mixed_bfloat16 is the slower precision, per model family.
SLOW_HINTS = {
    "quartznet": "depthwise convolutions or casts?",
    "tcresnet": "casts around its small 1-D convolutions?",
}
SLOW_HINT = "casts, or convolutions without a fast bf16 kernel on this device?"


def loss_fell(losses) -> tuple[float, float, bool] | None:
    """``(mean loss of the first quarter of the steps, of the last quarter, fell)``; None with
    fewer than two steps.

    Quarters (at least one step each) even out batch-to-batch noise; a loss that is not finite
    never counts as falling."""
    if len(losses) < 2:
        return None
    quarter = max(1, len(losses) // 4)
    first = float(sum(losses[:quarter]) / quarter)
    last = float(sum(losses[-quarter:]) / quarter)
    return first, last, bool(math.isfinite(first) and math.isfinite(last) and last < first)


def _mb(value: float | None) -> str:
    return "n/a on this device" if value is None else f"{value / 2**20:.0f} MiB"


def verdicts(results: Iterable[CellResult]) -> list[Verdict]:
    """The checks of one gpu-check run, in the order they are printed."""
    results = sorted(results, key=lambda r: (r.cell.precision, _model(r)))
    out: list[Verdict] = []
    ran = [r for r in results if r.status == "ok" and r.speed is not None]
    for r in results:
        if r not in ran:
            out.append(Verdict("FAILED", f"{r.cell.id}: {r.status}: {r.error}"))
    if not ran:
        return out
    first = ran[0]
    env, speed = first.environment, first.speed
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(env.get("packages", {}).items()))
    out.append(Verdict("info", f"device: {speed.device} {', '.join(speed.device_names)}; "
                               f"gpu: {env.get('gpu')}; backend {speed.backend}"))  # fmt: skip
    cuda = f"cuda {speed.cuda_version}, cudnn {speed.cudnn_version}; " if speed.cuda_version else ""
    out.append(Verdict("info", f"{cuda}{libraries}"))
    peaks = {r.cell.precision: (r.speed.compute_dtype, r.speed.peak_gflops) for r in ran}
    for precision, (dtype, peak) in sorted(peaks.items()):
        out.append(Verdict("info", f"calibration peak, {dtype} matmul ({precision}): "
                                   f"{peak:,.0f} GFLOP/s"))  # fmt: skip
    for r in ran:
        s = r.speed
        loss = loss_fell(r.timing.step_losses)
        fell = "" if loss is None else f", loss {loss[0]:.3g} -> {loss[1]:.3g}"
        out.append(Verdict("ok", (
            f"{_model(r)} {r.cell.precision}: {s.train_samples_per_s:,.0f} samples/s, "
            f"{s.utilization:.1%} of peak, compile {s.compile_seconds:.1f} s, data wait "
            f"{s.data_wait_share:.1%}, device memory peak {_mb(s.device_peak_bytes)}{fell}"
        )))  # fmt: skip
        if loss is not None and not loss[2]:
            out.append(Verdict("NO-LEARNING", (
                f"{_model(r)} {r.cell.precision}: the loss did not fall over "
                f"{len(r.timing.step_losses)} steps ({loss[0]:.3g} -> {loss[1]:.3g}): the "
                "learning rate, the labels or the precision?"
            )))  # fmt: skip
        if s.data_wait_share > INPUT_BOUND:
            out.append(Verdict("INPUT-BOUND", (
                f"{_model(r)} {r.cell.precision} waits on its input for "
                f"{s.data_wait_share:.0%} of each step: more reader threads or a larger batch"
            )))  # fmt: skip
    by_model, family, families = {}, {}, models.presets()
    for r in ran:
        by_model.setdefault(_model(r), {})[r.cell.precision] = r.speed.train_samples_per_s
        family[_model(r)] = families[r.cell.preset][0]
    for model, rates in by_model.items():
        if {"float32", "mixed_bfloat16"} <= set(rates):
            ratio = rates["mixed_bfloat16"] / rates["float32"]
            if ratio < 1:
                hint = SLOW_HINTS.get(family[model], SLOW_HINT)
                out.append(Verdict("SLOW", (
                    f"mixed_bfloat16 slower than float32 on {model} ({ratio:.2f}x): {hint} "
                    "Keep float32 for it, or look at a profile"
                )))  # fmt: skip
            else:
                out.append(Verdict("ok", f"mixed_bfloat16 {ratio:.2f}x float32 on {model}"))
    return out


def print_verdicts(run_dir: Path) -> int:
    """Print the verdicts of ``run_dir``; 1 when a cell failed, else 0."""
    found = verdicts(store.read_results(run_dir))
    for verdict in found:
        print(verdict.line())
    return 1 if any(v.status == "FAILED" for v in found) else 0
