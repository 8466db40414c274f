"""Command line: ``python -m bench COMMAND`` (run, report, check, baseline, eval, data, list,
gpu-check), each with --help."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

from results.errors import UserError

DATA_DIR_ENV = "RESDEPTH_DATA_DIR"  # resolved by datasets.data_dir, with the per-corpus variables
SUITES_DIR = Path(__file__).parent / "suites"  # bench.suite.SUITES_DIR, without importing Keras


def _suite_names() -> list[str]:
    """``bench.suite.suite_names()`` for --help, which must not import TensorFlow."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def _parse_sets(pairs: list[str]) -> dict:
    """``["words=['yes','no']", "seed=3"]`` -> options; values are TOML, else plain strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE. Received: {pair!r}")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def _budget(train) -> str:
    """One line of an experiment's training budget, for --dry-run."""
    return (
        f"epochs={train.epochs} batch_size={train.batch_size} "
        f"learning_rate={train.learning_rate:g} warmup_epochs={train.warmup_epochs:g} "
        f"patience={train.patience}"
        + (" precompute_features=true" if train.precompute_features else "")
        + (f" init_from={train.init_from}" if train.init_from else "")
        + (" augment=" + _augment_line(train.augment) if train.augment else "")
    )


def _augment_line(augment) -> str:
    """The non-default augmentation options, ``key=value`` joined by commas."""
    default = type(augment)()
    changed = [
        f"{f}={getattr(augment, f)}"
        for f in ("time_shift_ms", "noise_prob", "noise_dir", "speed", "time_masks", "freq_masks")
        if getattr(augment, f) != getattr(default, f)
    ]
    return ",".join(changed).replace(" ", "") or "none"


def _jobs(args, s, cells, run_dir: Path) -> int:
    """Cells at once: ``--jobs``, else the suite's ``jobs``, else ``$RESDEPTH_JOBS``, else what
    the machine allows for the unfinished cells (``bench.parallel.default_jobs``); 1 for Ray."""
    from bench import parallel
    from results import store

    if args.jobs is not None:
        return args.jobs  # the ray executor refuses any but 1
    if args.executor != "local":
        return 1
    if s.jobs is not None:
        return s.jobs
    if _env_count("RESDEPTH_JOBS"):
        return _env_count("RESDEPTH_JOBS")
    todo = sum(not store.is_done(run_dir, c.id) for c in cells) if run_dir.exists() else len(cells)
    return parallel.default_jobs(todo, args.threads)


def _env_count(name: str) -> int | None:
    """A whole number >= 1 from environment variable ``name``, None when unset or empty."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"${name} must be a whole number >= 1. Received: {name}={text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a share in (0, 1]."""
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a share in (0, 1], got {text}")
    return value


def _check_cache_dir(cache_dir: Path | None) -> None:
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise UserError(f"--cache-dir {cache_dir} is a file, not a folder")


