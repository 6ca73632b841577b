"""Shared pytest setup: keep TensorFlow quiet. The project is installed (editable) in .venv."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
