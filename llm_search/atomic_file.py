"""Write a file so that readers, and a process killed mid-write, see the old file or the new one, never half.

The bytes go to a temporary file beside the target (same filesystem, so the rename is atomic), are flushed
to disk, and the temporary file is renamed over the target. Temporary files are named
``<target name>.<random>.tmp``, so a caller can find a killed writer's leftovers with
``glob.escape(path) + ".*.tmp"``.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "state.bin")
    >>> write_atomically(path, lambda f: f.write(b"saved"))
    >>> open(path, "rb").read()
    b'saved'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Any, Callable


def write_atomically(path: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` through ``write(f)`` (``f`` a binary file), replacing it only once the write succeeded.

    An exception from ``write`` leaves ``path`` as it was and removes the temporary file, so ``write`` may
    also validate what it wrote (raise to refuse it). The file gets mode 0o644, not mkstemp's 0o600.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
