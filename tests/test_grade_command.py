"""The grading command's own steps, each run for real without a kernel: a new gradebook stamped as
nbgrader stamps one, an oversized notebook refused unread, and the limits read back from
nbgrader's log. test_grading.py grades a class of 50 with the whole command.
"""

import os

from sqlalchemy import create_engine, text

from course import ASSIGNMENT, NOTEBOOK, nbgrader_env
from nst_grader import grade, intake
from nst_grader.execute import LIMIT_NOTE


def test_a_new_gradebook_gets_the_schema_version_nbgrader_gives_one(tmp_path, monkeypatch):
    """``new_gradebook`` learns the version in process; nbgrader asks ``alembic heads`` in a subprocess."""
    from nbgrader.api import Gradebook, get_alembic_version

    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader calls alembic by name

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    grade.new_gradebook(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        [version] = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    engine.dispose()
    assert version == get_alembic_version()
    with Gradebook(url) as gradebook:  # nbgrader takes it as its own
        gradebook.add_student("someone")
        assert [student.id for student in gradebook.students] == ["someone"]
    grade.new_gradebook(url)  # a gradebook that has tables is left alone
    with Gradebook(url) as gradebook:
        assert [student.id for student in gradebook.students] == ["someone"]


def test_an_oversized_notebook_is_refused_unread(tmp_path):
    folder = tmp_path / "submitted" / "big" / ASSIGNMENT
    folder.mkdir(parents=True)
    with (folder / NOTEBOOK).open("wb") as file:  # sparse: no 51 MB written
        file.truncate((intake.MAX_FILE_MB + 1) * 2**20)
    result = grade.grade_submission(str(tmp_path), "big", str(tmp_path / "no-template.db"))
    assert result["status"] == "failed"
    assert result["reason"] == f"{NOTEBOOK} is over {intake.MAX_FILE_MB} MB: not graded"
    assert os.listdir(tmp_path) == ["submitted"]  # nothing copied, no course made


def test_the_limits_a_notebook_met_are_read_back_from_nbgrader_s_log():
    log = "\n".join(
        [
            "[INFO] Autograding x.ipynb",
            f"[WARNING] {LIMIT_NOTE}cell 8 (compute_content_cost): the cell ran past its 20 s",
            "[ERROR] Timeout waiting for execute reply (20s).",
            f"[WARNING] {LIMIT_NOTE}cell 8 (compute_content_cost): the cell ran past its 20 s",
            f"[WARNING] {LIMIT_NOTE}cell 25 (total_cost): the notebook ran past its 120 s",
        ]
    )
    assert grade.limits_met({"log": log}) == (
        "cell 8 (compute_content_cost): the cell ran past its 20 s; "
        "cell 25 (total_cost): the notebook ran past its 120 s"
    )
    assert grade.limits_met({"log": "[INFO] nothing"}) == "" == grade.limits_met({})
