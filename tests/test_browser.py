"""The report in a real browser (headless Chromium): it loads with no console error, no broken
image and no network request, every section the run calls for is there, every figure has a
caption, tables sort on a click, and a screenshot is saved to ``artifacts/report.png``.

By default the page is the report of a synthetic run that has every kind of content (keyword
spotting with two seeds, speech recognition, retrieval, gradient flow, a diverged and an
out-of-memory cell, skipped files). ``RESDEPTH_REPORT_RUN=runs/<run>`` renders a real run instead
(e.g. a ``quick`` run, for a screenshot of it). Chromium is Debian's ``/usr/bin/chromium``
(``$RESDEPTH_CHROMIUM`` overrides), driven by Playwright; the test skips, saying why, when either
is missing (``.ci/run`` installs chromium, so CI runs it).
"""

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakes import with_cell, with_metrics
from test_reports import all_cells, make_asr_cell, make_cell, write_run

from reports import html
from results import store
from results.record import CellResult, GradientFlow

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "artifacts" / "report.png"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALWAYS = ("failures", "skipped", "environment", "config")


def chromium_path() -> str | None:
    return os.environ.get("RESDEPTH_CHROMIUM") or shutil.which("chromium")


def expected_sections(results: list[CellResult]) -> set[str]:
    """The section ids a run's content calls for, derived from the results independently of the
    report code; ``speed`` is expected once cells carry speed data."""
    ok = [r for r in results if r.ok]
    tasks = {r.cell.task for r in results} - {"timing"}  # timing cells: the speed section
    metrics = {name for r in ok for name in r.metrics}
    expected = set(ALWAYS) | tasks
    if any(n.startswith(("qbe_", "std_")) for n in metrics):
        expected.add("retrieval")
    if any("gradflow" in r.tables for r in ok):
        expected.add("gradflow")
    if any(r.speed for r in ok):
        expected.add("speed")
    return expected


def _gradflow(run_dir: Path, result: CellResult) -> CellResult:
    """A gradient table like bench.gradflow's: stem, blocks and head, at init and two steps."""
    depth = result.model.depth
    decay = 1.0 if result.cell.residual else 0.3
    rows = []
    for step in (0, 50, 100):
        for block in [0, *range(1, depth + 1), -1]:
            pos = depth + 1 if block == -1 else block
            norm = float(decay ** (depth + 1 - pos)) * (1 + 0.01 * step)
            rows.append((step, block, f"block{block}_conv", pos, norm, 1.0, 1e-3))
    table = pd.DataFrame(rows, columns=list(store_columns()))
    stats = {"first_last_ratio": decay**depth, "log10_slope_per_block": float(np.log10(decay))}
    return dataclasses.replace(
        result,
        tables={"gradflow": store.write_table(run_dir, "gradflow", result.id, table)},
        gradient_flow=GradientFlow(init=stats, end=stats, steps=100, overhead=0.04),
    )


def store_columns():
    return ("step", "block", "layer", "depth", "grad_norm", "weight_norm", "update_ratio")