def _check_out(run_dir: Path) -> None:
    """Refuse an --out that is a file, not writable, or a non-empty folder of other files."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file, not a folder; pass a new folder")
    if run_dir.is_dir():
        if any(run_dir.iterdir()) and not (run_dir / "suite.json").is_file():
            raise UserError(
                f"--out {run_dir} is a non-empty folder that is not a run directory (no "
                "suite.json); pass a new or empty folder"
            )
        if not os.access(run_dir, os.W_OK | os.X_OK):
            raise UserError(f"--out {run_dir} is not writable; pass a folder you can write")
        return
    parent = next((p for p in run_dir.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {run_dir}: cannot create it ({parent} is not a writable folder)")


def _set_aside_corrupt(run_dir: Path) -> None:
    """Move unreadable cell files to ``cells/corrupt/``, saying so (their cells re-run)."""
    from results import store

    for path, reason in store.set_aside_corrupt(run_dir):
        print(f"warning: {reason}; moved to {path} (its cell counts as not run)", file=sys.stderr)


def _only(s, names: list[str] | None):
    """Suite ``s`` with only the experiments ``names`` (None: all); an unknown name is refused
    with the known ones."""
    if not names:
        return s
    known = [e.name for e in s.experiments]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(
            f"--experiment {', '.join(unknown)}: not in suite {s.name!r}; its experiments: "
            f"{', '.join(known)}"
        )
    return dataclasses.replace(s, experiments=tuple(e for e in s.experiments if e.name in names))


def cmd_run(args) -> int:
    from bench import axes, devices, executors, progress, runner, suite

    executors.get(args.executor, address=args.address)  # bad choices fail early
    s = _only(suite.load(args.suite), args.experiment)
    s = axes.override(
        s,
        device=args.device,
        precision=args.precision,
        replicas=args.replicas,
        backends=args.backend,
        batch_size=args.batch_size,
        profile=args.profile,
    )
    cells = s.cells()
    run_dir = Path(args.out) if args.out else runner.new_run_dir(s)
    args.threads = args.threads or _env_count(devices.THREADS_ENV) or 1
    os.environ[devices.THREADS_ENV] = str(args.threads)  # this process's cells and children
    if args.dry_run:
        print(f"suite {s.name}: {len(cells)} cells -> {run_dir}")
        for exp in s.experiments:
            seeds = f" seeds={list(exp.seeds)}" if exp.seeds else ""
            print(
                f"  experiment {exp.name} ({exp.task} on {exp.dataset}): {_budget(exp.train)}"
                + seeds
            )
        if args.assume_peak_tflops:
            from bench import estimate

            estimate.print_plan(
                cells, args.assume_peak_tflops, args.assume_memory_gb, args.assume_utilization
            )
            return 0
        for cell in cells:
            print(f"  {cell.id}")
        return 0
    _check_cache_dir(args.cache_dir)
    _check_out(run_dir)
    created = not run_dir.exists()
    if not created:
        _set_aside_corrupt(run_dir)
    axes.prepare(s)
    jobs = _jobs(args, s, cells, run_dir)
    executor = executors.get(args.executor, address=args.address, jobs=jobs)
    os.environ["RESDEPTH_JOBS"] = str(jobs)  # recorded in every cell's environment
    at_once = f", {jobs} at once, {args.threads} thread(s) each" if jobs > 1 else ""
    print(f"suite {s.name}: {len(cells)} cells -> {run_dir}{at_once}", flush=True)
    bar = progress.Progress(len(cells))
    try:
        summary = runner.run_suite(
            s,
            run_dir,
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
            verbose=0 if args.quiet else None,
            accept_changed_data=args.accept_changed_data,
            executor=executor,
            progress=bar,
            log=bar.write,
        )
    except BaseException:
        if created:
            _remove_if_no_cells(run_dir)
        raise
    finally:
        bar.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items()))
    print(f"done in {summary.seconds:.0f}s: {counts} ({summary.resumed} resumed)")
    if not args.no_report:
        from reports import html

        path = html.write_report(run_dir)
        print(f"report: {path.resolve()}")
    return 0 if summary.ok else 1


def cmd_gpu_check(args) -> int:
    import time

    from bench import gpucheck, runner, suite

    t0 = time.monotonic()
    run_dir = Path(args.out) if args.out else runner.new_run_dir(suite.load(gpucheck.SUITE))
    argv = ["run", "--suite", gpucheck.SUITE, "--out", str(run_dir), "--device", args.device]
    argv += ["--backend", args.backend] if args.backend else []
    argv += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    argv += ["--profile", args.profile] if args.profile else []
    argv += ["--precision", *args.precision] if args.precision else []
    argv += ["--experiment", *args.experiment] if args.experiment else []
    argv += ["--quiet"] if args.quiet else []
    run_args = build_parser().parse_args(argv)
    run_args.verbose = args.verbose
    rc = cmd_run(run_args)
    print(f"gpu-check: {run_dir} (wall time {time.monotonic() - t0:.0f} s)")
    return max(rc, gpucheck.print_verdicts(run_dir))


def _remove_if_no_cells(run_dir: Path) -> None:
    """A run that failed before its first cell leaves no folder behind."""
    import shutil

    cells = run_dir / "cells"
    if run_dir.is_dir() and not (cells.is_dir() and any(cells.iterdir())):
        shutil.rmtree(run_dir, ignore_errors=True)


def cmd_report(args) -> int:
    out = Path(args.out) if args.out else None
    if not Path(args.run_dir).is_dir():
        raise UserError(f"{args.run_dir} is not a run directory (no such folder)")
    _set_aside_corrupt(Path(args.run_dir))
    if args.compare:
        from reports import compare

        path = compare.write_compare(Path(args.run_dir), Path(args.compare), out=out)
    else:
        from reports import html

        path = html.write_report(Path(args.run_dir), out=out)
        held_out = Path(args.run_dir) / html.FOLDS_TABLE
        if held_out.exists():
            print(f"held-out speakers: {held_out.resolve()}")
    print(f"report: {path.resolve()}")
    return 0


@contextlib.contextmanager
def _corrupt_hint(run_dir: str):
    """An unreadable cell file's error also says how to go on."""
    from results import store

    try:
        yield
    except store.ResultsError as err:
        if "/cells/" not in str(err):
            raise
        raise UserError(
            f"{err}. `python -m bench report {run_dir}` moves unreadable cell files to "
            f"cells/corrupt/; `python -m bench run --out {run_dir} ...` then re-runs their cells"
        ) from err


