"""The class's mistakes, clustered by what they computed, and one comment per cluster (issue #31).

In process, on real TensorFlow: students' functions run on the graded cells' cases
(``nst_checks.measure``), the grader judges and summarises what they reported
(``nst_grader.scoring``), and the summaries get their names and keys (``nst_grader.behaviour``); a
cluster exported as a learned mistake (``python -m nst_grader.clusters export``) gives its hint in
the visible check.

A small class graded by the real grading command (``python -m nst_grader.grade``, in the sandbox):
three students who leave n_C out of the content cost's normalisation (two of them write it alike), two who use
``tf.reduce_mean`` (a hint names it), a one-off, two who square the style coefficients, two who
flip the total cost's sign, two who forget the layer cost's 4, a student of correct variants and
the model solution. Then: each mistake is its own cluster with exactly its students, the correct
ones are in none, ``make report`` shows the clusters with their representative code escaped and
which have no comment yet; comments written for two clusters (``python -m nst_grader.comments``)
reach each member's feedback page (``nbgrader generate_feedback``) and no other student's; a
regraded student and a late one, graded afterwards, get their cluster's comment again under the
same key. JupyterLab's formgrader, in real Chromium, shows a cluster's comment in its members'
comment boxes and in no other student's.
"""

import csv
import json
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    NOTEBOOK_ID,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    fill_solutions,
    nbgrader,
    nbgrader_env,
    read_notebook,
)
from hostile_outputs import live_parts
from lab_server import CHROMIUM, CHROMIUM_ARGS, lab_env, running_lab
from nst_grader import clusters as clusters_module
from nst_grader import report
from nst_grader.behaviour import cluster_key, describe
from nst_grader.comments import load_comments
from nst_grader.scoring import failed_behaviour, reported_call, verdict
from submission_corpus import CORRECT, MISTAKES

NO_N_C = """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W)
"""
NO_N_C_OTHERWISE = """
def compute_content_cost(a_C, a_G):
    m, n_H, n_W, n_C = a_G.get_shape().as_list()
    J = tf.reduce_sum((a_C - a_G) ** 2)  # is <b>this</b> & that right?
    return J / (n_H * n_W * 4)
"""
ONE_OFF = """
def compute_content_cost(a_C, a_G):
    return tf.reduce_sum(a_C * a_G) / 100
"""
SQUARED_COEFFICIENTS = """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in style_layers:
        a_S, a_G = style_activations[layer_name], generated_activations[layer_name]
        J_style += coefficient**2 * compute_layer_style_cost(a_S, a_G)
    return J_style
"""
SQUARED_COEFFICIENTS_OTHERWISE = """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    costs = [c * c * compute_layer_style_cost(style_activations[n], generated_activations[n]) for n, c in style_layers]
    return tf.add_n(costs)
"""
WRONG_SIGN = """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return -(alpha * J_content + beta * J_style)
"""
WRONG_SIGN_OTHERWISE = """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return -alpha * J_content - beta * J_style
"""
STEPS_TWICE = """
def train_step(generated_image, optimizer, compute_costs):
    for _ in range(2):
        with tf.GradientTape() as tape:
            J_content, J_style, J = compute_costs(generated_image)
        optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
        generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
"""
CLASS = {
    "ann": {"content_cost": NO_N_C, "layer_style_cost": MISTAKES["layer_no_4"].source},
    "bob": {"content_cost": NO_N_C_OTHERWISE, "layer_style_cost": MISTAKES["layer_no_4"].source},
    "cat": {"content_cost": NO_N_C, "style_cost": SQUARED_COEFFICIENTS},
    "dan": {"content_cost": MISTAKES["content_mean"].source, "style_cost": SQUARED_COEFFICIENTS_OTHERWISE},
    "eve": {"content_cost": MISTAKES["content_mean"].source, "total_cost": WRONG_SIGN},
    "fay": {"content_cost": ONE_OFF, "total_cost": WRONG_SIGN_OTHERWISE},
    "gus": {
        exercise: CORRECT[name].source
        for exercise, name in [
            ("content_cost", "content_reduce_mean"),
            ("gram_matrix", "gram_einsum"),
            ("layer_style_cost", "layer_reduce_mean"),
            ("style_cost", "style_builtin_sum"),
            ("total_cost", "total_tf_ops"),
            ("train_step", "step_keras_apply_watch"),
        ]
    },
    "solved": {},
}
LATE = {"hal": {"content_cost": NO_N_C_OTHERWISE}}
# The clusters the class must form: (exercise, members).
EXPECTED_CLUSTERS = {
    ("content_cost", ("ann", "bob", "cat")),
    ("content_cost", ("dan", "eve")),
    ("content_cost", ("fay",)),
    ("layer_style_cost", ("ann", "bob")),
    ("style_cost", ("cat", "dan")),
    ("total_cost", ("eve", "fay")),
}
COMMENTS = {
    "no n_C": "The normalisation has three sizes: n_H, n_W and n_C; yours lacks n_C. (comment for the n_C cluster)",
    "sign": "A cost is never negative: look at the minus sign in front. (comment for the sign cluster)",
}


