"""Prepared corpora at an object-store URI (``datasets.remote``), through fsspec's ``file://``
protocol, which takes the same code path as ``s3://`` or ``gs://`` (only the filesystem
differs): the copy is prepared locally and published manifest last, every reader stages it
once into its own cache, and a half-published copy is never read."""

import numpy as np
import pytest

import datasets
from datasets import prepare, remote, shards
from datasets.base import DataError

OPTIONS = {"profile": "tiny"}


def test_a_uri_gets_the_local_copy_published_and_readers_stage_it(tmp_path, capsys):
    bucket = f"file://{tmp_path / 'bucket'}"
    said = []
    uri = prepare.prepare("synth-words", OPTIONS, None, tmp_path / "a", out=bucket, log=said.append)
    assert isinstance(uri, str) and uri.startswith(bucket + "/synth-words/")
    assert remote.read_manifest(uri)["splits"]["train"]["count"] > 0
    assert any(m.startswith("published ") for m in said)
    # a reader on another node: its own cache, nothing prepared there
    data = prepare.open_prepared(uri, tmp_path / "node2")
    staged = data.info["prepared"]
    assert staged["uri"] == uri and staged["path"].startswith(str(tmp_path / "node2" / "staged"))
    local = prepare.open_prepared(prepare.prepare("synth-words", OPTIONS, None, tmp_path / "a"))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(
            np.asarray(getattr(data, split).audio), np.asarray(getattr(local, split).audio)
        )
        np.testing.assert_array_equal(getattr(data, split).labels, getattr(local, split).labels)
    # the preparing machine reads its own copy, not a second one staged beside it
    data_here = datasets.load("synth-words", OPTIONS, None, tmp_path / "a", prepared=bucket)
    assert data_here.info["prepared"]["path"].startswith(str(tmp_path / "a" / "prepared"))
    assert not (tmp_path / "a" / "staged").exists()
    # one split's copy (bench eval) stays on its machine: not published
    other = f"file://{tmp_path / 'bucket2'}"  # (in ``bucket`` the whole copy would serve)
    part = prepare.prepare("synth-words", OPTIONS, None, tmp_path / "c", out=other,
                           splits=("test",))  # fmt: skip
    assert not isinstance(part, str) and part.is_relative_to(tmp_path / "c" / "prepared")
    assert not (tmp_path / "bucket2").exists()
    # preparing again, from a machine without the local copy: found at the URI, nothing redone
    said.clear()
    again = prepare.prepare(
        "synth-words", OPTIONS, None, tmp_path / "b", out=bucket, log=said.append
    )
    assert again == uri and said == [f"synth-words: already prepared at {uri}"]
    assert not (tmp_path / "b" / "prepared").exists()


def test_a_half_published_copy_is_never_read(tmp_path):
    folder = prepare.prepare("synth-words", OPTIONS, None, tmp_path / "cache")
    uri = f"file://{tmp_path / 'bucket' / 'copy'}"
    remote.publish(folder, uri)
    (tmp_path / "bucket" / "copy" / shards.MANIFEST).unlink()  # an upload killed before the end
    assert remote.read_manifest(uri) is None
    with pytest.raises(DataError, match="holds no complete prepared corpus"):
        prepare.open_prepared(uri, tmp_path / "reader")
    assert not list(tmp_path.glob(f"reader/staged/*/{shards.MANIFEST}"))  # nothing staged


def test_an_unknown_protocol_is_named(tmp_path):
    with pytest.raises(DataError, match="no fsspec filesystem for this protocol"):
        prepare.open_prepared("nosuchproto://bucket/copy", tmp_path)


def test_cli_prepare_to_a_uri_prints_its_manifest(tmp_path, capsys):
    from bench import cli

    bucket = f"file://{tmp_path / 'bucket'}"
    argv = ["data", "prepare", "synth-words", "--set", "profile=tiny", "--out", bucket]
    assert cli.main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    out, err = capsys.readouterr()
    assert f"in {bucket}/synth-words/" in out and "synth-words: train" in out
    assert "published" in err