def cmd_check(args) -> int:
    from results import check, store

    with _corrupt_hint(args.run_dir):
        rows = check.check_run(Path(args.run_dir), Path(args.baseline))
    print(f"check {args.run_dir} against {args.baseline}")
    for line in check.version_warnings(
        check.load_baseline(Path(args.baseline)), store.read_results(Path(args.run_dir))
    ):
        print(line)
    print(check.format_table(rows, only_failed=args.failures_only))
    if any(r.metric.startswith("Δ ") for r in rows):
        print(f"sign rule: {check.SIGN_RULE}")
    print(check.verdict_line(rows))
    return 1 if any(r.failed for r in rows) else 0


def cmd_baseline(args) -> int:
    from results import check, store

    with _corrupt_hint(args.run_dir):
        baseline = check.make_baseline(Path(args.run_dir))
    store.write_json(Path(args.out), baseline)
    n = sum(len(c["metrics"]) for c in baseline["cells"].values())
    print(f"baseline: {len(baseline['cells'])} cells, {n} metrics -> {Path(args.out).resolve()}")
    return 0


def cmd_eval(args) -> int:
    import json

    from bench import evaluate

    _check_cache_dir(args.cache_dir)
    result = evaluate.evaluate_saved(
        Path(args.model),
        args.dataset,
        args.data_dir,
        _parse_sets(args.set),
        split=args.split,
        cache_dir=args.cache_dir,
        allow_label_subset=args.allow_label_subset,
    )
    print(json.dumps(result, indent=2))
    dropped = result.get("dropped_unknown_label", 0)
    if dropped:
        print(
            f"WARNING: {dropped} {args.split} clips dropped (labels the model does not know); "
            "the metrics cover only the rest",
            file=sys.stderr,
        )
    return 0


