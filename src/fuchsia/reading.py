"""Reading what a user names, a file or a stream, never past a limit.

A size check after `read_bytes()` comes too late for `/dev/zero`, an endless pipe or a file
that grows while it is read: the whole of it is in memory first, or the read never ends.
`read_at_most` stops one byte past the limit, so a caller refuses "larger than the limit"
having held at most `limit + 1` bytes.
"""

from __future__ import annotations

import errno
import os
from typing import BinaryIO


def read_at_most(source: str | os.PathLike[str] | BinaryIO, limit: int) -> bytes:
    """The bytes of the file at `source` (or of the stream `source`), at most `limit + 1` of
    them: more than `limit` means there was more. Opening the file raises what `open` does."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            return stream.read(limit + 1)
    return source.read(limit + 1)


def os_reason(exc: OSError) -> str:
    """Why the system refused a path a user named, in its words (`Not a directory`). A
    `mkdir(parents=True, exist_ok=True)` that meets a file on the way raises
    `FileExistsError`, whose words ("File exists") would point at the wrong thing."""
    if isinstance(exc, FileExistsError):
        return os.strerror(errno.ENOTDIR)
    return exc.strerror or str(exc)