def graded_cases(exercise):
    """The cases of the source notebook's graded cell of ``exercise`` (its seeds are placeholders)."""
    for cell in read_notebook(SOURCE_NOTEBOOK).cells:
        call = reported_call(cell.source) if cell.cell_type == "code" else None
        if call and call[0] == exercise:
            return call[1]
    raise AssertionError(exercise)


def behaviour_of(exercise, source, cases=None):
    """``describe`` of what ``source``'s function reports on the graded cases, judged by the grader (None
    if it is right)."""
    import tensorflow as tf

    namespace = {"tf": tf, "STYLE_LAYERS": ()}
    exec(source, namespace)
    cases = cases or graded_cases(exercise)
    function = namespace[nst_checks.FUNCTIONS[exercise]]
    measured = [nst_checks.measure(exercise, function, case) for case in cases]
    outputs = [
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {nst_checks.RESULTS_MIME: json.loads(json.dumps({"exercise": exercise, "results": measured}))},
        }
    ]
    message = verdict(exercise, cases, outputs)
    return None if message is None else describe(failed_behaviour(exercise, cases, outputs, message))


def test_a_value_off_by_a_shape_factor_is_named_by_it_and_keeps_its_key_on_other_inputs():
    found = behaviour_of("content_cost", NO_N_C)
    assert found["name"] == "the value is off by a factor that depends on the shape: ×n_C", found
    assert behaviour_of("content_cost", NO_N_C_OTHERWISE) == found
    # Other seeds (a rotated course key), the same shapes: the same key.
    other_seeds = [(seed + 1000, spec) for seed, spec in graded_cases("content_cost")]
    assert cluster_key("content_cost", behaviour_of("content_cost", NO_N_C, other_seeds)["signature"]) == (
        cluster_key("content_cost", found["signature"])
    )
    sign = behaviour_of("total_cost", WRONG_SIGN)
    assert sign["name"] == "the value has the wrong sign" and sign == behaviour_of("total_cost", WRONG_SIGN_OTHERWISE)
    hinted = behaviour_of("content_cost", MISTAKES["content_mean"].source)
    assert hinted["name"] == nst_checks.HINTS["factor_4"] and hinted["signature"] == {"hint": "factor_4"}
    one_off = behaviour_of("content_cost", ONE_OFF)
    assert one_off["factor"] is None and "cases" in one_off["signature"]
    assert behaviour_of("content_cost", CORRECT["content_reduce_mean"].source) is None
    assert behaviour_of("train_step", STEPS_TWICE)["name"] == "the optimizer took 4 steps in 2 calls"


def test_an_exported_cluster_teaches_the_visible_check_its_hint(tmp_path, monkeypatch):
    found = behaviour_of("content_cost", NO_N_C)
    key = cluster_key("content_cost", found["signature"])
    cluster = clusters_module.Cluster("content_cost", key, found["name"], found["signature"], found["factor"])
    learned = tmp_path / "learned.json"
    hint = "divide by n_H × n_W × n_C: each entry of the activation counts once"
    monkeypatch.setattr(nst_checks, "LEARNED_MISTAKES", str(learned))  # an absolute path joins as itself
    monkeypatch.setattr(nst_checks, "HINTS", dict(nst_checks.HINTS))
    import tensorflow as tf

    namespace = {"tf": tf}
    exec(NO_N_C, namespace)
    with pytest.raises(AssertionError) as before:
        nst_checks.check("content_cost", namespace["compute_content_cost"])
    assert hint not in str(before.value) and "it differs from the expected value" in str(before.value)
    clusters_module.export(cluster, hint, learned)
    assert json.loads(learned.read_text())[0]["factor"] == found["factor"]
    with pytest.raises(AssertionError) as after:
        nst_checks.check("content_cost", namespace["compute_content_cost"])
    assert hint in str(after.value), after.value
    # A mistake no factor explains cannot be taught; nothing is written then.
    one_off = behaviour_of("content_cost", ONE_OFF)
    unrelated = clusters_module.Cluster("content_cost", "content_cost/x", one_off["name"], one_off["signature"], None)
    with pytest.raises(SystemExit, match="no factor"):
        clusters_module.export(unrelated, "anything", tmp_path / "other.json")
    assert not (tmp_path / "other.json").exists()