def cmd_data(args) -> int:
    import datasets

    module = datasets.get(args.name)
    if args.action == "download":
        if not hasattr(module, "download"):
            raise UserError(f"dataset {args.name!r} is not downloadable (it is generated)")
        path = module.download(Path(args.dest))
        print(f"{args.name}: downloaded to {path}; pass --data-dir {path}")
        return 0
    _check_cache_dir(args.cache_dir)
    if args.action == "prepare":
        from datasets import prepare, remote, shards

        folder = prepare.prepare(
            args.name,
            _parse_sets(args.set),
            args.data_dir,
            args.cache_dir,
            out=args.out,
            workers=args.workers,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
        read = remote.read_manifest if remote.is_uri(folder) else shards.read_manifest
        manifest = read(folder)
        splits = ", ".join(
            f"{s} {v['count']} ({v['hours']:.2f} h, {len(v['shards'])} shards)"
            for s, v in ((s, manifest["splits"][s]) for s in prepare.SPLITS)
        )
        print(
            f"{args.name}: {splits}; {manifest['skipped']['count']} files skipped; "
            f"{manifest['bytes'] / 1e6:.1f} MB in {folder}"
        )
        return 0
    data = datasets.load(args.name, _parse_sets(args.set), args.data_dir, args.cache_dir)
    sizes = {s: len(getattr(data, s)) for s in ("train", "val", "test")}
    classes = f"{len(data.labels)} labels, " if hasattr(data, "labels") else ""
    print(f"{args.name}: {classes}sizes {sizes}, {data.skipped.count} files skipped")
    return 0


def cmd_list(args) -> int:
    import datasets
    import models
    from bench import suite, tasks

    print("suites:  ", ", ".join(suite.suite_names()))
    print("tasks:   ", ", ".join(sorted(tasks.TASKS)))
    print("datasets:", ", ".join(sorted(datasets.DATASETS)))
    print("presets: ", ", ".join(models.preset_names()))
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, wrapped without breaking names at their hyphens (``fsdd-speakers``)."""

    def _split_lines(self, text, width):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="resdepth: train residual and plain speech models of several depths, "
        "time them, and report what depth and skip connections buy.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="keep TensorFlow's, absl's and oneDNN's log lines (quiet by default)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a suite (resumes an existing --out directory)",
        description="Expand a suite into cells and train each; every finished "
        "cell is saved at once, so re-running with the same --out resumes.",
        formatter_class=_HelpFormatter,
    )
    run.add_argument(
        "--suite",
        default="quick",
        help=f"suite name in bench/suites ({', '.join(_suite_names())}) or a .toml path "
        "(default: quick)",
    )
    run.add_argument(
        "--data-dir",
        help=f"root of a real corpus such as FSDD "
        f"(default: ${DATA_DIR_ENV}); not needed for the synthetic corpora",
    )
    run.add_argument(
        "--out",
        help="run directory (default: runs/<UTC timestamp>-<suite>); an existing one is resumed",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        help="corpus cache (default: $RESDEPTH_CACHE or ~/.cache/resdepth)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this process, one cell after another (default); ray: every cell a Ray "
        "task with the suite's [resources] (pip install 'resdepth[ray]')",
    )
    run.add_argument(
        "--jobs",
        type=_positive_int,
        help="--executor local: cells at once, each in its own process (default: the suite's "
        "jobs, else $RESDEPTH_JOBS, else the cores over --threads, as memory allows; 1 where a "
        "GPU is visible). A cell's numbers do not depend on it",
    )
    run.add_argument(
        "--threads",
        type=_positive_int,
        help="math threads per cell (TensorFlow's intra- and inter-op pools, OpenMP; default: "
        "$RESDEPTH_THREADS, else 1, which is what a small net keeps busy). Recorded in every "
        "cell: a different count moves the numbers in their last digits",
    )
    run.add_argument(
        "--address",
        help="Ray cluster for --executor ray: auto or HOST:PORT (default: start Ray here)",
    )
    run.add_argument(
        "--accept-changed-data",
        action="store_true",
        help="resume even though the data folder, corpus, code version or backend differ from "
        "what the run directory's provenance.json recorded (the report then mixes them)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="list each experiment's budget and the cells, exit"
    )
    run.add_argument(
        "--experiment",
        nargs="+",
        help="run only these experiments of the suite (default: all; --dry-run lists them)",
    )
    run.add_argument("--device", choices=("auto", "cpu", "gpu"), help="override the device axis")
    run.add_argument(
        "--backend",
        nargs="+",
        choices=("tensorflow", "jax", "torch"),
        help="override the backend axis (Keras backends; another than this process's runs its "
        "cells in a child process)",
    )
    run.add_argument(
        "--precision",
        nargs="+",
        choices=("float32", "mixed_float16", "mixed_bfloat16"),
        help="override the precision axis (Keras dtype policies)",
    )
    run.add_argument("--replicas", type=_positive_int, help="override the data-parallel replicas")
    run.add_argument(
        "--batch-size",
        type=_positive_int,
        help="override every experiment's train.batch_size (the global batch)",
    )
    run.add_argument(
        "--profile",
        help="override every experiment's corpus size profile (generated corpora only: "
        "synth-words tiny/default, synth-sentences tiny/small/default, synth-lengths "
        "tiny/librispeech)",
    )
    run.add_argument(
        "--assume-peak-tflops",
        type=_positive_float,
        help="with --dry-run: estimate each cell's time and memory on a device of this peak",
    )
    run.add_argument(
        "--assume-memory-gb",
        type=_positive_float,
        default=80.0,
        help="device memory for the estimate",
    )
    run.add_argument(
        "--assume-utilization",
        type=_fraction,
        default=0.15,
        help="share of the peak a cell achieves, for the estimate (default 0.15)",
    )
    run.add_argument("--no-report", action="store_true", help="skip writing report.html")
    run.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "report",
        help="write report.html for a run directory",
        description="Aggregate a run's cell results into tables and plots in "
        "one self-contained report.html.",
    )
    rep.add_argument("run_dir", help="a run directory (runs/...)")
    rep.add_argument(
        "--out",
        help="output HTML file (default: RUN_DIR/report.html, or RUN_DIR/compare-<B>.html)",
    )
    rep.add_argument(
        "--compare",
        metavar="RUN_B",
        help="write a comparison page of RUN_DIR against another run RUN_B instead",
    )
    rep.set_defaults(func=cmd_report)

    chk = sub.add_parser(
        "check",
        help="compare a run with a baseline; non-zero exit on any regression",
        description="Compare every cell's metrics (accuracy, macro-F1, WER, CER, mAP, params) "
        "and speed with a baseline file, each with its own tolerance and direction: quality "
        "within the 95%% interval of the baseline's test-set noise (bootstrap or normal "
        "approximation, printed per row), speed within a factor (throughput normalized by the "
        "median calibration peak of each run and precision; latency and compile time raw). "
        "Also fails when residual - plain changes sign where the baseline compared at least "
        "3 seeds and its interval excluded zero, "
        "and warns when Keras/TensorFlow/NumPy versions differ from the baseline's. Prints a "
        "table (cell, metric, baseline, now, delta, verdict) and exits 1 on any regression or "
        "missing cell.",
    )
    chk.add_argument("run_dir", help="a run directory (runs/...)")
    chk.add_argument(
        "--baseline", required=True, help="baseline file, e.g. bench/baselines/smoke.json"
    )
    chk.add_argument("--failures-only", action="store_true", help="print only the failing rows")
    chk.set_defaults(func=cmd_check)

    base = sub.add_parser(
        "baseline",
        help="write a baseline file from a run",
        description="Record every cell's checked metrics, the tolerances and the calibration "
        "peak of a run into a baseline file for 'check'.",
    )
    base.add_argument("run_dir", help="a run directory (runs/...)")
    base.add_argument("--out", required=True, help="baseline file to write")
    base.set_defaults(func=cmd_baseline)

    gpu = sub.add_parser(
        "gpu-check",
        help="what to run first on a GPU machine: timed cells and one verdict line per check",
        description="Run the gpu-check suite (timing cells of res8 keyword spotting at 3 and 6 "
        "blocks on synthesized one-second clips, and of QuartzNet 5x5 CTC speech recognition "
        "at 5 and 10 blocks on utterances of LibriSpeech's lengths; residual and plain, "
        "float32 and mixed_bfloat16; nothing downloaded) into a run directory with its "
        "report, then print one line per check: device and library versions, each "
        "precision's calibration peak, each cell's samples/s, utilization, compile time, data "
        "wait, device-memory peak and loss over its steps, and SLOW / INPUT-BOUND / "
        "NO-LEARNING / FAILED where something is wrong. On a CPU, '--batch-size 2 --profile "
        "tiny' gives the sizes the tests run (minutes).",
        formatter_class=_HelpFormatter,
    )
    gpu.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        help="Keras backend of the cells (default: this process's, $KERAS_BACKEND or the "
        "installed one)",
    )
    gpu.add_argument(
        "--device", choices=("auto", "cpu", "gpu"), default="auto",
        help="where the cells run (default: auto, the GPU where one is visible)",
    )  # fmt: skip
    gpu.add_argument(
        "--batch-size", type=_positive_int, help="training batch (default: the suite's, 64)"
    )
    gpu.add_argument(
        "--precision",
        nargs="+",
        choices=("float32", "mixed_bfloat16"),
        help="the precisions to time (default: both; float32 alone on a GPU without bfloat16, "
        "such as a T4 or V100)",
    )
    gpu.add_argument(
        "--experiment",
        nargs="+",
        choices=("kws", "ctc"),
        help="only these checks: kws (res8 keyword spotting), ctc (QuartzNet speech "
        "recognition) (default: both)",
    )
    gpu.add_argument(
        "--profile",
        choices=("tiny",),
        help="tiny: the corpora's tiny profiles (utterances an eighth of LibriSpeech's "
        "lengths), for a CPU (default: the suite's, the real shapes)",
    )
    gpu.add_argument("--out", help="run directory (default: runs/<UTC timestamp>-gpu-check)")
    gpu.add_argument("-q", "--quiet", action="store_true", help="no per-cell progress")
    gpu.set_defaults(func=cmd_gpu_check)

    ev = sub.add_parser(
        "eval",
        help="metrics of a saved model on a dataset",
        description="Evaluate a saved .keras model (raw audio in) on a dataset "
        "of its kind; labels are matched by name via the model's sidecar .json.",
    )
    ev.add_argument("model", help="a saved model, e.g. runs/.../models/<cell>.keras")
    ev.add_argument("--dataset", required=True, help="dataset name, e.g. fsdd or synth-words")
    ev.add_argument("--data-dir", help=f"corpus root (default: ${DATA_DIR_ENV})")
    ev.add_argument("--split", default="test", choices=("train", "val", "test"))
    ev.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, e.g. --set split=speaker (repeatable)",
    )
    ev.add_argument("--cache-dir", type=Path, help="corpus cache directory")
    ev.add_argument(
        "--allow-label-subset",
        action="store_true",
        help="score only the clips whose labels the model knows (refused by default)",
    )
    ev.set_defaults(func=cmd_eval)

    data = sub.add_parser(
        "data",
        help="make, prepare or download a corpus",
        description="'prepare NAME' reads a corpus's source once into ArrayRecord shards and a "
        "manifest (datasets.prepare; again with the same source and options: a no-op that says "
        "so; a killed prepare resumes), which every run then streams; 'make NAME' prepares it "
        "and prints its sizes; 'download NAME --dest DIR' fetches a real corpus and extracts it "
        "(its SHA-256 is checked where one is pinned: speech-commands; fsdd publishes none, "
        "so the download is unverified and its hash logged, to pin with $RESDEPTH_FSDD_SHA256).",
    )
    data.add_argument("action", choices=("make", "prepare", "download"))
    data.add_argument("name", help="dataset name (python -m bench list shows them)")
    data.add_argument("--dest", default="data", help="download folder (default: ./data)")
    data.add_argument("--data-dir", help=f"corpus root for 'make' (default: ${DATA_DIR_ENV})")
    data.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option (repeatable)",
    )
    data.add_argument("--cache-dir", type=Path, help="corpus cache directory")
    data.add_argument(
        "--out",
        help="where prepared corpora live: a folder every node sees on a cluster, or an "
        "object-store URI (s3://, gs://, any fsspec protocol; prepared here, uploaded there, "
        "staged once per node by its readers) (default: $RESDEPTH_PREPARED, else "
        "CACHE_DIR/prepared)",
    )
    data.add_argument(
        "--workers",
        type=_positive_int,
        help="processes decoding shards in parallel (default: this machine's cores)",
    )
    data.set_defaults(func=cmd_data)

    lst = sub.add_parser(
        "list",
        help="list suites, tasks, datasets and model presets",
        description="Print the names this installation knows: suites (bench/suites/*.toml), "
        "tasks, datasets and model presets, for use with run --suite, eval --dataset and "
        "suite files.",
    )
    lst.set_defaults(func=cmd_list)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """``warning: skipped X: reason`` - one line per warning, no source line."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except (UserError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # permissions, a file where a folder should be, a full disk
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; finished cells are saved, re-run with the same --out to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as err:  # a fault of the harness, not of the input: say so, not "error:"
        if args.verbose:
            raise
        print(
            f"internal error: {type(err).__name__}: {err}\n"
            "This is a fault in resdepth, not in your input: re-run with -v (python -m bench -v "
            "...) for the traceback, and report it.",
            file=sys.stderr,
        )
        return 1
