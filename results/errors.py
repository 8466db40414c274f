"""The one exception type for mistakes in what a user gave: a suite file, a CLI option, a data
folder, a results file or a baseline.

``python -m bench`` turns a ``UserError`` (and a missing file or an OS refusal) into exit code 2
and one ``error:`` line; anything else is a fault of the harness and exits 1, telling how to see
the traceback. It is a ``ValueError``, so code that catches bad values keeps working. It lives in
the results layer, which imports no other package of the project, so every layer can raise it.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, named: the message says which file, table, key or option and what is allowed."""
