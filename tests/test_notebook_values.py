"""The values the notebook's checks hard-code cannot drift from the reference solutions.

Every ``nst_checks.check(...)`` call in the source notebook (visible and hidden) is recomputed
with ``notebook_reference``; the hidden cases must use other seeds than the visible ones; and every
typical mistake must already be caught, with its hint, by the visible checks students run.
"""

import copy

import nbformat
import numpy as np
import pytest
from nbgrader.preprocessors import ClearHiddenTests

import notebook_reference as ref
import nst_checks

RTOL = 1e-6


def _key(case):
    """A hashable form of a case (its spec and mistakes dict are nested literals)."""
    return repr(case)


@pytest.fixture(scope="module")
def all_calls():
    calls = ref.check_calls(ref.SOURCE_NOTEBOOK)
    assert calls, "no nst_checks.check calls found in the source notebook"
    return calls


@pytest.fixture(scope="module")
def visible_calls(tmp_path_factory):
    """The check calls left once nbgrader's own ClearHiddenTests has removed the hidden tests."""
    notebook = nbformat.read(ref.SOURCE_NOTEBOOK, as_version=4)
    released, _ = ClearHiddenTests().preprocess(copy.deepcopy(notebook), {})
    path = tmp_path_factory.mktemp("visible") / "visible.ipynb"
    nbformat.write(released, path)
    return ref.check_calls(path)


@pytest.fixture(scope="module")
def hidden_calls(all_calls, visible_calls):
    visible = {(index, exercise, _key(cases)) for index, exercise, cases in visible_calls}
    return [call for call in all_calls if (call[0], call[1], _key(call[2])) not in visible]


def _cases(calls, exercise=None):
    return [case for _, name, cases in calls if exercise in (None, name) for case in cases]


def test_every_exercise_has_visible_and_hidden_cases(visible_calls, hidden_calls):
    for exercise in ref.FUNCTIONS:
        assert _cases(visible_calls, exercise), f"{exercise}: no visible check"
        assert _cases(hidden_calls, exercise), f"{exercise}: no hidden check"
    # The visible checks are unchanged by the release step: each one is a call of its own cell.
    assert {index for index, _, _ in visible_calls}.isdisjoint({index for index, _, _ in hidden_calls})


def test_hidden_cases_use_other_seeds_than_visible_ones(visible_calls, hidden_calls):
    visible_seeds = [case[0] for case in _cases(visible_calls)]
    hidden_seeds = [case[0] for case in _cases(hidden_calls)]
    assert set(visible_seeds).isdisjoint(hidden_seeds)
    assert len(set(hidden_seeds)) == len(hidden_seeds), "a hidden seed is used twice"


@pytest.mark.parametrize("exercise", sorted(ref.FUNCTIONS))
def test_expected_values_match_reference(all_calls, exercise):
    cases = _cases(all_calls, exercise)
    assert cases
    for seed, spec, expected, known_mistakes in cases:
        recomputed = ref.expected_value(exercise, seed, spec)
        np.testing.assert_allclose(recomputed, expected, rtol=RTOL,
                                   err_msg=f"{exercise}, seed {seed}: expected value drifted")
        mistakes = ref.known_mistake_values(exercise, seed, spec)
        assert set(mistakes) == set(known_mistakes), f"{exercise}, seed {seed}: stored mistakes differ"
        for hint, value in mistakes.items():
            np.testing.assert_allclose(value, known_mistakes[hint], rtol=RTOL,
                                       err_msg=f"{exercise}, seed {seed}: value of mistake {hint} drifted")


@pytest.mark.parametrize("exercise", sorted(ref.FUNCTIONS))
def test_reference_passes_every_check(all_calls, exercise):
    nst_checks.check(exercise, ref.REFERENCE[exercise], _cases(all_calls, exercise), quiet=True)


@pytest.mark.parametrize("mistake_name", sorted(ref.MISTAKES))
def test_visible_check_catches_mistake_with_hint(visible_calls, mistake_name):
    mistake = ref.MISTAKES[mistake_name]
    function = ref.mistaken_function(mistake)  # exercises it builds on are the reference ones
    with pytest.raises(AssertionError) as caught:
        nst_checks.check(mistake.exercise, function, _cases(visible_calls, mistake.exercise), quiet=True)
    message = str(caught.value)
    assert nst_checks.HINTS[mistake.hint] in message, message


@pytest.mark.parametrize("mistake_name", sorted(ref.MISTAKES))
def test_hidden_check_catches_mistake_with_hint(hidden_calls, mistake_name):
    mistake = ref.MISTAKES[mistake_name]
    function = ref.mistaken_function(mistake)
    with pytest.raises(AssertionError) as caught:
        nst_checks.check(mistake.exercise, function, _cases(hidden_calls, mistake.exercise), quiet=True)
    message = str(caught.value)
    assert nst_checks.HINTS[mistake.hint] in message, message
