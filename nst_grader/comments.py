"""One comment per cluster of mistakes, in every member's feedback: ``python -m nst_grader.comments``
(``make comment``; issue #31).

The instructor writes ``comments/art_generation.yaml``: a mapping from a cluster's key, as ``make
report`` shows it (``nst_grader.clusters``), to the comment its students should read::

    content_cost/factor_4: |
      tf.reduce_mean divides by n_H·n_W·n_C already; the formula's 4 is still missing.

This command writes each comment into nbgrader's gradebook, as the manual comment on the exercise's
answer cell (the cell that defines the function), for every graded student of the cluster: formgrader
shows it there and ``make feedback`` prints it under that cell. Regrading a submission starts its
comments afresh, so ``make autograde`` runs this command again when the file exists: the comments
reach the regraded and the late students too, since a cluster's key comes from what its members
computed, not from its rank. A key that no cluster has is reported, not an error (a mistake nobody
made this year); a comment that is not text is an error, and nothing is written then.
"""

import argparse
import sys
import warnings
from pathlib import Path

import nst_checks
from nst_grader.clusters import cluster, course_failures
from nst_grader.grade import ASSIGNMENT, NOTEBOOK, graded_students

COMMENTS = Path("comments") / f"{ASSIGNMENT}.yaml"


def load_comments(path: str | Path) -> dict[str, str]:
    """``{cluster key: comment}`` of a comments file, or {} if there is none; a clear error (naming the
    file and the entry) for a file that is not such a mapping."""
    import yaml

    path = Path(path)
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SystemExit(f"{path}: not readable YAML ({error})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: write one `cluster key: comment` a line, not a {type(loaded).__name__}")
    for key, text in loaded.items():
        if not isinstance(key, str) or "/" not in key or key.split("/", 1)[0] not in nst_checks.FUNCTIONS:
            raise SystemExit(f"{path}: {key!r} is not a cluster key (exercise/..., as make report shows them)")
        if not isinstance(text, str) or not text.strip():
            raise SystemExit(f"{path}: the comment of {key} must be text, not {text!r}")
    return {key: text.strip() for key, text in loaded.items()}


def write_comments(course: str | Path, db_url: str, comments: dict[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """Write each comment to its cluster's graded students. Returns ``{key: [students]}`` written, and
    the keys of ``comments`` that no cluster has."""
    from nbgrader.api import Gradebook

    students = sorted(graded_students(course, db_url))
    clusters = {found.key: found for each in cluster(course_failures(course, students)).values() for found in each}
    written = {}
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's notes on nbgrader's session handling
        for key, text in comments.items():
            if key not in clusters:
                continue
            found = clusters[key]
            for student in found.members:
                comment = gradebook.find_comment(
                    nst_checks.FUNCTIONS[found.exercise], Path(NOTEBOOK).stem, ASSIGNMENT, student
                )
                comment.manual_comment = text
            written[key] = found.members
        gradebook.db.commit()
    return written, sorted(set(comments) - set(clusters))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///COURSE/gradebook.db)")
    parser.add_argument("--comments", type=Path, default=None, help=f"default: COURSE/{COMMENTS}")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    comments = load_comments(args.comments or course / COMMENTS)
    if not comments:
        print(f"no comments in {args.comments or course / COMMENTS}: nothing to write")
        return 0
    written, unknown = write_comments(course, args.db or f"sqlite:///{course / 'gradebook.db'}", comments)
    for key, students in written.items():
        print(f"{key}: written for {len(students)} students")
    for key in unknown:
        print(f"{key}: no graded student is in this cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
