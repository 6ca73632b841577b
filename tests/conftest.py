"""Shared pytest setup: TensorFlow kept quiet, and the fixtures several test files use. The project is
installed (editable) in .venv; the helpers they build on are in ``helpers.py`` and ``course.py``."""

import os

import pytest

from course import make_course
from helpers import LoopbackServer

# The run's closing line, and no skipped test under CI=true (tests/suite_summary.py).
pytest_plugins = ["suite_summary"]

# Before any test module imports TensorFlow (nothing imported above does).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The files that take longest, longest first; the others follow in their usual order. Under
# ``make test``'s ``--dist loadfile`` each of the two processes takes the next file when it is done
# with one, so the long ones start at once and neither process is left alone with one at the end.
LONGEST_FIRST = [
    "test_grading.py",
    "test_perimeter.py",
    "test_grade_command.py",
    "test_hub.py",
    "test_clusters.py",
    "test_grading_bench.py",
    "test_notebook_run.py",
    "test_outputs_and_secret.py",
]


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def loopback_server(tmp_path, monkeypatch):
    """A ``helpers.LoopbackServer`` serving the folder ``tmp_path / "served"`` (empty at first: put the
    files in). No proxy is used for it, in this process or in the processes it starts."""
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(key, "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    with LoopbackServer(served) as server:
        yield server


@pytest.fixture(scope="session")
def vgg_weights():
    """The default weights file (``make weights``) read once per run: 80 MB that every engine test needs.
    Shared: read it, never change it."""
    from nst_utils import read_vgg19  # imports TensorFlow: only when a test asks for the weights

    return read_vgg19()


@pytest.fixture(scope="session")
def released_course(tmp_path_factory):
    """A course whose assignment the real ``nbgrader generate_assignment`` has released, made once
    per run and shared: copy what you change (``released_course / "release" / ASSIGNMENT``)."""
    return make_course(tmp_path_factory.mktemp("released") / "course")
