"""Files that appear complete or not at all: each is written under a temporary name beside its
target, then renamed onto it. A rename within one folder is atomic (``os.replace``), so neither a
reader nor a crash ever sees half a file under the target's name. Images, the converted weights and
the engine's checkpoints are written this way::

    with atomic_path("outputs/result.png") as tmp:
        write_the_file(tmp)   # an exception here removes tmp and leaves result.png as it was
"""

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "temporary_file_beside"]


def temporary_file_beside(path):
    """Create an empty file ``.NAME.XXXXXXXX.partSUFFIX`` in ``path``'s folder, with the permissions
    the umask gives a new file; return its path. Raises an ``OSError`` naming the folder where no
    file can be created: no such folder, a file in its place, or a folder refusing new files (a
    real creation, as ``os.access`` says yes to root even where none can be made, as in /proc).
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        if folder.exists():
            raise NotADirectoryError(f"{folder} is a file, not a folder")
        raise FileNotFoundError(f"folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=folder)
    except OSError as error:
        raise type(error)(f"folder {folder} is not writable ({error.strerror})") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
    return Path(tmp)


class atomic_path:
    """Context manager giving a temporary path beside ``path``, renamed onto ``path`` on success.
    On any error the temporary file is removed and ``path`` is left untouched."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        self.tmp = temporary_file_beside(self.path)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False

    @staticmethod
    def leftovers(folder, name_pattern):
        """Temporary files that a killed process (SIGKILL, power cut) left in ``folder`` for targets
        whose names match the glob ``name_pattern``."""
        return Path(folder).glob(f".{name_pattern}.*.part*")
