"""Whether a server is running on a data dir, for commands that must not run beside one.

Every server holds a shared ``fcntl`` lock on ``<data-dir>/server.lock`` while it runs (several
servers may share a data dir). ``omnivox keys rotate`` takes it exclusively: a running server
keeps its key ring in memory and would go on writing under the old key and fail to read the new
one. The operating system drops the lock when its process ends, however it ends. Servers on
other machines sharing one PostgreSQL database cannot be seen this way (docs/privacy.md).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DataDirBusyError(RuntimeError):
    """The data dir's lock is held the other way (a server runs, or a rotation does)."""


class DataDirLock:
    """The lock file of one data dir."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "server.lock"
        self._fd: int | None = None

    def hold(self, *, exclusive: bool) -> None:
        """Take the lock without waiting; DataDirBusyError when it is held the other way."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusyError(str(self.path)) from None
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
