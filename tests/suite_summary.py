"""The suite's last word (a pytest plugin that ``conftest.py`` loads).

* The run's last line counts the tests and names why any were skipped:
  ``tests: 603 passed, 0 failed, 2 skipped (needs bubblewrap: 2)``.
* With ``CI=true`` a skipped test fails instead, with its reason: CI must run everything. A test that
  cannot apply on some machine says so with a reason starting ``not applicable here:``; only those
  stay skipped under CI.
"""

import collections
import os

import pytest

NOT_APPLICABLE = "not applicable here:"


def _strict():
    return os.environ.get("CI", "").lower() == "true"


def _reason(report):
    """The reason of a skipped report (pytest keeps it as (path, line, 'Skipped: reason'))."""
    text = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and _strict() and not hasattr(report, "wasxfail"):
        reason = _reason(report)
        if not reason.startswith(NOT_APPLICABLE):
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
    return report


class Tally:
    def __init__(self):
        self.outcomes = collections.Counter()
        self.skips = collections.Counter()

    def pytest_runtest_logreport(self, report):
        if report.skipped and not hasattr(report, "wasxfail"):
            self.outcomes["skipped"] += 1
            self.skips[_reason(report)] += 1
        elif report.failed:
            self.outcomes["failed"] += 1
        elif report.passed and report.when == "call":
            self.outcomes["passed"] += 1

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        # Most frequent first, ties in the order of their reasons (xdist's workers report in any order).
        counts = ", ".join(f"{self.outcomes[name]} {name}" for name in ("passed", "failed", "skipped"))
        why = "; ".join(
            f"{reason}: {count}" for reason, count in sorted(self.skips.items(), key=lambda item: (-item[1], item[0]))
        )
        reporter.write_line(f"tests: {counts}" + (f" ({why})" if why else ""))


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) tallies
        config.pluginmanager.register(Tally(), "suite_summary_tally")
