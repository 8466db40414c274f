"""Makes this Python behave as if TensorFlow were not installed (put this folder on
``PYTHONPATH``): ``import tensorflow`` raises ``ModuleNotFoundError`` and
``importlib.util.find_spec("tensorflow")`` is None, as in a JAX- or PyTorch-only install.

The tests start the JAX and PyTorch cells' child processes with it, so any import of
TensorFlow on those paths fails the test even on a machine that has TensorFlow.
"""

import importlib.machinery
import sys

HIDDEN = ("tensorflow", "tf_keras", "tensorflow_io_gcs_filesystem")


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.split(".")[0] in HIDDEN:
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [
    _PathFinderWithoutTensorFlow if f is importlib.machinery.PathFinder else f
    for f in sys.meta_path
]
