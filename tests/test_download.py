"""Downloads through ``keras.utils.get_file``: generated archives served by a local HTTP server,
the SHA-256 checked (right hash extracts, wrong hash is a clear error and leaves nothing behind),
environment overrides, and ``python -m bench data download`` end to end."""

import hashlib
import io
import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench import cli
from datasets import download, fsdd
from datasets import speech_commands as sc
from datasets.download import DownloadError, Source, fetch

FSDD_TOP = "free-spoken-digit-dataset-1.0.10"


def _wav_bytes(freq: float, seconds: float = 0.25, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _tar_gz(path: Path, files: dict[str, bytes]) -> str:
    """Write a .tar.gz holding ``files`` (archive name -> bytes); return its SHA-256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fsdd_files(speakers=("ann", "ben"), takes=range(6)) -> dict[str, bytes]:
    files = {f"{FSDD_TOP}/README.md": b"# FSDD\n"}
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for take in takes:
                name = f"{FSDD_TOP}/recordings/{digit}_{speaker}_{take}.wav"
                files[name] = _wav_bytes(200 + 30 * digit + 5 * s + take)
    return files


@pytest.fixture
def fsdd_archive(server):
    www, base = server
    sha = _tar_gz(www / "v1.0.10.tar.gz", _fsdd_files())
    return f"{base}/v1.0.10.tar.gz", sha


def test_right_hash_downloads_and_extracts(fsdd_archive, tmp_path, monkeypatch):
    url, sha = fsdd_archive
    dest = tmp_path / "data"  # created by fetch
    path = fetch(url, sha, dest, name="fsdd")
    assert path == (dest / "fsdd").resolve()
    assert (path / FSDD_TOP / "recordings" / "0_ann_0.wav").is_file()
    assert (dest / "fsdd_archive").is_file()
    assert download.single_root(path) == path / FSDD_TOP

    # A second fetch finds the completed extraction and touches neither network nor keras.
    import keras

    def no_network(*args, **kwargs):
        raise AssertionError("get_file called again")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    assert fetch(url, sha, dest, name="fsdd") == path
    assert fetch(url, None, dest, name="fsdd") == path


def test_wrong_hash_is_a_clear_error_and_leaves_nothing(fsdd_archive, tmp_path):
    url, sha = fsdd_archive
    wrong = "0" * 64
    with pytest.raises(DownloadError, match="sha256 mismatch") as exc:
        fetch(url, wrong, tmp_path, name="fsdd")
    message = str(exc.value)
    assert url in message and wrong in message and sha in message
    assert not (tmp_path / "fsdd_archive").exists()
    assert not (tmp_path / "fsdd" / download.MARKER).exists()


def test_unpinned_hash_is_logged(fsdd_archive, tmp_path, caplog):
    url, sha = fsdd_archive
    with caplog.at_level(logging.WARNING, logger="datasets.download"):
        path = fetch(url, None, tmp_path, name="fsdd")
    assert path.is_dir()
    assert "not verified" in caplog.text and sha in caplog.text


def test_http_error_names_the_url(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=f"could not download {base}/missing.tar.gz"):
        fetch(f"{base}/missing.tar.gz", None, tmp_path / "d")


def test_not_an_archive(server, tmp_path):
    www, base = server
    (www / "page.tar.gz").write_text("<html>moved</html>")
    with pytest.raises(DownloadError, match="not a tar or zip archive"):
        fetch(f"{base}/page.tar.gz", None, tmp_path)


def test_single_file_without_extracting(server, tmp_path):
    www, base = server
    (www / "list.txt").write_text("yes/a_nohash_0.wav\n")
    sha = hashlib.sha256((www / "list.txt").read_bytes()).hexdigest()
    path = fetch(f"{base}/list.txt", sha.upper(), tmp_path, extract=False, name="list.txt")
    assert path.read_text() == "yes/a_nohash_0.wav\n"


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        fetch("http://127.0.0.1:9/x.tar.gz", "abc", tmp_path)
    with pytest.raises(ValueError, match="must not contain a dot"):
        fetch("http://127.0.0.1:9/x.tar.gz", None, tmp_path, name="x.tar")
    assert download._default_name("https://h/a/archive/refs/tags/v1.0.10.tar.gz") == "v1_0_10"


def test_sources_and_environment_overrides(monkeypatch):
    assert download.SPEECH_COMMANDS.sha256 and len(download.SPEECH_COMMANDS.sha256) == 64
    assert download.FSDD.url.endswith("/v1.0.10.tar.gz")
    src = Source("x", "https://example.org/x.tar.gz", "a" * 64, "RESDEPTH_X")
    monkeypatch.delenv("RESDEPTH_X_URL", raising=False)
    monkeypatch.delenv("RESDEPTH_X_SHA256", raising=False)
    assert src.resolve() == ("https://example.org/x.tar.gz", "a" * 64)
    monkeypatch.setenv("RESDEPTH_X_URL", "http://mirror/x.tar.gz")
    assert src.resolve() == ("http://mirror/x.tar.gz", None)  # the pinned hash is not the mirror's
    monkeypatch.setenv("RESDEPTH_X_SHA256", "b" * 64)
    assert src.resolve() == ("http://mirror/x.tar.gz", "b" * 64)
    monkeypatch.setenv("RESDEPTH_X_SHA256", "none")
    assert src.resolve() == ("http://mirror/x.tar.gz", None)


def test_cli_data_download_fsdd_end_to_end(fsdd_archive, tmp_path, monkeypatch, capsys):
    url, sha = fsdd_archive
    monkeypatch.setenv("RESDEPTH_FSDD_URL", url)
    monkeypatch.setenv("RESDEPTH_FSDD_SHA256", sha)
    dest = tmp_path / "data"
    assert cli.main(["data", "download", "fsdd", "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    root = (dest / "fsdd" / FSDD_TOP).resolve()
    assert f"pass --data-dir {root}" in out

    data = fsdd.load(fsdd.Config(), root, None)
    assert data.info["speakers"] == ["ann", "ben"]
    assert len(data.test) == 2 * 10 * 5
    assert (
        cli.main(["data", "make", "fsdd", "--data-dir", str(root), "--cache-dir", str(tmp_path)])
        == 0
    )
    assert "fsdd: 10 labels" in capsys.readouterr().out


def test_cli_download_with_wrong_hash_fails_cleanly(fsdd_archive, tmp_path, monkeypatch, capsys):
    url, _ = fsdd_archive
    monkeypatch.setenv("RESDEPTH_FSDD_URL", url)
    monkeypatch.setenv("RESDEPTH_FSDD_SHA256", "f" * 64)
    assert cli.main(["data", "download", "fsdd", "--dest", str(tmp_path)]) == 2
    assert "error: sha256 mismatch" in capsys.readouterr().err


def test_speech_commands_download_in_the_released_layout(server, tmp_path, monkeypatch):
    www, base = server
    files = {}
    for w, word in enumerate(sc.KEYWORDS + ("bed",)):
        for s, speaker in enumerate(("aaaa0001", "bbbb0002", "cccc0003")):
            files[f"./{word}/{speaker}_nohash_0.wav"] = _wav_bytes(150 + 20 * w + s, rate=16000)
    files["./validation_list.txt"] = "".join(
        f"{w}/bbbb0002_nohash_0.wav\n" for w in sc.KEYWORDS
    ).encode()
    files["./testing_list.txt"] = "".join(
        f"{w}/cccc0003_nohash_0.wav\n" for w in sc.KEYWORDS
    ).encode()
    noise = io.BytesIO()
    sf.write(noise, np.random.default_rng(0).uniform(-0.5, 0.5, 10 * 16000), 16000, format="WAV")
    files["./_background_noise_/white_noise.wav"] = noise.getvalue()
    sha = _tar_gz(www / "speech_commands_v0.02.tar.gz", files)
    monkeypatch.setenv("RESDEPTH_SPEECH_COMMANDS_URL", f"{base}/speech_commands_v0.02.tar.gz")
    monkeypatch.setenv("RESDEPTH_SPEECH_COMMANDS_SHA256", sha)

    root = sc.download(tmp_path / "data")
    assert root == (tmp_path / "data" / "speech_commands_v0_02").resolve()
    data = sc.load(sc.Config(), root, None)
    assert len(data.labels) == 12
    assert set(data.test.speakers) - {"_background_noise_/white_noise"} == {"cccc0003"}
