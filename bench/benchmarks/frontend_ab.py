"""Where a keyword-spotting training step spends its time, and what precomputed features buy.

Run from the checkout (the synth-words corpus is made, or read from the cache, first):

    python bench/benchmarks/frontend_ab.py [--preset tc-resnet8] [--depth 3] [--rounds 12]

1. Profile: cProfile of training steps of the model on raw audio (Python side: how much is
   TensorFlow executing the step), and the step split into its parts, each timed alone on the
   same batch: the log-mel front end's forward pass, and the training step of the trunk
   (``models.frontend.split``) on the precomputed features.
2. A/B, interleaved in one process: arm A trains the model on audio batches, arm B the trunk on
   the batches' features (same initial weights, same batches). Each round times ``--steps``
   steps of both arms, in an order drawn at random per round, so load from other processes on a
   shared machine falls on both; the ratio is taken round by round (paired) and summarized by
   its median and a bootstrap 95% interval over the rounds. The one-off cost of computing the
   training split's features is timed too, and the per-epoch gain set against it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import datasets  # noqa: E402
import models  # noqa: E402
from bench import train  # noqa: E402
from bench.config import TrainConfig  # noqa: E402
from bench.tasks import kws  # noqa: E402
from models import frontend  # noqa: E402


def _compiled(model, steps_per_epoch):
    train.compile_model(model, TrainConfig(), steps_per_epoch, kws.LOSS, ["accuracy"])
    return model


def _time_steps(step, batches) -> float:
    """Median seconds per call of ``step`` over ``batches``."""
    times = []
    for x, y in batches:
        t0 = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tc-resnet8")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per arm per round")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)

    tf.config.experimental.enable_op_determinism()
    data = datasets.load("synth-words", {}, None, datasets.cache_dir())
    audio, labels = data.train.audio, data.train.labels
    n_classes = len(data.labels)
    steps_per_epoch = int(np.ceil(len(audio) / args.batch))
    rng = np.random.default_rng(0)
    pick = [rng.choice(len(audio), args.batch, replace=False) for _ in range(args.steps)]
    print(
        f"corpus synth-words: {len(audio)} training clips of {audio.shape[1]} samples, "
        f"{n_classes} words; {args.preset} at {args.depth} blocks, batch {args.batch}"
    )
    print(f"load average before: {os.getloadavg()}")

    keras.utils.set_random_seed(0)
    model_a = _compiled(
        models.build(args.preset, num_classes=n_classes, depth=args.depth), steps_per_epoch
    )
    keras.utils.set_random_seed(0)
    built_b = models.build(args.preset, num_classes=n_classes, depth=args.depth)
    front, trunk_b = frontend.split(built_b)
    trunk_b = _compiled(trunk_b, steps_per_epoch)

    t0 = time.perf_counter()
    feats = kws.features(front, data.train).audio
    precompute = time.perf_counter() - t0
    batches_a = [(audio[i], labels[i]) for i in pick]
    batches_b = [(feats[i], labels[i]) for i in pick]
    for x, y in batches_a[:2]:  # trace and warm up outside the timing
        model_a.train_on_batch(x, y)
    for x, y in batches_b[:2]:
        trunk_b.train_on_batch(x, y)
    front_fn = tf.function(lambda x: front(x, training=False))
    front_fn(batches_a[0][0])

    # 1. profile
    prof = cProfile.Profile()
    prof.enable()
    for x, y in batches_a:
        model_a.train_on_batch(x, y)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    print("\ncProfile of", len(batches_a), "training steps on audio (top functions by own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:3000])
    whole = _time_steps(lambda x, y: model_a.train_on_batch(x, y), batches_a)
    mel = _time_steps(lambda x, y: front_fn(x).numpy(), batches_a)
    rest = _time_steps(lambda x, y: trunk_b.train_on_batch(x, y), batches_b)
    print(f"\nstep split (median of {len(batches_a)} calls each, seconds):")
    print(f"  whole training step on audio     {whole:.4f}")
    print(f"  log-mel front end forward alone  {mel:.4f}  ({100 * mel / whole:.0f}% of the step)")
    print(f"  trunk training step on features  {rest:.4f}  ({100 * rest / whole:.0f}%)")

    # 2. interleaved A/B
    arms = {
        "A audio": lambda: _time_steps(lambda x, y: model_a.train_on_batch(x, y), batches_a),
        "B features": lambda: _time_steps(lambda x, y: trunk_b.train_on_batch(x, y), batches_b),
    }
    times: dict[str, list[float]] = {k: [] for k in arms}
    order_rng = np.random.default_rng(1)
    for _ in range(args.rounds):
        for name in order_rng.permutation(list(arms)):
            times[name].append(arms[name]())
    a, b = np.array(times["A audio"]), np.array(times["B features"])
    ratio = a / b
    boot = np.random.default_rng(2).choice(ratio, (2000, len(ratio)))
    lo, hi = np.percentile(np.median(boot, axis=1), [2.5, 97.5])
    print(f"\nA/B over {args.rounds} interleaved rounds of {args.steps} steps (median s/step):")
    for name, t in (("A on audio   ", a), ("B on features", b)):
        print(f"  {name}  median {np.median(t):.4f} (rounds: min {t.min():.4f}, max {t.max():.4f})")
    print(f"  speed-up A/B per round: median {np.median(ratio):.2f}x, 95% CI [{lo:.2f}, {hi:.2f}]")
    saved = (np.median(a) - np.median(b)) * steps_per_epoch
    print(f"  one epoch ({steps_per_epoch} steps): {saved:.1f} s saved; computing the "
          f"{len(audio)} clips' features once took {precompute:.1f} s")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
