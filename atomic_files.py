"""Files that appear complete or not at all: written under a temporary name beside the target, then
renamed onto it (``os.replace`` is atomic within a folder), so no reader or crash sees half a file."""

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "temporary_file_beside"]


def temporary_file_beside(path):
    """Create an empty ``.NAME.XXXXXXXX.partSUFFIX`` in ``path``'s folder, with the umask's
    permissions; return its path. The ``OSError`` raised names the folder that cannot take it."""
    folder = Path(path).parent
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".part" + Path(path).suffix, dir=folder)
    except OSError as error:
        raise type(error)(f"folder {folder} is not writable ({error.strerror})") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
    return Path(tmp)


class atomic_path:
    """``with atomic_path(target) as tmp:`` write ``tmp``; it is renamed onto ``target`` on success,
    removed on an exception (``target`` untouched)."""

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

    @staticmethod
    def leftovers(folder, name_pattern):
        """Temporary files a killed process left in ``folder`` for targets matching the glob."""
        return Path(folder).glob(f".{name_pattern}.*.part*")
