"""``python -m bench``: the single entry point (run, report, eval, data, list)."""

import os
import sys

# Quiet TensorFlow's C++ start-up chatter unless the user asked for it; set before any import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.cli import main  # noqa: E402

sys.exit(main())
