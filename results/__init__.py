"""The results layer: the contract between the harness, the reports and the regression checks.

``record`` defines a cell's outcome as typed, versioned, frozen dataclasses; ``metrics`` declares
every metric once with its unit and direction; ``store`` reads and writes run directories
atomically; ``check`` compares a run with a baseline. This package imports neither the harness
(``bench``) nor the reports, nor models or datasets (``tox -e lint`` enforces it), so both sides
can depend on it without depending on each other.
"""
