"""``python -m bench``: the single entry point (run, report, eval, data, list)."""

import sys

from bench.cli import main

sys.exit(main())
