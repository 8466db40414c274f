"""Silence TensorFlow's C++, absl and oneDNN start-up lines; called before TensorFlow loads.

``TF_CPP_MIN_LOG_LEVEL=3`` drops TensorFlow's C++ log lines, but two lines come from absl's C++
logging before it is initialized ("All log messages before absl::InitializeLog() ..." and the
oneDNN notice), which no variable turns off. So the first ``import tensorflow`` runs with file
descriptor 2 sent to a temporary file, and every line of it that is not such a log line is
replayed to stderr (an import error still shows). ``TF_ENABLE_ONEDNN_OPTS`` is left as the user
set it; absl's Python logger is set to errors only. ``python -m bench -v`` skips all of this.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile

# C++ log lines (glog/absl prefix "I0000 00:00:..." etc.) and absl's pre-initialization notice.
NOISE = re.compile(r"^(?:[IWE]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl)")


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern = NOISE):
    """Send fd 2 to a temporary file; on exit replay its lines that ``noise`` does not match
    (by default C++ log noise)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                line
                for line in tmp.read().decode(errors="replace").splitlines()
                if not noise.match(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs the first import of ``tensorflow`` inside ``filtered_stderr``."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            with filtered_stderr():
                exec_module(module)

        spec.loader.exec_module = quiet_exec
        return spec


def quiet_logging() -> None:
    """Set the quiet defaults (a variable the user set wins); ``-v`` skips this."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging  # installed with TensorFlow

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietImport())
