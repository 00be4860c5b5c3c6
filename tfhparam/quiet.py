"""A quiet start: our commands print their own lines, not TensorFlow's start-up notices.

TensorFlow's C++ runtime writes to the process's stderr directly, some of it before its
logging can be configured (``TF_CPP_MIN_LOG_LEVEL`` does not reach the first lines). So
:func:`start` puts a filter on file descriptor 2 for the rest of the process: every line
passes except the known notices in :data:`NOISE`. What is dropped:

- every INFO line of TensorFlow's C++ logging (``I1201 ...`` or ``I0000 ...``: oneDNN,
  the XLA service, "Compiled cluster using XLA!", MLIR notes);
- absl's "All log messages before absl::InitializeLog() ..." line;
- the CPU feature guard's "This TensorFlow binary is optimized ..." and its second line;
- the line oneDNN logs as an error for image envs although it works: it hands ops on
  uint8 frames back to Eigen's kernels ("oneDNN supports DT_UINT8 only on platforms with
  AVX-512. Falling back ...");
- two lines XLA's persistent compilation cache logs as errors although it works: its
  attempt to read an entry as text ("Error parsing text-format
  tensorflow.XlaSerializedCacheEntry") before reading it as binary, and its notes that
  the tuning hints ``+prefer-no-scatter`` / ``+prefer-no-gather`` of a cached program are
  not CPU features of the host (they are not CPU features of any host);
- Ray's client's line for each retry of a cluster that refuses it (``--backend ray``),
  before our own error names the reason.

What is kept: every other warning and error of TensorFlow (``W...``, ``E...``, ``F...``
lines: a cached program compiled for CPU features this host lacks, out of memory, a
failed op), Python warnings, tracebacks and our own messages. The filter is off when the
user asks for TensorFlow's logging: ``--verbose``, or their own ``TF_CPP_MIN_LOG_LEVEL``.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# absl's prefix: severity, MMDD, time (before absl is set up: seconds since the epoch),
# thread, file:line]
_ABSL_INFO = r"^I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
_ABSL_ANY = r"^[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        _ABSL_INFO,
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to",
        _ABSL_ANY + r"This TensorFlow binary is optimized to use available CPU instructions",
        r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate",
        _ABSL_ANY + r"Error parsing text-format tensorflow\.XlaSerializedCacheEntry",
        _ABSL_ANY + r"Loading XLA:CPU AOT result\. Target machine feature \+prefer-no-"
        r"(scatter|gather) is not +supported on the host machine",
        # image envs: oneDNN takes uint8 frames' ops back to Eigen's kernels (it works)
        _ABSL_ANY + r"oneDNN supports DT_UINT8 only on platforms with AVX-512\. Falling back",
        # --backend ray: Ray's client retrying a cluster that refuses it (our error says why)
        r"^\[[\d-]+ [\d:,]+ W \d+ \d+\] gcs_client\.cc:\d+: Failed to get cluster ID from GCS",
    )
)

_state: dict = {}


def is_noise(line: str) -> bool:
    """Whether ``line`` (without its newline) is one of the notices :func:`start` drops."""
    return any(pattern.search(line) for pattern in NOISE)


def wanted(verbose: bool = False) -> bool:
    """Whether to filter: not when the user asked for TensorFlow's logging."""
    return not verbose and "TF_CPP_MIN_LOG_LEVEL" not in os.environ


def _forward(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [
                line + b"\n"
                for line in lines
                if not is_noise(line.decode("utf-8", "replace").rstrip("\r"))
            ]
            if kept:
                os.write(out_fd, b"".join(kept))
        if pending and not is_noise(pending.decode("utf-8", "replace")):
            os.write(out_fd, pending)


def _stop() -> None:
    thread, real = _state.pop("thread"), _state.pop("real")
    sys.stderr.flush()
    os.dup2(real, 2)  # closes our end of the pipe (children may still hold theirs)
    thread.join(timeout=2.0)
    os.close(real)


def start(verbose: bool = False) -> None:
    """Filters TensorFlow's start-up notices out of this process's stderr (see the module
    docstring); call before TensorFlow is imported. A no-op when :func:`wanted` says no,
    or when already started."""
    if not wanted(verbose) or _state:
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_forward, args=(read_fd, real), daemon=True)
    thread.start()
    _state.update(thread=thread, real=real)
    atexit.register(_stop)
