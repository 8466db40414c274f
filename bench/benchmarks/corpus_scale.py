"""The standard corpora at their real size, without the corpora: generated trees in their real
layouts, then what preparing and streaming them costs.

    python bench/benchmarks/corpus_scale.py speech-commands ROOT      # 105,829 clips, 35 words
    python bench/benchmarks/corpus_scale.py librispeech ROOT --hours 10
    python bench/benchmarks/corpus_scale.py prepare NAME ROOT OUT [--set k=v ...] [--workers N]
    python bench/benchmarks/corpus_scale.py stream PREPARED [--batch 32]
    python bench/benchmarks/corpus_scale.py cell SUITE.toml ROOT OUT  # peak RSS of bench run

``speech-commands`` writes a Speech Commands v2 tree of the released size: 105,829 one-second
16-bit WAV clips in 35 word folders at the release's per-word proportions (20 core words, 10
auxiliary, 5 added in v2), 2,618 speakers, whose hash puts each in one split with the real
lists' shares (9,981 validation and 11,005 test clips in the release), and six minute-long
``_background_noise_`` files. ``librispeech`` writes ``train-H`` (``--hours`` of speech), a
``dev-clean`` and a ``test-clean`` of 2,620 utterances each (the size of test-clean) in the
LibriSpeech layout: FLAC, ``SPEAKER/CHAPTER`` folders and ``.trans.txt`` files, utterance
lengths drawn from about LibriSpeech's (mean 12.7 s, 1.5-24.5 s in training, up to 35 s in
test). The audio is seeded noise under a tone, so decoding costs what real audio costs; the
words are drawn from a small vocabulary. Delete the trees afterwards: they are gigabytes.

``prepare`` times ``datasets.prepare`` (files/s per core, size on disk); ``stream`` times the
input pipeline alone over a prepared split with a no-op consumer (clips or utterances per
second); ``cell`` runs ``python -m bench run`` on a suite in a child process and reports its
wall time, peak RSS and the time until its first training step (from the cell's TensorBoard
folder appearing: ``bench.loop`` makes it when ``fit`` starts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets import synth_lengths  # noqa: E402  (the draws the synth-lengths corpus shares)

CORE = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
AUXILIARY = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
ADDED = ("backward", "follow", "forward", "learn", "visual")
SC_TOTAL, SC_VAL, SC_TEST, SC_SPEAKERS = 105_829, 9_981, 11_005, 2_618
VOCAB = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "he",
    "that",
    "was",
    "it",
    "his",
    "her",
    "with",
    "as",
    "had",
    "for",
    "you",
    "she",
    "not",
    "but",
]


def _counts() -> dict[str, int]:
    """Clips per word at the release's proportions, summing to 105,829."""
    counts = {w: 3_880 for w in CORE} | {w: 2_050 for w in AUXILIARY}
    counts |= {w: 1_546 for w in ADDED}
    counts[ADDED[-1]] -= sum(counts.values()) - SC_TOTAL
    return counts


def _write_wavs(jobs: list[tuple[str, int]]) -> int:
    for path, seed in jobs:
        rng = np.random.default_rng(seed)
        t = np.arange(16_000) / 16_000
        audio = 0.05 * rng.standard_normal(16_000) + 0.2 * np.sin(
            2 * np.pi * (200 + seed % 300) * t
        )
        sf.write(path, np.clip(audio, -1, 1), 16_000, subtype="PCM_16")
    return len(jobs)


def _split_of(speaker: str) -> str:
    share = int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return (
        "val"
        if share < SC_VAL / SC_TOTAL
        else "test"
        if share < (SC_VAL + SC_TEST) / SC_TOTAL
        else "train"
    )


