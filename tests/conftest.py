"""Fixtures shared by the test modules: a local HTTP server for the download tests, and the
scripts of ``bench/benchmarks`` loaded as modules for the tests that keep them from rotting."""

import functools
import http.server
import importlib.util
import os
import sys
import threading
import types
from pathlib import Path

import pytest

# Tests run their cells in this process unless a test asks for --jobs: a test's monkeypatched
# task or corpus would not reach a child. The default (the machine's cores) is tested by name.
os.environ.setdefault("RESDEPTH_JOBS", "1")
# One math thread, as every cell a test starts in a child (a parallel run, Ray, a backend child)
# runs on by default: TensorFlow starts its runtime once per process, at the first op some test
# runs, and reads its pool sizes then, so they are set here, before any test.
for _var in ("RESDEPTH_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """``(folder, base_url)``: files written to ``folder`` are served at ``base_url/<name>``.

    Bound to 127.0.0.1 with proxies disabled: downloads are tested without the internet.
    """
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


_SCRIPTS: dict[str, types.ModuleType] = {}


@pytest.fixture
def benchmark_script():
    """``load(name)``: the script ``bench/benchmarks/NAME.py`` as a module (the benchmarks are
    scripts run by path, not a package), executed once per session and registered in
    ``sys.modules`` under its name, so every test sees the same module object."""

    def load(name: str) -> types.ModuleType:
        if name not in _SCRIPTS:
            path = Path(__file__).resolve().parents[1] / "bench" / "benchmarks" / f"{name}.py"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise FileNotFoundError(path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            _SCRIPTS[name] = module
        return _SCRIPTS[name]

    return load
