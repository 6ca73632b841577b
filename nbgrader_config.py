"""nbgrader course configuration: the repository root is the course directory.

    notebooks/art_generation/   source (solutions + hidden tests)   -> make release
    release/art_generation/     the student bundle
    submitted/<student>/art_generation/                             -> make autograde
    autograded/, feedback/, gradebook.db, grades.csv                (generated, not committed)
"""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.course_id = "deep-learning-and-art"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "outputs", "pretrained-model"]

# What students get in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: a cell that hangs is interrupted after this many seconds and scores 0; the other
# cells still run. A submission normally grades in a few seconds (NBGRADER_EXECUTION skips the
# network and the optimisation).
c.Execute.timeout = 20
c.Execute.interrupt_on_timeout = True
c.Autograde.create_student = True
