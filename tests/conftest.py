"""Shared pytest setup: import the project from the repository root, keep TensorFlow quiet."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow

_TESTS = Path(__file__).resolve().parent
_ROOT = _TESTS.parent
# Project modules (nst_utils, vgg_weights, neural_style), the notebook's checks (nst_checks) and
# the test helpers (matconvnet_fixtures, notebook_reference).
for _folder in (_ROOT / "notebooks" / "art_generation", _ROOT, _TESTS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
