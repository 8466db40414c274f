"""Training speed on every Keras backend beside a hand-written PyTorch loop on the same net.

    python bench/benchmarks/torch_reference.py [--net res8] [--depths 3 6 12] [--rounds 2]
    python bench/benchmarks/torch_reference.py --net quartznet-small --depths 5 10

What a user would write instead of the suite, for two nets:

* ``res8`` (keyword spotting) as ``models.res2d`` builds it: log-mel front end on raw
  one-second clips, 3x3 stem, average pool (4, 3), ``depth`` post-activation residual blocks of
  two 3x3 convolutions with ReLU and affine-free batch norm, skip before the second norm, global
  pool, dense; cross-entropy.
* ``quartznet-small`` (CTC speech recognition) as ``models.quartznet`` builds it: the same
  front end on two-second utterances, a separable stem of stride 2, ``depth`` residual blocks of
  ``repeat`` separable sub-blocks (depthwise, pointwise, batch norm, ReLU) with a projected
  shortcut, a dilated separable and a pointwise head convolution, per-frame logits; CTC loss
  on 24 random characters per utterance.

Each is a ``torch.nn.Module`` trained by AdamW in a plain loop, eager and ``torch.compile``d.
Its front end is ``torch.stft`` and a mel matrix of the same shape as
``keras.layers.MelSpectrogram``'s (weights not identical: the speed, not the numbers, is
compared). Keras trains the suite's own ``models.build(NET, ...)`` (for CTC inside the task's
``CtcModel``) with ``train_on_batch`` (its compiled step; XLA on JAX, TensorFlow's graph on a
CPU, eager PyTorch).

Every measurement is a fresh child process (``one IMPL DEPTH --net NET``): import, build,
compile, then ``WARMUP`` steps dropped and the median of ``STEPS`` timed steps on one fixed
batch, each step synchronised by reading its loss. Rounds interleave implementations and
depths, so a machine that slows down slows all of them; the table gives each one's median over
rounds and the ratio of the best Keras backend to compiled PyTorch. Thread pools are each
framework's default (one thread per core). Nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPLS = ("keras-tensorflow", "keras-jax", "keras-torch", "torch-eager", "torch-compile")
NETS = ("res8", "quartznet-small")
WARMUP, STEPS = 3, 15
CLASSES, SAMPLES = 12, 16_000  # res8: keywords, one-second clips
UTTERANCE_SAMPLES, TRANSCRIPT = 32_000, 24  # quartznet: two-second utterances, 24 characters


def _batch(batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((batch, SAMPLES))).astype("float32")
    return x, rng.integers(0, CLASSES, batch).astype("int64")


def _utterances(batch: int):
    """``(audio, lengths, labels, label_lengths)``: a fixed CTC batch (characters, no blank)."""
    import numpy as np

    from bench.tasks.asr.ctc import BLANK

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((batch, UTTERANCE_SAMPLES))).astype("float32")
    labels = rng.integers(0, BLANK, (batch, TRANSCRIPT)).astype("int64")
    return audio, np.full(batch, UTTERANCE_SAMPLES, "int64"), labels, np.full(batch, TRANSCRIPT)


def _time(step) -> float:
    """Median seconds of one step after the warm-up; ``step()`` returns after the device."""
    for _ in range(WARMUP):
        step()
    seconds = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def keras_step(depth: int, batch: int, net: str = "res8"):
    import keras

    import models

    if net == "res8":
        x, y = _batch(batch)
        model = models.build(net, num_classes=CLASSES, depth=depth, residual=True)
        model.compile(
            optimizer=keras.optimizers.AdamW(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    else:
        from bench.tasks.asr.ctc import NUM_OUTPUTS, CtcModel

        audio, lengths, labels, label_lengths = _utterances(batch)
        frame_model = models.build(net, num_classes=NUM_OUTPUTS, depth=depth, head="ctc")
        model = CtcModel(frame_model, models.frames_fn(net, depth=depth))
        model.compile(optimizer=keras.optimizers.AdamW(3e-3))  # the loss is CtcModel's
        x = {"audio": audio, "length": lengths.astype("int32")}
        y = {"labels": labels.astype("int32"), "label_length": label_lengths.astype("int32")}
    return lambda: model.train_on_batch(x, y)  # returns the loss as numpy: synchronised


def _torch_front_end(n_mels: int):
    """A module mapping raw audio ``[batch, samples]`` to ``keras.layers.MelSpectrogram``'s
    features as ``models.frontend.log_mel`` rescales them: ``[batch, frames, n_mels]``."""
    import numpy as np
    import torch
    from torch import nn

    from models.frontend import SAMPLE_RATE

    def mel_matrix(fft: int = 512) -> torch.Tensor:
        hz = np.linspace(0, SAMPLE_RATE / 2, fft // 2 + 1)
        mel = 2595 * np.log10(1 + hz / 700)
        edges = np.linspace(mel[1], mel[-1], n_mels + 2)
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        tri = np.maximum(0, np.minimum((mel - lo) / (mid - lo), (hi - mel) / (hi - mid)))
        return torch.tensor(tri.T, dtype=torch.float32)  # [bins, mels]

    class LogMel(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("window", torch.hann_window(480))
            self.register_buffer("mel", mel_matrix())

        def forward(self, audio):
            spec = torch.stft(audio, 512, hop_length=160, win_length=480, window=self.window,
                              return_complex=True).abs().pow(2)  # fmt: skip
            feats = torch.log10(torch.clamp(spec.transpose(1, 2) @ self.mel, min=1e-10))
            return 10 * feats / 40 + 1

    return LogMel()


def torch_net(depth: int, channels: int = 45, n_mels: int = 40):
    """res8 (``models.res2d``'s layer sequence) as a plain ``torch.nn.Module``."""
    import torch
    from torch import nn

    class Res8(nn.Module):
        def __init__(self):
            super().__init__()
            self.front = _torch_front_end(n_mels)
            self.stem = nn.Conv2d(1, channels, 3, padding=1, bias=False)
            self.pool = nn.AvgPool2d((4, 3))
            conv = lambda: nn.Conv2d(channels, channels, 3, padding=1, bias=False)  # noqa: E731
            norm = lambda: nn.BatchNorm2d(channels, affine=False)  # noqa: E731
            self.convs = nn.ModuleList(conv() for _ in range(2 * depth))
            self.norms = nn.ModuleList(norm() for _ in range(2 * depth))
            self.head = nn.Linear(channels, CLASSES)

        def forward(self, audio):
            x = torch.relu(self.stem(self.front(audio).unsqueeze(1)))
            x = skip = self.pool(x)
            for i in range(depth):
                y = self.norms[2 * i](torch.relu(self.convs[2 * i](x)))
                skip = torch.relu(self.convs[2 * i + 1](y)) + skip
                x = self.norms[2 * i + 1](skip)
            return self.head(x.mean(dim=(2, 3)))

    return Res8()


def torch_quartznet(depth: int, preset: str = "quartznet-small"):
    """QuartzNet (``models.quartznet``'s layer sequence, residual) as a ``torch.nn.Module``:
    per-frame logits ``[batch, frames, characters + blank]``."""
    import torch
    from torch import nn

    from bench.tasks.asr.ctc import NUM_OUTPUTS
    from models import quartznet

    cfg = quartznet.with_depth(quartznet.PRESETS[preset], depth)

    class Separable(nn.Module):
        """Depthwise, pointwise, batch norm (and ReLU): ``models.quartznet._separable``."""

        def __init__(self, cin, cout, kernel, stride=1, dilation=1, relu=True):
            super().__init__()
            pad = dilation * (kernel - 1) // 2  # "same" for odd kernels; ceil(n / stride) out
            self.dw = nn.Conv1d(cin, cin, kernel, stride, pad, dilation, groups=cin, bias=False)
            self.pw = nn.Conv1d(cin, cout, 1, bias=False)
            self.bn = nn.BatchNorm1d(cout)
            self.relu = relu

        def forward(self, x):
            x = self.bn(self.pw(self.dw(x)))
            return torch.relu(x) if self.relu else x

    class Block(nn.Module):
        def __init__(self, cin, cout, kernel):
            super().__init__()
            subs = [Separable(cin if r == 0 else cout, cout, kernel, relu=r < cfg.repeat - 1)
                    for r in range(cfg.repeat)]  # fmt: skip
            self.subs = nn.Sequential(*subs)
            self.proj = nn.Conv1d(cin, cout, 1, bias=False)
            self.proj_bn = nn.BatchNorm1d(cout)

        def forward(self, x):
            return torch.relu(self.subs(x) + self.proj_bn(self.proj(x)))

    class QuartzNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.front = _torch_front_end(cfg.n_mels)
            stem = cfg.scaled(cfg.stem[0])
            layers = [Separable(cfg.n_mels, stem, cfg.stem[1], stride=quartznet.TIME_STRIDE)]
            cin = stem
            for (channels, kernel), count in zip(cfg.stages, cfg.stage_blocks(), strict=True):
                for _ in range(count):
                    layers.append(Block(cin, cfg.scaled(channels), kernel))
                    cin = cfg.scaled(channels)
            c2, k2, c3 = cfg.head
            c2, c3 = cfg.scaled(c2), cfg.scaled(c3)
            layers.append(Separable(cin, c2, k2, dilation=2))
            layers += [nn.Conv1d(c2, c3, 1, bias=False), nn.BatchNorm1d(c3), nn.ReLU()]
            self.encoder = nn.Sequential(*layers)
            self.logits = nn.Linear(c3, NUM_OUTPUTS)

        def forward(self, audio):
            x = self.encoder(self.front(audio).transpose(1, 2))  # [batch, channels, frames]
            return self.logits(x.transpose(1, 2))

    return QuartzNet()


def torch_step(depth: int, batch: int, compiled: bool, net: str = "res8"):
    import torch
    from torch.nn import functional

    if net == "res8":
        x, y = (torch.from_numpy(a) for a in _batch(batch))
        module = torch_net(depth)

        def loss_of(out):
            return functional.cross_entropy(out, y)
    else:
        import models
        from bench.tasks.asr.ctc import BLANK

        audio, lengths, labels, label_lengths = (torch.from_numpy(a) for a in _utterances(batch))
        x, module = audio, torch_quartznet(depth, net)
        frames = models.frames_fn(net, depth=depth)(lengths)  # arithmetic: a tensor stays one

        def loss_of(out):
            logp = functional.log_softmax(out, dim=-1).transpose(0, 1)  # [frames, batch, classes]
            return functional.ctc_loss(logp, labels, frames, label_lengths, blank=BLANK)

    model = torch.compile(module) if compiled else module
    opt = torch.optim.AdamW(module.parameters(), lr=3e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model(x))
        loss.backward()
        opt.step()
        return loss.item()  # synchronised

    return step


def one(impl: str, depth: int, batch: int, net: str = "res8") -> dict:
    t0 = time.perf_counter()
    if impl.startswith("keras-"):
        step = keras_step(depth, batch, net)
    else:
        step = torch_step(depth, batch, compiled=impl == "torch-compile", net=net)
    first = time.perf_counter()
    step()  # the first step: trace and compile
    setup = time.perf_counter() - first
    median = _time(step)
    return {"impl": impl, "net": net, "depth": depth, "batch": batch,
            "samples_per_s": batch / median, "first_step_s": setup, "build_s": first - t0,
            "loss": float(step())}  # fmt: skip  (finite: the step trained on a loss it can take)


def _child(impl: str, depth: int, batch: int, net: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if impl.startswith("keras-"):
        env["KERAS_BACKEND"] = impl.removeprefix("keras-")
    else:
        env["KERAS_BACKEND"] = "torch"  # nothing of Keras runs; keeps TensorFlow unimported
    done = subprocess.run(
        [sys.executable, __file__, "one", impl, str(depth), "--batch", str(batch), "--net", net],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        return {"impl": impl, "net": net, "depth": depth,
                "error": done.stderr.strip().splitlines()[-1:]}  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    single = sub.add_parser("one", help="one measurement in this process (JSON on stdout)")
    single.add_argument("impl", choices=IMPLS)
    single.add_argument("depth", type=int)
    single.add_argument("--batch", type=int, default=64)
    single.add_argument("--net", choices=NETS, default=argparse.SUPPRESS)  # given before
    # or after `one`: the top-level --net is its default
    parser.add_argument("--net", choices=NETS, default="res8", help="res8 or quartznet-small")
    parser.add_argument("--depths", type=int, nargs="+", help="default: 3 6 12 (res8), 5 10")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--out", type=Path, help="JSON file for every measurement")
    args = parser.parse_args(argv)
    args.depths = args.depths or ([3, 6, 12] if args.net == "res8" else [5, 10])
    if args.cmd == "one":
        print(json.dumps(one(args.impl, args.depth, args.batch, args.net)))
        return 0
    rows = []
    for r in range(args.rounds):
        for depth in args.depths:
            order = args.impls if r % 2 == 0 else args.impls[::-1]  # alternate who goes first
            for impl in order:
                row = {"round": r, **_child(impl, depth, args.batch, args.net)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    print(f"\n{args.net} training samples/s, batch {args.batch}, median of {args.rounds} round(s):")
    print("depth  " + "  ".join(f"{i:>16}" for i in args.impls) + "  best keras / compiled")
    for depth in args.depths:
        med = {}
        for impl in args.impls:
            rates = [x["samples_per_s"] for x in rows if x["impl"] == impl
                     and x["depth"] == depth and "samples_per_s" in x]  # fmt: skip
            med[impl] = statistics.median(rates) if rates else float("nan")
        best = max((v, k) for k, v in med.items() if k.startswith("keras-"))
        ratio = best[0] / med.get("torch-compile", float("nan"))
        print(f"{depth:>5}  " + "  ".join(f"{med[i]:>16.1f}" for i in args.impls)
              + f"  {ratio:.2f}x ({best[1]})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