def complete_run(run_dir: Path) -> Path:
    """A synthetic run with every kind of content the report has a section for."""
    cells = []
    for r in all_cells():
        if r.ok:
            acc = r.value("accuracy")
            r = with_metrics(r, qbe_map=round(acc - 0.1, 4), qbe_si_map=round(acc - 0.15, 4))
            r = _gradflow(run_dir, with_metrics(r, train_loss=0.5))
        cells.append(r)
    oom = make_cell("res8-narrow", 3, False, 1)
    oom = dataclasses.replace(
        with_cell(oom, id=oom.id.replace("-s1", "-s2"), seed=2),
        status="oom",
        error="ResourceExhaustedError: OOM when allocating tensor",
        metrics={},
        evaluation={},
        history={},
        best_epoch=None,
    )
    cells.append(oom)
    for depth, residual in ((1, True), (2, True), (1, False), (2, False)):
        wer = 0.30 - 0.1 * depth if residual else 0.30 + 0.05 * depth
        r = make_asr_cell(depth, residual, "s", wer=wer, cer=wer / 3, std_map=0.8 - wer)
        history = {"loss": (3.0, 2.0, 1.5), "val_wer": (0.9, 0.6, wer)}
        cells.append(dataclasses.replace(r, history=history))
    return write_run(run_dir, cells)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if not path or not Path(path).exists():
        pytest.skip(
            "no chromium: install Debian's chromium (apt-get install chromium) or set "
            "RESDEPTH_CHROMIUM; .ci/run installs it"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=path, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(report path, results): the real run named by RESDEPTH_REPORT_RUN, else a synthetic one."""
    real = os.environ.get("RESDEPTH_REPORT_RUN")
    if real:
        out = tmp_path_factory.mktemp("report") / "report.html"
        return html.write_report(Path(real), out=out), store.read_results(Path(real))
    run_dir = complete_run(tmp_path_factory.mktemp("run"))
    return html.write_report(run_dir), store.read_results(run_dir)


@pytest.fixture(scope="module")
def page(browser, report):
    """The report opened in Chromium, with every console error and network request recorded."""
    path, _ = report
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else requests.append(r.url),
    )
    page.goto(path.resolve().as_uri(), wait_until="load")
    yield page, errors, requests
    page.close()


def test_page_loads_without_errors_broken_images_or_network(page):
    p, errors, requests = page
    assert errors == []
    assert requests == []
    images = p.evaluate(
        "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
    )
    assert images, "the report has no image"
    assert [alt for alt, ok in images if not ok] == []


def test_every_section_is_present_and_titled(page, report):
    p, _, _ = page
    _, results = report
    ids = p.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert expected_sections(results) <= set(ids), ids
    for sid in ids:
        assert p.locator(f"section#{sid} h2").is_visible()
        assert p.locator(f"nav a[href='#{sid}']").count() == 1
    if not os.environ.get("RESDEPTH_REPORT_RUN"):  # the synthetic run has every kind of content
        expected = {"kws", "asr", "retrieval", "gradflow", *ALWAYS}
        assert expected <= set(ids)
        assert "oom" in p.locator("section#failures").inner_text()
        assert "diverged" in p.locator("section#failures").inner_text()
        assert "a.wav" in p.locator("section#skipped").text_content()  # collapsed list
        env = p.locator("section#environment").inner_text()
        assert "gpu" not in env or "none" in env
        assert "seeds" in env and "backend" in env and "tensorflow" in env


def test_every_figure_has_a_caption_that_says_what_to_look_for(page):
    p, _, _ = page
    captions = p.evaluate(
        "Array.from(document.querySelectorAll('figure')).map(f => "
        "[f.querySelector('img').alt, (f.querySelector('figcaption') || {}).innerText || ''])"
    )
    assert captions
    for alt, caption in captions:
        assert alt and len(caption) > 40, (alt, caption)
    assert [c for _, c in captions if "Look for" not in c] == []


def test_the_answer_picture_and_its_table_are_on_the_first_screen(page, report):
    """The picture is whole inside the first 1280x900 viewport, and every number of the compact
    table under it is recomputed here from the records: each side's mean over the seeds both
    sides finished, and residual − plain, to the digits shown."""
    p, _, _ = page
    _, results = report
    box = p.locator("section#answer figure img").first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box
    assert box["width"] >= 600  # large enough to read, not a thumbnail
    rows = p.locator("section#answer table").first.locator("tbody tr")
    assert rows.count() > 0
    by_point = {}
    for r in results:
        if r.ok:
            key = (r.cell.experiment, r.cell.preset, tables_depth(r), r.cell.kind)
            by_point.setdefault(key, {})[r.cell.seed] = r
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        model, depth, label, a_text, b_text, diff_text = cells[:6]
        experiment, preset = model.split(": ")
        metric = label.split(" (")[0]
        kind_a, kind_b = a_text.split(",")[0], b_text.split(",")[0]  # e.g. residual-rezero
        res = by_point[(experiment, preset, int(depth), kind_a)]
        plain = by_point[(experiment, preset, int(depth), kind_b)]
        seeds = [s for s in res if s in plain]
        a = [res[s].value(metric) for s in seeds]
        b = [plain[s].value(metric) for s in seeds]
        diff = sum(x - y for x, y in zip(a, b, strict=True)) / len(seeds)
        assert abs(float(diff_text) - diff) <= 0.0005 + 1e-9, (cells, diff)
        for text, values in ((a_text, a), (b_text, b)):
            shown = float(text.split(": ")[1].split()[0])
            assert abs(shown - sum(values) / len(values)) <= 0.0005 + 1e-9, (text, values)


def tables_depth(r: CellResult) -> int:
    return r.model.depth if r.model else r.cell.depth


def test_screenshot_is_saved(page):
    """Taken before any table is re-sorted, so it shows the page as a reader first sees it."""
    p, _, _ = page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    p.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    print(f"screenshot: {SCREENSHOT}")


def test_tables_sort_on_a_header_click(page):
    p, _, _ = page
    table = p.locator("section table.sortable").first
    headers = table.locator("thead th")
    col = next(
        i
        for i in range(headers.count())
        if table.locator(f"tbody tr td:nth-child({i + 1}).num").count() > 1
    )

    def column():
        cells = table.locator(f"tbody tr td:nth-child({col + 1})").all_inner_texts()
        return [float(c.split()[0].replace(",", "")) for c in cells if c.strip() != "–"]

    headers.nth(col).click()
    assert column() == sorted(column())
    assert headers.nth(col).get_attribute("aria-sort") == "ascending"
    headers.nth(col).click()
    assert column() == sorted(column(), reverse=True)


def test_every_plot_has_axis_labels(tmp_path, monkeypatch):
    """Checked on the figures themselves (no browser needed): every visible panel is labelled."""
    from reports import plots

    seen = []
    real = plots.to_png

    def spy(fig):
        for ax in fig.axes:
            if ax.get_visible() and ax.get_label() != "<colorbar>":
                seen.append((ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
        return real(fig)

    monkeypatch.setattr(plots, "to_png", spy)
    html.write_report(complete_run(tmp_path / "run"))
    assert len(seen) >= 8
    assert [s for s in seen if not (s[1] and s[2])] == []
