"""One process at a time on a sweep directory.

A sweep holds an exclusive ``flock`` on ``<sweep dir>/sweep.lock`` while it runs, and
writes there who holds it (pid, host, since when, command). A second sweep on the same
directory is refused with those details instead of running every trial again and
replacing the first one's files. The kernel drops the lock when its process ends, however
it ends (``kill -9`` included), so a lock left by a dead process is simply taken over: the
file's old contents are only a record. Worker processes of a ``--workers`` sweep take no
lock of their own; they work under their chief's.

Locks are re-entrant within a process (the CLI takes the lock before it touches the
directory, then the tuner asks again).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import socket
import sys

LOCK_FILE = "sweep.lock"

_held: dict[str, int] = {}  # real path of a lock file -> its open descriptor


class LockedError(RuntimeError):
    """The sweep directory is in use by another process."""


def holder(directory: str) -> dict | None:
    """What the lock file of ``directory`` says of its (last) holder, or None."""
    try:
        with open(os.path.join(directory, LOCK_FILE), encoding="utf-8") as f:
            return json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None


def describe(record: dict | None) -> str:
    if not record:
        return "another process"
    return (
        f"pid {record.get('pid')} on {record.get('host')} since {record.get('since')} "
        f"({record.get('command', '?')})"
    )


def acquire(directory: str) -> None:
    """Takes the lock of sweep directory ``directory`` (created if missing) for this process.

    Raises:
        LockedError: another live process holds it; the message names that process.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.realpath(os.path.join(directory, LOCK_FILE))
    if path in _held:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockedError(
            f"sweep directory {directory} is in use by {describe(holder(directory))}; "
            "wait for it to finish or stop it first"
        ) from None
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": since,
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    _held[path] = fd


def release(directory: str) -> None:
    """Gives the lock of ``directory`` back (a no-op if this process does not hold it)."""
    path = os.path.realpath(os.path.join(directory, LOCK_FILE))
    fd = _held.pop(path, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def held(directory: str) -> bool:
    """Whether this process holds the lock of ``directory``."""
    return os.path.realpath(os.path.join(directory, LOCK_FILE)) in _held


def clear(directory: str) -> None:
    """Removes everything in ``directory`` but its lock file (``--overwrite``: the lock
    must survive, or a second process could take a new one while this one runs)."""
    if not os.path.isdir(directory):
        return
    for entry in os.scandir(directory):
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.remove(entry.path)
