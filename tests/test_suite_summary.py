"""make test hides nothing: its last line counts the tests and names each skip's reason, and under
CI=true a skip for a missing tool fails the run (tests/suite_summary.py), run on a small real suite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """
import pytest

def test_runs():
    pass

def test_needs_a_tool():
    pytest.skip("needs frobnicator (apt-get install frobnicator)")

def test_elsewhere_only():
    pytest.skip("not applicable here: a big-endian machine")
"""


def run_suite(tmp_path, ci, *args):
    (tmp_path / "test_small.py").write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "CI": "true" if ci else ""}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "suite_summary", "-p", "no:cacheprovider", "-q", *args, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    return result.returncode, result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [(), ("--numprocesses", "2")])
def test_the_last_line_counts_the_tests_and_names_each_skip(tmp_path, args):
    code, last = run_suite(tmp_path, False, *args)
    assert code == 0
    assert last == (
        "tests: 1 passed, 0 failed, 2 skipped (needs frobnicator (apt-get install frobnicator): 1; "
        "not applicable here: a big-endian machine: 1)"
    )


@pytest.mark.parametrize("args", [(), ("--numprocesses", "2")])
def test_under_ci_a_skip_for_a_missing_tool_fails_the_run(tmp_path, args):
    code, last = run_suite(tmp_path, True, *args)
    assert code == 1
    assert last == "tests: 1 passed, 1 failed, 1 skipped (not applicable here: a big-endian machine: 1)"