def test_the_clusters_tables_show_students_code_and_ids_as_text(tmp_path):
    hostile = "def total_cost(J_content, J_style):\n    return 0  # <script>window.nstPwned=1</script>"
    found = clusters_module.Cluster("total_cost", "total_cost/abc", "a name <b>", {"cases": []}, None)
    found.sources.update({"=HYPERLINK(1)": hostile, "bea": hostile + "\n\n"})
    page = report.clusters_html({"total_cost": [found]}, {})
    assert live_parts(page) == [] and "&lt;script&gt;window.nstPwned=1&lt;/script&gt;" in page
    assert "no comment yet" in page and "a name &lt;b&gt;" in page
    report.write_clusters_csv(tmp_path / "clusters.csv", {"total_cost": [found]}, {"total_cost/abc": "written"})
    with (tmp_path / "clusters.csv").open() as file:
        [row] = csv.DictReader(file)
    assert row["members"] == "'=HYPERLINK(1) bea" and row["commented"] == "yes" and row["representative"] == hostile


def test_a_comments_file_must_map_cluster_keys_to_text(tmp_path):
    path = tmp_path / "comments.yaml"
    assert load_comments(path) == {}  # none yet
    for text, error in [
        ("- a list\n", "not a list"),
        ("content_cost/abc: 3\n", "must be text"),
        ("nobody/abc: a comment\n", "not a cluster key"),
        ("content_cost/abc: [unclosed\n", "not readable YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(SystemExit, match=re.escape(error)):
            load_comments(path)
    path.write_text("content_cost/abc: |\n  two\n  lines\n")
    assert load_comments(path) == {"content_cost/abc": "two\nlines"}


needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="grading needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)"
)


def submit(course, students):
    release = course / "release" / ASSIGNMENT
    source = read_notebook(course / "notebooks" / ASSIGNMENT / NOTEBOOK)  # the one the release came from
    solved = fill_solutions(read_notebook(release / NOTEBOOK), source)
    for student, exercises in students.items():
        notebook = nbformat.from_dict(solved)
        for exercise, source in exercises.items():
            cell_by_grade_id(notebook, nst_checks.FUNCTIONS[exercise]).source = source.strip("\n")
        target = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(release, target)
        nbformat.write(notebook, target / NOTEBOOK)


def run(course, *args):
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, f"{args} exited with {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr}"
    return result.stdout


def feedback_pages(course):
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    return {
        student.name: next((student / ASSIGNMENT).glob("*.html")).read_text()
        for student in (course / "feedback").iterdir()
    }


def key_of(clusters, exercise, members):
    [found] = [each for each in clusters[exercise] if tuple(each.members) == members]
    return found.key


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, released_course):
    course = tmp_path_factory.mktemp("clusters") / "course"
    shutil.copytree(released_course, course)
    submit(course, CLASS)
    run(course, "nst_grader.grade", "--quiet", "--workers", "2")
    return course


@needs_bwrap
def test_each_mistake_is_a_cluster_of_its_students_and_the_report_shows_them(graded_class):
    course = graded_class
    found = clusters_module.cluster(clusters_module.course_failures(course))
    assert {(exercise, tuple(each.members)) for exercise in found for each in found[exercise]} == EXPECTED_CLUSTERS
    members = {student for each in found.values() for cluster in each for student in cluster.members}
    assert not members & {"gus", "solved"}  # correct variants never cluster with mistakes
    no_n_c = next(each for each in found["content_cost"] if each.members == ["ann", "bob", "cat"])
    assert no_n_c.name.endswith("×n_C") and no_n_c.representative == NO_N_C.strip("\n")  # the most common
    assert found["content_cost"][0] is no_n_c  # the largest first
    run(course, "nst_grader.report")
    with (course / "reports" / "clusters.csv").open() as file:
        rows = {row["key"]: row for row in csv.DictReader(file)}
    assert len(rows) == len(EXPECTED_CLUSTERS) and rows[no_n_c.key]["members"] == "ann bob cat"
    assert all(row["commented"] == "no" for row in rows.values())
    page = (course / "reports" / "report.html").read_text()
    assert "is &lt;b&gt;this&lt;/b&gt; &amp; that" not in page  # bob's variant is not the representative
    assert nst_checks.HINTS["factor_4"] in page and "no comment yet" in page
    assert "another mistake" not in page


