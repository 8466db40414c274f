"""``python -m bench``: the single entry point (run, report, eval, data, list)."""

import os
import sys

from bench import default_backend
from bench.quiet import quiet_logging

default_backend.choose()  # JAX or PyTorch where TensorFlow is absent and no backend is named
problem = default_backend.unavailable()
if problem:
    print(f"error: {problem}", file=sys.stderr)
    sys.exit(2)

# Quiet TensorFlow, absl and oneDNN before anything imports TensorFlow; ``-v`` keeps them.
if not {"-v", "--verbose"} & set(sys.argv[1:]):
    quiet_logging()

from bench.cli import main  # noqa: E402

del os
sys.exit(main())
