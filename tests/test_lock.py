"""The sweep directory lock (tfhparam.lock) between real processes. No TensorFlow."""

import os
import subprocess
import sys

import pytest

from tfhparam import lock

HOLD = (
    "import sys; from tfhparam import lock; lock.acquire(sys.argv[1]); print('held', flush=True); "
    "sys.stdin.read()"
)


def test_a_held_lock_refuses_other_processes_and_dies_with_its_holder(tmp_path):
    directory = str(tmp_path / "sweep")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, directory], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(lock.LockedError, match=f"in use by pid {holder.pid} on "):
            lock.acquire(directory)
        assert not lock.held(directory)
    finally:
        holder.kill()  # as kill -9: the kernel drops the lock
        holder.wait()
    lock.acquire(directory)  # taken over
    try:
        assert lock.held(directory) and lock.holder(directory)["pid"] == os.getpid()
        lock.acquire(directory)  # re-entrant in one process
    finally:
        lock.release(directory)
    assert not lock.held(directory)


def test_clear_removes_all_but_the_lock(tmp_path):
    directory = tmp_path / "sweep"
    lock.acquire(str(directory))
    try:
        (directory / "trial_0").mkdir()
        (directory / "trial_0" / "result.json").write_text("{}")
        (directory / "results.csv").write_text("")
        lock.clear(str(directory))
        assert sorted(os.listdir(directory)) == [lock.LOCK_FILE]
    finally:
        lock.release(str(directory))
