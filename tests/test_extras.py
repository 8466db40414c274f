"""The install never ends with two TensorFlow distributions, whatever extras are asked for.

``tensorflow`` and ``tensorflow-cpu`` install the same ``tensorflow/`` package; with both, the
last one installed wins file by file. The requirements are read from ``pyproject.toml`` (the
source of the package metadata) and evaluated, with ``packaging``'s marker semantics (what pip
uses), for the base dependencies plus every subset of the extras on each target platform.
"""

import itertools
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TF = {"tensorflow", "tensorflow-cpu"}
PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_machine": "x86_64"},
    "windows-x86_64": {"sys_platform": "win32", "platform_machine": "AMD64"},
}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(extras: tuple[str, ...], platform: dict) -> dict[str, Requirement]:
    """Distributions pulled (directly) by the base plus ``extras`` on ``platform``."""
    project = _project()
    reqs = [(r, "") for r in project["dependencies"]]
    for extra in extras:
        reqs += [(r, extra) for r in project["optional-dependencies"][extra]]
    out = {}
    for text, extra in reqs:
        req = Requirement(text)
        env = {**default_environment(), **platform, "extra": extra}
        if req.marker is None or req.marker.evaluate(env):
            out[canonicalize_name(req.name)] = req
    return out


def _subsets(items):
    for n in range(len(items) + 1):
        yield from itertools.combinations(items, n)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_no_extra_combination_installs_two_tensorflows(platform):
    extras = sorted(_project()["optional-dependencies"])
    assert {"gpu", "jax-cuda"} <= set(extras)
    for subset in _subsets(extras):
        names = _names(subset, PLATFORMS[platform])
        tfs = TF & set(names)
        assert len(tfs) == 1, f"{platform} base+{list(subset)} pulls {sorted(tfs)}"


def test_gpu_extra_gives_tensorflow_with_cuda_on_linux_x86_64():
    names = _names(("gpu",), PLATFORMS["linux-x86_64"])
    assert "and-cuda" in names["tensorflow"].extras
    assert "tensorflow-cpu" not in names
    jax = _names(("jax-cuda",), PLATFORMS["linux-x86_64"])["jax"]
    assert "cuda12" in jax.extras


def test_installed_metadata_matches_pyproject():
    """The editable install's metadata says the same (skipped when installed before a change)."""
    from importlib import metadata

    try:
        requires = metadata.requires("resdepth") or []
    except metadata.PackageNotFoundError:
        pytest.skip("resdepth is not installed (pip install -e .)")
    if not any("extra == \"gpu\"" in r for r in requires):
        pytest.skip("the installed metadata predates the [gpu] extra: reinstall (tox -r)")
    installed = {canonicalize_name(Requirement(r).name) for r in requires}
    assert installed >= TF  # both named, each behind its own marker


def test_the_install_without_tensorflow_lists_the_base_but_tensorflow_and_the_jax_extra():
    """``requirements/without-tensorflow.txt`` (the TF-free install, ``tox -e notf``) keeps up
    with ``pyproject.toml``: every base dependency but TensorFlow, at the same bounds, and JAX."""
    project = _project()
    want = {
        str(r)
        for r in map(Requirement, project["dependencies"] + project["optional-dependencies"]["jax"])
        if canonicalize_name(r.name) not in TF
    }
    lines = (ROOT / "requirements" / "without-tensorflow.txt").read_text().splitlines()
    got = {str(Requirement(ln)) for ln in lines if ln.strip() and not ln.startswith("#")}
    assert got == want