def make_speech_commands(root: Path, workers: int) -> None:
    rng = np.random.default_rng(0)
    speakers = [f"{i:08x}" for i in rng.choice(2**32, SC_SPEAKERS, replace=False)]
    jobs, lists = [], {"val": [], "test": []}
    for w, (word, n) in enumerate(_counts().items()):
        (root / word).mkdir(parents=True, exist_ok=True)
        takes: dict[str, int] = {}
        for i in range(n):
            speaker = speakers[int(rng.integers(len(speakers)))]
            take = takes[speaker] = takes.get(speaker, -1) + 1
            rel = f"{word}/{speaker}_nohash_{take}.wav"
            jobs.append((str(root / rel), w * 1_000_003 + i))
            split = _split_of(speaker)
            if split != "train":
                lists[split].append(rel)
    (root / "validation_list.txt").write_text("\n".join(lists["val"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    noise = root / "_background_noise_"
    noise.mkdir(exist_ok=True)
    for k, name in enumerate(("white_noise", "pink_noise", "doing_the_dishes", "exercise_bike",
                              "running_tap", "dude_miaowing")):  # fmt: skip
        audio = 0.3 * np.random.default_rng(k).standard_normal(16_000 * 65)
        sf.write(noise / f"{name}.wav", np.clip(audio, -1, 1), 16_000, subtype="PCM_16")
    chunks = [jobs[i : i + 2_000] for i in range(0, len(jobs), 2_000)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        done = sum(pool.map(_write_wavs, chunks))
    print(
        f"speech-commands tree: {done} clips ({len(lists['val'])} val, {len(lists['test'])} "
        f"test) in {time.perf_counter() - t0:.0f} s under {root}"
    )


def _write_flacs(jobs: list[tuple[str, float, int]]) -> int:
    for path, seconds, seed in jobs:
        rng = np.random.default_rng(seed)
        n = int(seconds * 16_000)
        t = np.arange(n) / 16_000
        audio = 0.03 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * (150 + seed % 200) * t)
        sf.write(path, np.clip(audio, -1, 1), 16_000, format="FLAC", subtype="PCM_16")
    return len(jobs)


def _subset(root: Path, name: str, lengths: np.ndarray, seed: int) -> list:
    rng = np.random.default_rng(seed)
    jobs, per_chapter = [], 40
    for c in range(0, len(lengths), per_chapter):
        speaker, chapter = str(100 + seed * 1000 + c // (per_chapter * 3)), str(c // per_chapter)
        folder = root / name / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for k, seconds in enumerate(lengths[c : c + per_chapter]):
            uid = f"{speaker}-{chapter}-{k:04d}"
            words = rng.choice(VOCAB, max(1, int(seconds * 2.7)))
            lines.append(f"{uid} {' '.join(words).upper()}")
            jobs.append((str(folder / f"{uid}.flac"), float(seconds), seed * 10_000_019 + c + k))
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return jobs


def make_librispeech(root: Path, hours: float, workers: int) -> None:
    rng = np.random.default_rng(1)
    train = []
    while sum(train) < hours * 3600:
        train.append(float(synth_lengths.train_seconds(rng)))
    test = synth_lengths.test_seconds(rng, 2_620)  # test-clean: mean ~7.4 s, 5.4 h
    jobs = _subset(root, f"train-{hours:g}h", np.array(train), 1)
    jobs += _subset(root, "dev-clean", test, 2) + _subset(root, "test-clean", test, 3)
    chunks = [jobs[i : i + 200] for i in range(0, len(jobs), 200)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        done = sum(pool.map(_write_flacs, chunks))
    print(
        f"librispeech tree: train-{hours:g}h {len(train)} utterances ({sum(train) / 3600:.2f} h), "
        f"dev-clean and test-clean 2,620 each ({test.sum() / 3600:.2f} h); {done} files in "
        f"{time.perf_counter() - t0:.0f} s under {root}"
    )


def cmd_prepare(args) -> None:
    from datasets import prepare, shards

    options = dict(kv.split("=", 1) for kv in args.set)
    options = {k: json.loads(v) if v[:1] in "[{0123456789" else v for k, v in options.items()}
    if "://" in str(args.out):
        raise SystemExit(f"--out {args.out}: a local folder (the benchmark times local disk)")
    t0 = time.perf_counter()
    folder = prepare.prepare(
        args.name, options, args.root, args.out, out=args.out, workers=args.workers, log=print
    )
    wall = time.perf_counter() - t0
    manifest = shards.read_manifest(folder)
    files = sum(s["count"] for s in manifest["splits"].values()) + manifest["skipped"]["count"]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(
        f"prepare {args.name}: {files} files in {wall:.1f} s with {args.workers} worker(s): "
        f"{files / wall:.0f} files/s, {files / wall / args.workers:.0f} files/s per core; "
        f"{manifest['bytes'] / 1e9:.2f} GB on disk; peak RSS of one worker {peak:.2f} GB, "
        f"of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"
    )


def cmd_stream(args) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from datasets import pipeline, prepare

    data = prepare.open_prepared(args.prepared)
    kws = hasattr(data, "labels")
    ds = (
        pipeline.batches(data.train, args.batch, shuffle_seed=0)
        if kws
        else pipeline.asr_batches(data.train, args.batch, shuffle_seed=0)
    )
    t0, n = time.perf_counter(), 0
    for batch in ds:
        n += int((batch[0] if kws else batch[0]["audio"]).shape[0])
    wall = time.perf_counter() - t0
    unit = "clips" if kws else "utterances"
    print(
        f"stream: {n} {unit} in {wall:.1f} s: {n / wall:.0f} {unit}/s on {os.cpu_count()} cores "
        f"({n / wall / os.cpu_count():.0f} per core); peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"
    )


def cmd_cell(args) -> None:
    out = Path(args.out)
    command = [sys.executable, "-m", "bench", "run", "--suite", args.suite, "--out", str(out)]
    command += ["--data-dir", args.root, "--no-report", "-q", *args.extra]
    t0 = time.perf_counter()
    child = subprocess.Popen(command)
    first = None
    while child.poll() is None:
        if first is None and any((out / "tensorboard").glob("*/train")):
            first = time.perf_counter() - t0
        stop = first is not None and args.stop_after is not None
        if stop and time.perf_counter() - t0 > first + args.stop_after:
            child.terminate()  # the peak of loading and of the first steps is in
            child.wait()
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    first_text = f"{first:.0f} s" if first is not None else "not seen"
    print(
        f"cell: exit {child.returncode}{' (stopped)' if args.stop_after is not None else ''}, "
        f"wall {wall:.0f} s, first training step after "
        f"{first_text}, peak RSS {peak:.2f} GB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sc = sub.add_parser("speech-commands")
    sc.add_argument("root", type=Path)
    ls = sub.add_parser("librispeech")
    ls.add_argument("root", type=Path)
    ls.add_argument("--hours", type=float, default=1.0)
    for p in (sc, ls):
        p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    prep = sub.add_parser("prepare")
    prep.add_argument("name")
    prep.add_argument("root")
    prep.add_argument("out")
    prep.add_argument("--set", action="append", default=[])
    prep.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    stream = sub.add_parser("stream")
    stream.add_argument("prepared")
    stream.add_argument("--batch", type=int, default=32)
    cell = sub.add_parser("cell")
    cell.add_argument("suite")
    cell.add_argument("root")
    cell.add_argument("out")
    cell.add_argument(
        "--stop-after",
        type=float,
        help="stop the run this many seconds after its first training step (time to the "
        "first step, and the peak of loading, without the whole epoch)",
    )
    cell.add_argument("extra", nargs="*")
    args = parser.parse_args()
    if args.command == "speech-commands":
        make_speech_commands(args.root, args.workers)
    elif args.command == "librispeech":
        make_librispeech(args.root, args.hours, args.workers)
    else:
        {"prepare": cmd_prepare, "stream": cmd_stream, "cell": cmd_cell}[args.command](args)


if __name__ == "__main__":
    main()
