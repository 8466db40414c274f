"""Prepare once, stream everywhere (datasets.prepare, datasets.shards): a prepared corpus gives
back bit for bit what its loader decodes, is written once (a second prepare is a no-op, a killed
one resumes, a half-written shard is never read), counts its skipped files once, and streams
the same batches as the corpus in memory."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_librispeech import SUBSETS, make_subset
from test_speech_commands import make_tree

import datasets
from datasets import librispeech as ls
from datasets import prepare, shards
from datasets import speech_commands as sc
from datasets.base import DataError

SC_OPTIONS = {"labels": "12", "unknown_fraction": 0.5, "silence_fraction": 0.5}


@pytest.fixture(scope="module")
def sc_tree(tmp_path_factory) -> Path:
    root = make_tree(tmp_path_factory.mktemp("sc") / "speech_commands_v0_02")
    (root / "yes" / "ffffffff_nohash_0.wav").write_bytes(b"RIFF not a wave")  # bad: skipped
    return root


def _prepare(tree, cache, options=SC_OPTIONS, name="speech-commands", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare.prepare(name, dict(options), tree, cache, **kwargs)


def _same(memory, prepared):
    for split in ("train", "val", "test"):
        a, b = getattr(memory, split), getattr(prepared, split)
        assert len(a) == len(b), split
        if hasattr(a, "labels"):
            np.testing.assert_array_equal(np.asarray(a.audio), np.asarray(b.audio))
            np.testing.assert_array_equal(a.labels, b.labels)
            np.testing.assert_array_equal(a.speakers, b.speakers)
        else:
            for x, y in zip(a.audio, b.audio, strict=True):
                np.testing.assert_array_equal(x, y)
            assert a.transcripts == b.transcripts and a.ids == b.ids
            assert a.speakers == b.speakers


def test_pcm_is_int16_exactly_where_that_is_lossless():
    exact = (np.arange(-5, 5, dtype=np.float32)) / 32768
    data, dtype = shards.encode_pcm(exact)
    assert dtype == "int16" and len(data) == 2 * len(exact)
    np.testing.assert_array_equal(shards.decode_pcm(data, dtype), exact)
    inexact = exact + np.float32(1e-7)
    data, dtype = shards.encode_pcm(inexact)
    assert dtype == "float32"
    np.testing.assert_array_equal(shards.decode_pcm(data, dtype), inexact)
    assert shards.encode_pcm(np.array([1.0], np.float32))[1] == "float32"  # 32768 overflows


def test_speech_commands_prepared_equals_decoded(sc_tree, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = sc.load(sc.Config(**SC_OPTIONS), sc_tree)
    folder = _prepare(sc_tree, tmp_path)
    data = prepare.open_prepared(folder)
    _same(memory, data)
    assert data.labels == memory.labels
    # WAV sources are stored as int16 (lossless), the gain-scaled silence cuts as float32
    stored = set(np.unique(data.train.audio.dtypes))
    assert stored == {"int16", "float32"}
    manifest = shards.read_manifest(folder)
    assert manifest["skipped"]["count"] == memory.skipped.count == 1
    assert manifest["skipped"]["all"][0][0].endswith("ffffffff_nohash_0.wav")
    assert data.skipped.count == 1
    assert manifest["splits"]["train"]["count"] == len(memory.train)
    assert manifest["source"]["fingerprint"].startswith("files:")
    assert manifest["options"]["labels"] == "12"


def test_a_second_prepare_is_a_no_op_that_says_so(sc_tree, tmp_path):
    folder = _prepare(sc_tree, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    said = []
    assert _prepare(sc_tree, tmp_path, log=said.append) == folder
    assert said == [f"speech-commands: already prepared in {folder}"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_other_options_or_a_changed_source_prepare_anew(sc_tree, tmp_path):
    folder = _prepare(sc_tree, tmp_path)
    assert _prepare(sc_tree, tmp_path, {**SC_OPTIONS, "seed": 1}) != folder
    extra = sc_tree / "no" / "eeeeeeee_nohash_0.wav"
    sf.write(extra, np.zeros(8000), 16000)
    try:
        assert _prepare(sc_tree, tmp_path) != folder
    finally:
        extra.unlink()
    assert _prepare(sc_tree, tmp_path) == folder
    # the same names and sizes, one file rewritten in place: prepared anew
    clip = sc_tree / "yes" / "0a7c2a8d_nohash_0.wav"
    audio, rate = sf.read(clip)
    sf.write(clip, -audio, rate)
    assert _prepare(sc_tree, tmp_path) != folder


def test_a_killed_prepare_resumes_and_a_half_written_shard_is_never_read(
    sc_tree, tmp_path, monkeypatch
):
    monkeypatch.setitem(prepare.RECORDS_PER_SHARD, "kws", 16)  # several shards per split
    folder = _prepare(sc_tree, tmp_path)
    reference = prepare.open_prepared(folder)
    stems = shards.read_manifest(folder)["splits"]["train"]["shards"]
    assert len(stems) >= 3
    # a kill: the manifest not yet written, one shard's records written but not its metadata
    (folder / shards.MANIFEST).unlink()
    (folder / f"{stems[1]}.json").unlink()
    (folder / f"{stems[1]}.array_record").write_bytes(b"half a shard")
    (folder / f".{stems[2]}.abc123.tmp.array_record").write_bytes(b"a temporary")
    (folder / f"{stems[2]}.array_record").unlink()  # its metadata alone: not a shard either
    with pytest.raises(DataError, match="not a complete prepared corpus"):
        prepare.open_prepared(folder)
    kept = (folder / f"{stems[0]}.array_record").stat().st_mtime_ns
    said = []
    assert _prepare(sc_tree, tmp_path, log=said.append) == folder
    assert any("resuming" in line for line in said)
    assert (folder / f"{stems[0]}.array_record").stat().st_mtime_ns == kept  # not rewritten
    assert not list(folder.glob(".*.tmp*"))  # the kill's temporaries are cleared
    _same(reference, prepare.open_prepared(folder))


def test_parallel_workers_write_the_same_copy(sc_tree, tmp_path, monkeypatch):
    monkeypatch.setitem(prepare.RECORDS_PER_SHARD, "kws", 16)
    one = prepare.open_prepared(_prepare(sc_tree, tmp_path / "a", workers=1))
    two = prepare.open_prepared(_prepare(sc_tree, tmp_path / "b", workers=2))
    _same(one, two)


def test_librispeech_caps_training_only_and_streams_whole_test(tmp_path):
    for name in SUBSETS.values():
        make_subset(tmp_path / "src", name)
    options = {**SUBSETS, "max_seconds": 0.45}
    memory = ls.load(ls.Config(**options), tmp_path / "src")
    data = prepare.open_prepared(_prepare(tmp_path / "src", tmp_path, options, "librispeech"))
    _same(memory, data)
    assert data.info["too_long"] == {"train": 1, "val": 0, "test": 0}
    assert "19-198-0002" in data.test.ids and "19-198-0002" not in data.train.ids
    assert data.summary()["hours"]["test"] > 0


def test_clips_pickle_as_paths_and_read_in_another_process(sc_tree, tmp_path):
    data = prepare.open_prepared(_prepare(sc_tree, tmp_path))
    blob = pickle.dumps(data.train.audio)
    assert len(blob) < 20_000  # the index, not the audio
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        first = pool.apply(_first_clip, (blob,))
    np.testing.assert_array_equal(first, data.train.audio[0])


def _first_clip(blob):
    return pickle.loads(blob)[0]


def test_every_corpus_goes_through_shards(tmp_path):
    data = datasets.load("synth-words", {"profile": "tiny"}, None, tmp_path)
    assert isinstance(data.train.audio, shards.Clips)
    assert data.info["prepared"]["path"].startswith(str(tmp_path / "prepared"))
    memory = datasets.get("synth-words").load(
        datasets.make_config("synth-words", {"profile": "tiny"}), None, tmp_path
    )
    _same(memory, data)


def test_streamed_batches_equal_the_in_memory_ones(sc_tree, tmp_path):
    from datasets import pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = sc.load(sc.Config(**SC_OPTIONS), sc_tree)
    data = prepare.open_prepared(_prepare(sc_tree, tmp_path))
    for a, b in zip(
        pipeline.batches(memory.train, 8, shuffle_seed=3),
        pipeline.batches(data.train, 8, shuffle_seed=3),
        strict=True,
    ):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


def test_streamed_asr_batches_equal_the_in_memory_ones(tmp_path):
    from datasets import pipeline

    for name in SUBSETS.values():
        make_subset(tmp_path / "src", name)
    memory = ls.load(ls.Config(**SUBSETS), tmp_path / "src")
    data = prepare.open_prepared(_prepare(tmp_path / "src", tmp_path, SUBSETS, "librispeech"))
    streamed = pipeline.asr_batches(data.train, 2, shuffle_seed=1, buckets=2)
    in_memory = pipeline.asr_batches(memory.train, 2, shuffle_seed=1, buckets=2)
    assert int(streamed.cardinality()) == int(in_memory.cardinality()) > 1
    for (xa, ya), (xb, yb) in zip(in_memory, streamed, strict=True):
        # padded to the batch's longest utterance and transcript, no further
        assert xb["audio"].shape[1] == int(max(xb["length"]))
        assert yb["labels"].shape[1] == int(max(yb["label_length"]))
        for key in xa:
            np.testing.assert_array_equal(xa[key].numpy(), xb[key].numpy())
        for key in ya:
            np.testing.assert_array_equal(ya[key].numpy(), yb[key].numpy())


def test_cli_prepare_prints_the_manifest_then_is_a_no_op(sc_tree, tmp_path, capsys):
    from bench import cli

    argv = ["data", "prepare", "speech-commands", "--data-dir", str(sc_tree)]
    argv += ["--out", str(tmp_path / "p"), "--workers", "2", "--set", "labels=35"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "speech-commands: train" in out and "1 files skipped" in out
    assert "prepared" in err
    assert cli.main(argv) == 0
    assert "already prepared" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*argv, "--workers", "0"])


def test_skipping_an_order_gives_the_order_a_full_pass_would_have_left(tmp_path):
    """The speech-recognition cells count steps without a pass over the audio and discard one
    shuffled order instead, so they train on the orders an earlier version's counting pass
    left them (and keep the committed baselines' metrics)."""
    from datasets import pipeline

    for name in SUBSETS.values():
        make_subset(tmp_path / "src", name)
    split = ls.load(ls.Config(**SUBSETS), tmp_path / "src").train

    def labels(ds):
        return [y["labels"].numpy().tolist() for _, y in ds]

    counted = pipeline.asr_batches(split, 2, shuffle_seed=1, buckets=2)
    first = labels(counted)  # the pass that used to count the steps
    skipped = pipeline.asr_batches(split, 2, shuffle_seed=1, buckets=2, skip_orders=1)
    assert labels(skipped) == labels(counted) != first


def test_a_missing_source_is_a_data_error_that_leaves_no_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        _prepare(tmp_path / "nowhere", tmp_path / "cache")
    assert not list((tmp_path / "cache" / "prepared" / "speech-commands").iterdir())


def test_only_the_split_scored_is_prepared_and_the_others_need_not_exist(tmp_path):
    """``bench eval`` on test-clean: a LibriSpeech root holding only the test subset prepares
    that split alone (the train subset it names is absent), equal to the whole corpus's test
    split; a whole copy, once there, serves a one-split request as it is."""
    make_subset(tmp_path / "only-test", SUBSETS["test"])
    options = dict(SUBSETS)
    with pytest.raises(DataError):  # the whole corpus needs the train subset
        _prepare(tmp_path / "only-test", tmp_path / "c1", options, "librispeech")
    folder = _prepare(tmp_path / "only-test", tmp_path / "c1", options, "librispeech",
                      splits=("test",))  # fmt: skip
    assert list(shards.read_manifest(folder)["splits"]) == ["test"]
    data = prepare.open_prepared(folder)
    assert data.absent == ("train", "val") and len(data.train) == len(data.val) == 0
    for name in SUBSETS.values():
        make_subset(tmp_path / "src", name)
    whole = prepare.open_prepared(
        _prepare(tmp_path / "src", tmp_path / "c2", options, "librispeech")
    )
    assert data.test.transcripts == whole.test.transcripts and data.test.ids == whole.test.ids
    for x, y in zip(data.test.audio, whole.test.audio, strict=True):
        np.testing.assert_array_equal(x, y)
    again = _prepare(tmp_path / "src", tmp_path / "c2", options, "librispeech", splits=["test"])
    assert again == Path(whole.info["prepared"]["path"])  # the whole copy, not a new one
    with pytest.raises(Exception, match="splits must be some of"):
        _prepare(tmp_path / "src", tmp_path / "c2", options, "librispeech", splits=["dev"])


def test_a_one_split_speech_commands_copy_equals_the_whole_copys_split(sc_tree, tmp_path):
    whole = prepare.open_prepared(_prepare(sc_tree, tmp_path / "a"))
    part = prepare.open_prepared(_prepare(sc_tree, tmp_path / "b", splits=("test",)))
    assert part.absent == ("train", "val") and part.labels == whole.labels
    np.testing.assert_array_equal(np.asarray(part.test.audio), np.asarray(whole.test.audio))
    np.testing.assert_array_equal(part.test.labels, whole.test.labels)
