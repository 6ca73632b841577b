"""Files in (``nst_grader.intake``), on a real file system: a submission folder holding every kind of
entry is copied with only its regular files and folders, each other entry dropped with its reason,
and a notebook that is not a regular file refuses the submission with nothing copied."""

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest

from course import nbgrader_env
from helpers import bind_unix_socket
from nst_grader import intake
from nst_grader.intake import Refused, admit
from unprivileged import as_unprivileged, unprivileged_user

NOTEBOOK = "Art_Generation_with_Neural_Style_Transfer.ipynb"
ROOT = Path(__file__).resolve().parents[1]
SECRET = "root's secret"


@pytest.fixture
def course(tmp_path):
    """``tmp_path`` with a secret outside the submissions, a peer's notebook and one student's folder
    holding a regular notebook."""
    (tmp_path / "secret.txt").write_text(SECRET)
    peer = tmp_path / "submitted" / "peer" / "art_generation"
    peer.mkdir(parents=True)
    (peer / NOTEBOOK).write_text("peer's notebook")
    folder = tmp_path / "submitted" / "student" / "art_generation"
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_text("student's notebook")
    return tmp_path


def folder_of(course):
    return course / "submitted" / "student" / "art_generation"


def every_file(target):
    """{relative path: content} of every file under ``target``, and the relative folders."""
    files, folders = {}, []
    for root, dirnames, filenames in os.walk(target):
        for name in dirnames:
            folders.append(os.path.relpath(os.path.join(root, name), target))
        for name in filenames:
            path = os.path.join(root, name)
            assert stat.S_ISREG(os.lstat(path).st_mode)
            with open(path, "rb") as file:
                files[os.path.relpath(path, target)] = file.read()
    return files, sorted(folders)


def test_only_regular_files_and_folders_come_in_and_every_other_entry_is_dropped_with_its_reason(course, tmp_path):
    folder = folder_of(course)
    (folder / "images").mkdir()
    (folder / "images" / "mine.txt").write_text("kept")
    (folder / "absolute").symlink_to(course / "secret.txt")
    (folder / "relative").symlink_to("../../../secret.txt")
    (folder / "dangling").symlink_to("../../nowhere/at/all")
    (folder / "loop").symlink_to("loop")
    (folder / "peer.ipynb").symlink_to(course / "submitted" / "peer" / "art_generation" / NOTEBOOK)
    (folder / "linked_folder").symlink_to(course)
    (folder / "images" / "deep_link").symlink_to("/etc")
    os.link(course / "secret.txt", folder / "hard_link")
    os.mkfifo(folder / "fifo")
    listening = socket.socket(socket.AF_UNIX)
    bind_unix_socket(listening, folder)
    odd = os.fsdecode(b"odd\xff\x1b[31mname")
    (folder / odd).write_text("odd but regular")
    devices = {}
    if os.geteuid() == 0:
        os.mknod(folder / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
        os.mknod(folder / "block", stat.S_IFBLK | 0o600, os.makedev(7, 0))
        devices = {"zero": "is a character device", "block": "is a block device"}
    target = tmp_path / "work" / "copy"
    try:
        result = admit(folder, target, NOTEBOOK)
    finally:
        listening.close()
    files, folders = every_file(target)
    assert files == {
        NOTEBOOK: b"student's notebook",
        "images/mine.txt": b"kept",
        os.fsdecode(os.fsencode(odd)): b"odd but regular",
    }
    assert folders == ["images"]
    assert dict(result.dropped) == {
        "absolute": "is a symbolic link",
        "relative": "is a symbolic link",
        "dangling": "is a symbolic link",
        "loop": "is a symbolic link",
        "peer.ipynb": "is a symbolic link",
        "linked_folder": "is a symbolic link",
        "images/deep_link": "is a symbolic link",
        "hard_link": "has 2 names (a hard link)",
        "fifo": "is a FIFO",
        "socket": "is a socket",
        **devices,
    }
    assert sorted(result.copied) == sorted(files)
    assert json.loads(result.dropped_json()) == [list(entry) for entry in result.dropped]
    assert result.dropped_text().startswith(f"dropped {len(result.dropped)} entries: ")
    assert SECRET.encode() not in b"".join(files.values())


def test_an_odd_name_is_shown_escaped():
    shown = intake.printable(os.fsdecode(b"a\xff\x1b[2Jb\n"))
    assert shown == "a\\xff\\x1b[2Jb\\n" and shown.isprintable()
    assert len(intake.printable("x" * 1000)) == 200


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda path, course: path.symlink_to(course / "secret.txt"), "is a symbolic link"),
        (lambda path, course: path.symlink_to("../../peer/art_generation/" + NOTEBOOK), "is a symbolic link"),
        (lambda path, course: path.symlink_to("/nowhere"), "is a symbolic link"),
        (lambda path, course: os.mkfifo(path), "is a FIFO"),
        (lambda path, course: path.mkdir(), "is a folder"),
        (lambda path, course: os.link(course / "secret.txt", path), "has 2 names (a hard link)"),
        (lambda path, course: None, "is missing"),
        (
            lambda path, course: path.open("wb").truncate((intake.MAX_FILE_MB + 1) * 2**20),
            f"is over {intake.MAX_FILE_MB} MB",
        ),
    ],
    ids=["link-out", "link-to-peer", "dangling", "fifo", "folder", "hard-link", "missing", "too-big"],
)
def test_a_notebook_that_is_not_a_regular_file_refuses_the_submission_with_nothing_copied(course, tmp_path, make, why):
    folder = folder_of(course)
    (folder / NOTEBOOK).unlink()
    (folder / "other.txt").write_text("x")
    make(folder / NOTEBOOK, course)
    target = tmp_path / "work" / "copy"
    with pytest.raises(Refused) as refused:
        admit(folder, target, NOTEBOOK)
    assert refused.value.reason == f"{NOTEBOOK} {why}: not graded"
    assert not target.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="not applicable here: only root may make a device node")