@needs_bwrap
def test_a_comment_reaches_its_cluster_only_and_survives_regrading_and_late_work(graded_class):
    course = graded_class
    found = clusters_module.cluster(clusters_module.course_failures(course))
    keys = {
        "no n_C": key_of(found, "content_cost", ("ann", "bob", "cat")),
        "sign": key_of(found, "total_cost", ("eve", "fay")),
    }
    (course / "comments").mkdir()
    (course / "comments" / f"{ASSIGNMENT}.yaml").write_text(
        "".join(f"{keys[name]}: {json.dumps(text)}\n" for name, text in COMMENTS.items())
    )
    assert "written for 3 students" in run(course, "nst_grader.comments")
    pages = feedback_pages(course)
    owners = {"no n_C": {"ann", "bob", "cat"}, "sign": {"eve", "fay"}}
    for name, text in COMMENTS.items():
        assert {student for student, page in pages.items() if text in page} == owners[name], name
    run(course, "nst_grader.report")
    with (course / "reports" / "clusters.csv").open() as file:
        commented = {row["key"] for row in csv.DictReader(file) if row["commented"] == "yes"}
    assert commented == set(keys.values())

    # ann is regraded (her graded notebook is gone, as after --force) and hal submits late; make
    # autograde grades them and writes the comments again.
    (course / "autograded" / "ann" / ASSIGNMENT / NOTEBOOK).unlink()
    submit(course, LATE)
    run(course, "nst_grader.grade", "--quiet", "--workers", "2")
    run(course, "nst_grader.comments")
    found = clusters_module.cluster(clusters_module.course_failures(course))
    assert key_of(found, "content_cost", ("ann", "bob", "cat", "hal")) == keys["no n_C"]
    pages = feedback_pages(course)
    assert {student for student, page in pages.items() if COMMENTS["no n_C"] in page} == {"ann", "bob", "cat", "hal"}


def comment_boxes(lab, course, students):
    """``{student: {comment box id: its text}}`` of each student's formgrader page, in real Chromium, once
    the page has loaded the comments from formgrader's API."""
    from nbgrader.api import Gradebook
    from playwright.sync_api import sync_playwright

    base, token = lab
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        ids = {student: gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student).id for student in students}
    shown = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            # The page's API calls carry the token too (a token in the page's address alone does not).
            page = browser.new_context(extra_http_headers={"Authorization": f"token {token}"}).new_page()
            for student, submission in ids.items():
                with page.expect_response(lambda response: "/formgrader/api/comments" in response.url) as comments:
                    page.goto(f"{base}/formgrader/submissions/{submission}/", wait_until="load", timeout=90_000)
                assert comments.value.status == 200, comments.value.status
                page.wait_for_load_state("networkidle", timeout=90_000)
                shown[student] = dict(
                    page.locator("textarea.comment").evaluate_all("boxes => boxes.map(box => [box.id, box.value])")
                )
        finally:
            browser.close()
    return shown


@needs_bwrap
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)")
def test_formgrader_shows_a_clusters_comment_to_its_members_only(graded_class):
    course = graded_class
    found = clusters_module.cluster(clusters_module.course_failures(course))
    [sign] = [each for each in found["total_cost"] if each.name == "the value has the wrong sign"]
    (course / "comments").mkdir(exist_ok=True)
    (course / "comments" / f"{ASSIGNMENT}.yaml").write_text(f"{sign.key}: {json.dumps(COMMENTS['sign'])}\n")
    run(course, "nst_grader.comments")
    students = sorted(entry.name for entry in (course / "autograded").iterdir())
    home = course.parent / "home"
    with running_lab(course, home, course.parent / "jupyterlab.log", lab_env(home)) as lab:
        shown = comment_boxes(lab, course, students)
    box = f"{nst_checks.FUNCTIONS['total_cost']}-comment"  # the answer cell's comment box
    assert all(box in boxes for boxes in shown.values()), shown
    assert {student for student, boxes in shown.items() if boxes[box] == COMMENTS["sign"]} == set(sign.members)
    assert not any(COMMENTS["sign"] in text for boxes in shown.values() for name, text in boxes.items() if name != box)
