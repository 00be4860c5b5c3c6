"""Worker processes for parallel sweeps (no Keras Tuner or TensorFlow import here, so a
chief can start its workers before its own slow imports)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping

TUNER_ID, ORACLE_IP, ORACLE_PORT = (
    "KERASTUNER_TUNER_ID",
    "KERASTUNER_ORACLE_IP",
    "KERASTUNER_ORACLE_PORT",
)


def role() -> str:
    """``single``, ``chief`` or ``worker``, from Keras Tuner's environment variables."""
    if ORACLE_IP not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get(TUNER_ID, "") else "worker"


def default_workers() -> int:
    """One worker a core, as many as memory allows at about 1.5 GiB each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    by_memory = int(memory // (1.5 * 2**30)) if memory else cores
    return max(1, min(cores or 1, by_memory))


def auto_population(agent: str, workers: int = 1) -> int:
    """The population size ``auto`` picks for one of ``workers`` processes: 32 runs a core
    it has, at most 8% of free memory at 4 MiB a member (a classic-control member used
    under 2 MiB in ``benchmarks/population.py``); 1 for agents without a population path."""
    import agents

    if agent not in agents.POPULATION_AGENTS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free = 1 << 30
    per_worker = max(1, (cores or 1) // max(workers, 1))
    return max(1, min(32 * per_worker, int(0.08 * free) // (4 << 20)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Waits until something listens on (host, port); False on time-out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the worker gets SIGKILL when the chief dies, so no orphan keeps writing."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn_worker(
    command: list[str],
    tuner_id: str,
    address: tuple[str, int],
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Starts ``command`` as Keras Tuner worker ``tuner_id`` of the chief at ``address``."""
    env = {
        **os.environ,
        **(extra_env or {}),
        TUNER_ID: tuner_id,
        ORACLE_IP: address[0],
        ORACLE_PORT: str(address[1]),
    }
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(command, env=env, preexec_fn=preexec)