def test_a_notebook_that_is_a_character_device_is_refused_unread(course, tmp_path):
    folder = folder_of(course)
    (folder / NOTEBOOK).unlink()
    os.mknod(folder / NOTEBOOK, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero: endless
    with pytest.raises(Refused, match="is a character device: not graded"):
        admit(folder, tmp_path / "copy", NOTEBOOK)


def test_a_submission_folder_that_is_a_link_is_refused(course, tmp_path):
    linked = course / "submitted" / "linked" / "art_generation"
    linked.parent.mkdir()
    linked.symlink_to(course / "submitted" / "peer" / "art_generation")
    with pytest.raises(Refused, match="^the submission folder is a symbolic link: not graded$"):
        admit(linked, tmp_path / "copy", NOTEBOOK)
    (course / "submitted" / "student_link").symlink_to(course / "submitted" / "peer")
    with pytest.raises(Refused, match="^the submission folder is a symbolic link: not graded$"):
        admit(course / "submitted" / "student_link" / "art_generation", tmp_path / "copy", NOTEBOOK)
    assert not (tmp_path / "copy").exists()


def test_a_fifo_is_dropped_without_blocking_even_with_a_writer_waiting(course, tmp_path):
    """A FIFO swapped in after the ``lstat`` would block a plain open; O_NONBLOCK and the ``fstat``
    after opening drop it. Shown here on a FIFO opened directly."""
    folder = folder_of(course)
    os.mkfifo(folder / "fifo")
    copier = intake._Copier(tmp_path)
    root = intake.open_submission(folder)
    try:
        assert copier.copy_file("fifo", root, "fifo") == "is a FIFO"
    finally:
        os.close(root)
    assert not (tmp_path / "fifo").exists()


def test_file_count_size_and_depth_limits(course, tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_FILES", 4)
    monkeypatch.setattr(intake, "MAX_TOTAL_MB", 1)
    monkeypatch.setattr(intake, "MAX_DEPTH", 3)
    folder = folder_of(course)
    for index in range(5):
        (folder / f"small-{index}.txt").write_text("x")
    (folder / "a-big.bin").write_bytes(bytes(2**20))  # would pass the total (the notebook is in)
    deep = folder / "d1" / "d2" / "d3"
    deep.mkdir(parents=True)
    (deep / "too-deep.txt").write_text("x")
    result = admit(folder, tmp_path / "copy", NOTEBOOK)
    files, folders = every_file(tmp_path / "copy")
    assert sorted(files) == [NOTEBOOK, "small-0.txt", "small-1.txt", "small-2.txt"]
    assert folders == ["d1", "d1/d2"]
    assert dict(result.dropped) == {
        "a-big.bin": "would take the submission over 1 MB",
        "d1/d2/d3": "is deeper than 3 folders",
        "small-3.txt": "is over the limit of 4 files",
        "small-4.txt": "is over the limit of 4 files",
    }
    assert result.total_bytes == sum(map(len, files.values()))


# Copies the submission at argv[1] into argv[2] and prints what was dropped, as JSON.
ADMIT = """
import json, sys
from nst_grader.intake import admit
print(json.dumps(admit(sys.argv[1], sys.argv[2], sys.argv[3]).dropped))
"""


def test_an_unreadable_file_is_dropped_for_a_normal_user(tmp_path):
    """Root reads a file of mode 0; a normal user (as root: ``unprivileged.UNPRIVILEGED_USER``) drops it."""
    with tempfile.TemporaryDirectory() as shared:
        os.chmod(shared, 0o755)
        folder = Path(shared) / "art_generation"
        folder.mkdir()
        (folder / NOTEBOOK).write_text("notebook")
        (folder / "private.txt").write_text("x")
        os.chmod(folder / "private.txt", 0)
        (folder / "closed").mkdir(mode=0)
        if os.geteuid() == 0:
            user = unprivileged_user()
            os.chown(shared, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            as_unprivileged([sys.executable, "-c", ADMIT, str(folder), str(Path(shared) / "copy"), NOTEBOOK]),
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[1],
        )
        assert result.returncode == 0, result.stderr
        assert dict(json.loads(result.stdout)) == {
            "private.txt": "cannot be read (Permission denied)",
            "closed": "cannot be read (Permission denied)",
        }


def test_a_file_that_grows_while_it_is_read_is_cut_off(course, tmp_path, monkeypatch):
    """The size checked before reading is not trusted: at most the limit is read."""
    monkeypatch.setattr(intake, "MAX_FILE_MB", 1)
    monkeypatch.setattr(intake, "READ_CHUNK", 2**16)
    folder = folder_of(course)
    growing = folder / "growing.bin"
    growing.write_bytes(b"")
    stop = threading.Event()

    def grow():
        with growing.open("ab") as file:
            while not stop.is_set() and file.tell() < 8 * 2**20:
                file.write(bytes(2**16))
                file.flush()

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        result = admit(folder, tmp_path / "copy", NOTEBOOK)
    finally:
        stop.set()
        writer.join()
    copied = tmp_path / "copy" / "growing.bin"
    assert ("growing.bin" in result.copied and copied.stat().st_size <= 2**20) or (
        dict(result.dropped).get("growing.bin", "").startswith("is over") and not copied.exists()
    )


def _zip_symlink(archive, name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, target)


def _tar_member(archive, name, kind, **fields):
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info)


def test_zip_collect_lets_in_only_regular_files_within_limits_and_never_outside_submitted(tmp_path):
    """Real ``nbgrader zip_collect`` with the course's configuration, on archives holding links of
    both kinds, devices, a FIFO, ``..`` and absolute names, a zip bomb, a nested archive and an id
    that climbs out of ``submitted/``."""
    course = tmp_path / "course"
    (course / "release" / "art_generation").mkdir(parents=True)
    (course / "release" / "art_generation" / NOTEBOOK).write_text("{}")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    archives = course / "downloaded" / "art_generation" / "archive"
    archives.mkdir(parents=True)
    (tmp_path / "outside.zip").write_bytes(b"")
    (archives / "linked.zip").symlink_to(tmp_path / "outside.zip")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr(f"bob_{NOTEBOOK}", "bob's notebook")
        _zip_symlink(archive, f"bobby_{NOTEBOOK}", "/etc/shadow")
    with zipfile.ZipFile(archives / "class.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"alice_{NOTEBOOK}", "alice's notebook")
        _zip_symlink(archive, f"mallory_{NOTEBOOK}", "/etc/shadow")
        archive.writestr(f"../trudy_{NOTEBOOK}", "out")
        archive.writestr(f"/victor_{NOTEBOOK}", "out")
        archive.writestr(f"oscar_{NOTEBOOK}", bytes((intake.MAX_FILE_MB + 1) * 2**20))  # compresses to ~50 KB
        archive.writestr(f".._{NOTEBOOK}", "climbs out as a student id")
        archive.writestr("bob.zip", inner.getvalue())
    with tarfile.open(archives / "more.tar.gz", "w:gz") as archive:
        data = b"carol's notebook"
        info = tarfile.TarInfo(f"carol_{NOTEBOOK}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        _tar_member(archive, f"sym_{NOTEBOOK}", tarfile.SYMTYPE, linkname="/etc/shadow")
        _tar_member(archive, f"hard_{NOTEBOOK}", tarfile.LNKTYPE, linkname=f"carol_{NOTEBOOK}")
        _tar_member(archive, f"fifo_{NOTEBOOK}", tarfile.FIFOTYPE)
        _tar_member(archive, f"zero_{NOTEBOOK}", tarfile.CHRTYPE, devmajor=1, devminor=5)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "zip_collect",
            "art_generation",
            "--FileNameCollectorPlugin.named_regexp=.*/(?P<student_id>[^/_]+)_(?P<file_id>[^/]+)$",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    files, _ = every_file(course / "submitted")
    assert files == {
        f"alice/art_generation/{NOTEBOOK}": b"alice's notebook",
        f"bob/art_generation/{NOTEBOOK}": b"bob's notebook",
        f"carol/art_generation/{NOTEBOOK}": b"carol's notebook",
    }
    assert sorted(path.name for path in course.iterdir()) == [
        "downloaded",
        "nbgrader_config.py",
        "release",
        "submitted",
    ]
    assert not list(tmp_path.glob("*trudy*")) and not list(Path("/").glob("victor_*"))
    log = result.stderr
    for expected in (
        "linked.zip: it cannot be read",
        f"class.zip: mallory_{NOTEBOOK}: it is not a regular file",
        f"class.zip: ../trudy_{NOTEBOOK}: it climbs out",
        f"class.zip: /victor_{NOTEBOOK}: it is absolute",
        f"class.zip: oscar_{NOTEBOOK}: it is over {intake.MAX_FILE_MB} MB",
        f"bob.zip: bobby_{NOTEBOOK}: it is not a regular file",
        f"more.tar.gz: sym_{NOTEBOOK}: it is not a regular file",
        f"more.tar.gz: hard_{NOTEBOOK}: it is not a regular file",
        f"more.tar.gz: fifo_{NOTEBOOK}: it is not a regular file",
        f"more.tar.gz: zero_{NOTEBOOK}: it is not a regular file",
        "its student_id climbs out of its folder",
    ):
        assert expected in log, (expected, log[-5000:])


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_plain_nbgrader_autograde_and_feedback_follow_no_link(tmp_path):
    """Real ``nbgrader autograde`` with the course's configuration: a student whose notebook is a link
    to the source notebook is not graded (the others are); links beside a notebook (to a secret, a
    peer's notebook, a device as ``timestamp.txt``) and a FIFO are not followed into ``autograded/``;
    and ``nbgrader generate_feedback`` follows no link planted in ``autograded/``."""
    from course import SOURCE_NOTEBOOK, make_course, nbgrader

    course = make_course(tmp_path / "course")
    release = course / "release" / "art_generation" / NOTEBOOK
    linker = course / "submitted" / "linker" / "art_generation"
    linker.mkdir(parents=True)
    (linker / NOTEBOOK).symlink_to(course / "notebooks" / "art_generation" / SOURCE_NOTEBOOK.name)
    evil = course / "submitted" / "evil" / "art_generation"
    evil.mkdir(parents=True)
    shutil.copy(release, evil / NOTEBOOK)
    (tmp_path / "secret.txt").write_text(SECRET)
    (evil / "secret.txt").symlink_to(tmp_path / "secret.txt")
    (evil / "peer.ipynb").symlink_to(linker / NOTEBOOK)
    (evil / "timestamp.txt").symlink_to("/dev/zero")
    os.mkfifo(evil / "fifo")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", "art_generation"],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 1, log[-5000:]  # nbgrader's status when a student failed
    assert f"Refused: {NOTEBOOK} is a symbolic link: not graded" in log
    assert "dropped 4 entries: fifo (is a FIFO), peer.ipynb (is a symbolic link), secret.txt (is a" in log
    assert not (course / "autograded" / "linker").exists()
    graded, _ = every_file(course / "autograded" / "evil")
    assert f"art_generation/{NOTEBOOK}" in graded
    assert not {"art_generation/secret.txt", "art_generation/peer.ipynb", "art_generation/timestamp.txt"} & set(graded)
    assert not any(SECRET.encode() in content for content in graded.values())

    (course / "autograded" / "evil" / "art_generation" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    feedback = nbgrader(course, "generate_feedback", "art_generation", "--force")
    assert "dropped 1 entry: leak.txt (is a symbolic link)" in feedback.stdout + feedback.stderr
    given, _ = every_file(course / "feedback" / "evil")
    assert "art_generation/leak.txt" not in given and f"art_generation/{Path(NOTEBOOK).stem}.html" in given
    assert not any(SECRET.encode() in content for content in given.values())
