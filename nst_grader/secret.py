"""The course's secret, and the graded cells' inputs drawn from it.

The source notebook's graded cells name their inputs as ``(seed, spec)`` cases (``nst_checks``). The
seeds written there are placeholders: while grading, ``SecretInputs`` (an nbgrader preprocessor that
runs before the notebook does) replaces each seed with one drawn from a key that stays with the
instructor: ``seed = HMAC-SHA256(key, "exercise/index")``, cut to 31 bits. The shapes stay. The
reference values are computed afterwards from the rewritten cells (``nst_grader.scoring``), so they
follow the same seeds, and ``gram_matrix``'s gradient direction (``nst_checks.gradient_direction``)
comes from the seed too.

So nothing a student can read (the release, the source notebook's hidden tests, a past year's
feedback or graded notebooks) tells the inputs, and a new key gives new inputs: see
``docs/threat-model.md`` for rotating it.

The key is 32 random bytes, as 64 hex digits in ``course_secret.key`` next to ``nbgrader_config.py``
(kept out of git and out of the release). It is created on first use (``secrets.token_hex``, mode
0600, atomically: two graders starting at once agree on one key).
"""

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from nst_grader.scoring import report_node, reported_call

KEY_FILE = "course_secret.key"
KEY_BYTES = 32
SEED_LIMIT = 2**31  # numpy's RandomState takes seeds below 2**32


def _read_key(path):
    """The key in ``path``, read without following a link; a clear error if it is not a private
    regular file holding KEY_BYTES bytes as hex."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: the course secret must be a regular file")
        if info.st_mode & 0o077:
            raise ValueError(f"{path}: the course secret is readable by others: chmod 600 {path}")
        text = os.read(fd, 4 * KEY_BYTES).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: the course secret must be {2 * KEY_BYTES} hex digits")
    return key


def load_key(path: str | Path) -> bytes:
    """The course's key from ``path``, created there first if there is none (mode 0600).

    Creation writes a private temporary file and links it into place, which fails if another
    process got there first: then its key is read, so concurrent graders share one key.
    """
    path = Path(path)
    if not os.path.lexists(path):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_hex(KEY_BYTES) + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another grader created it meanwhile: use theirs
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return _read_key(path)


def secret_seed(key: bytes, exercise: str, index: int) -> int:
    """The seed of the ``index``-th graded case of ``exercise`` under ``key``."""
    digest = hmac.new(key, f"{exercise}/{index}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % SEED_LIMIT


def secret_cases(key: bytes, exercise: str, cases: list[tuple]) -> list[tuple]:
    """``cases`` with their seeds drawn from ``key`` (the specs unchanged)."""
    return [(secret_seed(key, exercise, index), spec) for index, (_, spec) in enumerate(cases)]


def with_secret_seeds(source: str, key: bytes) -> str:
    """A graded cell's source with the cases of its ``nst_checks.report`` call drawn from ``key``, or
    the source unchanged if it has no such call."""
    call = reported_call(source)
    if call is None:
        return source
    exercise, cases = call
    cases_node = report_node(source).args[2]
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    encoded = source.encode()
    start = offsets[cases_node.lineno - 1] + cases_node.col_offset
    end = offsets[cases_node.end_lineno - 1] + cases_node.end_col_offset
    listed = "[\n" + "".join(f"    {case!r},\n" for case in secret_cases(key, exercise, cases)) + "]"
    return (encoded[:start] + listed.encode() + encoded[end:]).decode()


class SecretInputs(NbGraderPreprocessor):
    """Draw the graded cells' inputs from the course's secret before the notebook runs.

    Runs in ``Autograde.autograde_preprocessors`` before ``Execute``: by then nbgrader has restored
    every graded cell's source from the gradebook, so the student cannot change what is rewritten.
    """

    key_file = Unicode(
        KEY_FILE, help="the course secret (64 hex digits; created on first use); relative to the working folder"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        key = load_key(self.key_file)
        for cell in nb.cells:
            if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
                cell.source = with_secret_seeds(cell.source, key)
        return nb, resources
