"""Command line: ``python -m bench run|report|check|baseline|eval|data|list``, each with --help."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

DATA_DIR_ENV = "RESDEPTH_DATA_DIR"  # resolved by datasets.data_dir, with the per-corpus variables


def _parse_sets(pairs: list[str]) -> dict:
    """``["words=['yes','no']", "seed=3"]`` -> options; values are TOML, else plain strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE. Received: {pair!r}")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def cmd_run(args) -> int:
    from bench import executors, progress, runner, suite

    executor = executors.get(args.executor, address=args.address)  # bad choices fail early
    s = suite.load(args.suite)
    cells = s.cells()
    run_dir = Path(args.out) if args.out else runner.new_run_dir(s)
    if args.dry_run:
        print(f"suite {s.name}: {len(cells)} cells -> {run_dir}")
        for cell in cells:
            print(f"  {cell.id}")
        return 0
    print(f"suite {s.name}: {len(cells)} cells -> {run_dir}", flush=True)
    bar = progress.Progress(len(cells))
    try:
        summary = runner.run_suite(
            s,
            run_dir,
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
            verbose=0 if args.quiet else None,
            executor=executor,
            progress=bar,
            log=bar.write,
        )
    finally:
        bar.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.statuses.items()))
    print(f"done in {summary.seconds:.0f}s: {counts} ({summary.resumed} resumed)")
    if not args.no_report:
        from reports import html

        path = html.write_report(run_dir)
        print(f"report: {path.resolve()}")
    return 0 if summary.ok else 1


def cmd_report(args) -> int:
    out = Path(args.out) if args.out else None
    if args.compare:
        from reports import compare

        path = compare.write_compare(Path(args.run_dir), Path(args.compare), out=out)
    else:
        from reports import html

        path = html.write_report(Path(args.run_dir), out=out)
    print(f"report: {path.resolve()}")
    return 0


def cmd_check(args) -> int:
    from results import check

    rows = check.check_run(Path(args.run_dir), Path(args.baseline))
    print(f"check {args.run_dir} against {args.baseline}")
    print(check.format_table(rows, only_failed=args.failures_only))
    print(check.verdict_line(rows))
    return 1 if any(r.failed for r in rows) else 0


def cmd_baseline(args) -> int:
    from results import check, store

    baseline = check.make_baseline(Path(args.run_dir))
    store.write_json(Path(args.out), baseline)
    n = sum(len(c["metrics"]) for c in baseline["cells"].values())
    print(f"baseline: {len(baseline['cells'])} cells, {n} metrics -> {Path(args.out).resolve()}")
    return 0


def cmd_eval(args) -> int:
    import json

    from bench import evaluate

    result = evaluate.evaluate_saved(
        Path(args.model),
        args.dataset,
        args.data_dir,
        _parse_sets(args.set),
        split=args.split,
        cache_dir=args.cache_dir,
    )
    print(json.dumps(result, indent=2))
    return 0


def cmd_data(args) -> int:
    import datasets

    module = datasets.get(args.name)
    if args.action == "download":
        if not hasattr(module, "download"):
            raise ValueError(f"dataset {args.name!r} is not downloadable (it is generated)")
        path = module.download(Path(args.dest))
        print(f"{args.name}: downloaded to {path}; pass --data-dir {path}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="resdepth: train residual and plain speech models of several depths, "
        "time them, and report what depth and skip connections buy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a suite (resumes an existing --out directory)",
        description="Expand a suite into cells and train each; every finished "
        "cell is saved at once, so re-running with the same --out resumes.",
    )
    run.add_argument(
        "--suite",
        default="quick",
        help="suite name in bench/suites (smoke, quick, fsdd, full) or a .toml path "
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
        "--address",
        help="Ray cluster for --executor ray: auto or HOST:PORT (default: start Ray here)",
    )
    run.add_argument("--dry-run", action="store_true", help="list the cells and exit")
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
        "and speed with a baseline file, each with its own tolerance and direction; speed is "
        "normalized by each run's calibration peak when both have one. Prints a table (cell, "
        "metric, baseline, now, delta, verdict) and exits 1 on any regression or missing cell.",
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
    ev.set_defaults(func=cmd_eval)

    data = sub.add_parser(
        "data",
        help="make or download a corpus",
        description="'make NAME' builds (or loads from cache) a corpus and "
        "prints its sizes; 'download NAME --dest DIR' fetches a real corpus "
        "with its hash checked.",
    )
    data.add_argument("action", choices=("make", "download"))
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; finished cells are saved, re-run with the same --out to resume",
            file=sys.stderr,
        )
        return 130
