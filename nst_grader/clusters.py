"""The class's mistakes, grouped by what they computed: ``python -m nst_grader.clusters`` (issue #31).

Each failed graded cell of an autograded notebook holds what it computed (``nst_grader.behaviour``,
stored by ``nst_grader.scoring``). Students whose cells of one exercise have the same signature form
a cluster: named by the hint the checks gave, else by how the value relates to the reference; keyed
by the exercise and the signature, so that a comment written for a key (``nst_grader.comments``)
reaches the students who join it later. ``make report`` shows the clusters, largest first, each with
one representative source of the student's function: the most common one, the shortest among those.

``python -m nst_grader.clusters`` lists them; ``python -m nst_grader.clusters export KEY --hint TEXT``
adds the cluster's relation to the reference (a factor in the case's dimensions) and the hint to
``LEARNED_MISTAKES`` in the assignment's source folder: the release carries it next to
``nst_checks.py``, whose visible checks read it (``nst_checks.with_learned_mistakes``), so next year's
students get that hint at check time.
"""

import argparse
import collections
import dataclasses
import json
import os
import sys
from pathlib import Path

import nst_checks
from atomic_files import atomic_path
from nst_grader.behaviour import METADATA_KEY, cluster_key, describe
from nst_grader.grade import ASSIGNMENT, NOTEBOOK

LEARNED_MISTAKES = Path("notebooks") / ASSIGNMENT / nst_checks.LEARNED_MISTAKES  # in the course
EXERCISE_OF_FUNCTION = {function: exercise for exercise, function in nst_checks.FUNCTIONS.items()}


@dataclasses.dataclass(frozen=True)
class Failure:
    """One student's failed graded cell: what it computed and the source of the function it ran."""

    student: str
    exercise: str
    behaviour: dict  # nst_grader.behaviour.summarise
    source: str  # the student's cell that defines the exercise's function ("" if none)


@dataclasses.dataclass
class Cluster:
    exercise: str
    key: str
    name: str
    signature: dict
    factor: dict | None  # the value's factor to the reference (nst_grader.behaviour.fit_factor), if any
    sources: dict = dataclasses.field(default_factory=dict)  # student -> source of the function

    @property
    def members(self) -> list[str]:
        return sorted(self.sources)

    @property
    def representative(self) -> str:
        """The most common source among the members (whitespace at line ends ignored), the shortest
        of those; then the first in order."""
        counts = collections.Counter(_normalised(source) for source in self.sources.values())
        return min(counts, key=lambda source: (-counts[source], len(source), source)) if counts else ""


def _normalised(source):
    return "\n".join(line.rstrip() for line in source.strip("\n").splitlines() if line.strip())


def failures_in(notebook: dict, student: str) -> list[Failure]:
    """The ``Failure`` of each failed graded cell of a graded notebook (a dict, as JSON holds it)."""
    cells = notebook.get("cells", [])
    sources = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in EXERCISE_OF_FUNCTION:
            source = cell.get("source", "")
            sources[EXERCISE_OF_FUNCTION[grade_id]] = source if isinstance(source, str) else "".join(source)
    found = []
    for cell in cells:
        behaviour = cell.get("metadata", {}).get(METADATA_KEY)
        if isinstance(behaviour, dict) and behaviour.get("exercise") in nst_checks.FUNCTIONS:
            exercise = behaviour["exercise"]
            found.append(Failure(student, exercise, behaviour, sources.get(exercise, "")))
    return found


def course_failures(course: str | Path, students: list[str] | None = None) -> list[Failure]:
    """Every ``Failure`` in the course's graded notebooks (``autograded/<student>/...``), of
    ``students`` only if given. Read as plain JSON: ten thousand notebooks take seconds, not minutes."""
    folder = Path(course) / "autograded"
    if students is None:
        students = sorted(entry.name for entry in os.scandir(folder)) if folder.is_dir() else []
    found = []
    for student in students:
        path = folder / student / ASSIGNMENT / NOTEBOOK
        if path.is_file():
            with path.open("rb") as file:
                found += failures_in(json.load(file), student)
    return found


def cluster(failures: list[Failure]) -> dict[str, list[Cluster]]:
    """``{exercise: [Cluster]}``, the clusters of each exercise largest first (then by key)."""
    clusters = {}
    described = {}
    for failure in failures:
        text = json.dumps(failure.behaviour, sort_keys=True)
        if text not in described:  # the same behaviour is described once: a class has few
            described[text] = describe(failure.behaviour)
        found = described[text]
        key = cluster_key(failure.exercise, found["signature"])
        if key not in clusters:
            clusters[key] = Cluster(failure.exercise, key, found["name"], found["signature"], found["factor"])
        clusters[key].sources[failure.student] = failure.source
    by_exercise = collections.defaultdict(list)
    for found in sorted(clusters.values(), key=lambda c: (-len(c.sources), c.key)):
        by_exercise[found.exercise].append(found)
    return {exercise: by_exercise[exercise] for exercise in nst_checks.FUNCTIONS if exercise in by_exercise}


def find(clusters: dict[str, list[Cluster]], key: str) -> Cluster:
    """The cluster of ``key``; a clear error naming the keys there are if none has it."""
    for found in clusters.values():
        for each in found:
            if each.key == key:
                return each
    keys = ", ".join(each.key for found in clusters.values() for each in found) or "none"
    raise SystemExit(f"no cluster has the key {key!r}; the clusters' keys: {keys}")


def learned_entry(found: Cluster, hint: str) -> dict[str, object]:
    """The ``LEARNED_MISTAKES`` entry of a cluster: its exercise, its value's factor and the hint.
    A cluster that the checks already name, or whose value no factor explains, cannot be learned."""
    if "hint" in found.signature:
        raise SystemExit(f"{found.key}: the checks already give this hint: {found.name}")
    if found.factor is None:
        raise SystemExit(
            f"{found.key} ({found.name}): no factor in the inputs' dimensions explains its values, so the "
            "checks could not recognise it on their own inputs"
        )
    if not hint.strip():
        raise SystemExit("the hint is empty")
    return {"key": found.key, "exercise": found.exercise, "factor": found.factor, "hint": hint.strip()}


def export(found: Cluster, hint: str, path: Path) -> dict[str, object]:
    """Add (or replace) the cluster's entry in the learned mistakes file, atomically."""
    entry = learned_entry(found, hint)
    entries = json.loads(path.read_text()) if path.exists() else []
    entries = [each for each in entries if each["key"] != entry["key"]] + [entry]
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--course", type=Path, default=Path.cwd())
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="each exercise's clusters, largest first (the default)")
    learn = commands.add_parser("export", help="teach the visible checks a cluster's mistake and its hint")
    learn.add_argument("key", help="the cluster's key, as make report or list shows it")
    learn.add_argument("--hint", required=True, help="what the check tells a student whose value this is")
    learn.add_argument("--out", type=Path, default=None, help=f"default: COURSE/{LEARNED_MISTAKES}")
    parser.epilog = learn.format_help()  # the export's options, in the one --help
    args = parser.parse_args(argv)
    clusters = cluster(course_failures(args.course.resolve()))
    if args.command == "export":
        out = args.out or args.course.resolve() / LEARNED_MISTAKES
        entry = export(find(clusters, args.key), args.hint, out)
        print(f"{out}: {entry['key']} ({entry['exercise']}) is checked with the hint: {entry['hint']}")
        return 0
    for exercise, found in clusters.items():
        print(exercise)
        for each in found:
            print(f"  {len(each.sources):4d}  {each.key}  {each.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
