"""Parallel trials through Keras Tuner's chief/worker mode (its oracle served over gRPC).

The chief holds the oracle and serves it with Keras Tuner's own ``OracleServicer``; each
worker is an ``RLTuner`` whose oracle is Keras Tuner's ``OracleClient`` (chosen by the
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` variables).
What we add to Keras Tuner's ``start_server``: a fast exit once the search is over (it
polls every 20 s), progress lines, and care of the local worker processes: a worker that
dies mid-trial is restarted under the same tuner id, and Keras Tuner hands that id its
unfinished trial again (a retry); after ``max_restarts`` deaths on one trial, the trial is
recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import collections
import subprocess
import time
from collections.abc import Callable
from concurrent import futures

import grpc
import keras_tuner as kt

from tfhparam.kt_internals import OracleServicer, protos


@kt.synchronized
def _ongoing(oracle) -> dict[str, str]:
    return {tuner_id: trial.trial_id for tuner_id, trial in oracle.ongoing_trials.items()}


def _slots(oracle, tuner_id: str) -> dict[str, str]:
    """A worker's running trials by slot id: ``tuner_id`` and, when it trains a batch of
    trials as a population, ``tuner_id-1``, ``tuner_id-2``, ... (see RLTuner._ask)."""
    return {
        slot: trial_id
        for slot, trial_id in _ongoing(oracle).items()
        if slot == tuner_id or slot.startswith(f"{tuner_id}-")
    }


@kt.synchronized
def _finished(oracle) -> bool:
    return not oracle.ongoing_trials and not oracle.tuner_ids


@kt.synchronized
def _fail(oracle, tuner_id: str, reason: str):
    trial = oracle.ongoing_trials.get(tuner_id)
    if trial is not None:
        trial.status = "FAILED"
        trial.message = reason
        oracle.end_trial(trial)
    return trial


def serve(
    tuner,
    address: tuple[str, int],
    processes: dict[str, subprocess.Popen] | None = None,
    start_worker: Callable[[str], subprocess.Popen] | None = None,
    max_restarts: int = 2,
    poll: float = 0.5,
    report: Callable[[], None] | None = None,
    report_every: float = 10.0,
) -> list[str]:
    """Serves ``tuner.oracle`` to workers until the search is over.

    Args:
        tuner: the chief's ``RLTuner`` (its oracle is the real one).
        address: (host, port) to listen on.
        processes: the local worker processes, by tuner id (started before the chief's
            slow imports, they wait for its port); none for workers on other machines.
        start_worker: restarts a local worker: ``start_worker(tuner_id)``.
        max_restarts: how often a trial is retried after its worker died.
        report: called every ``report_every`` seconds (progress lines).

    Returns:
        The local workers that kept dying between trials and were given up.
    """
    oracle = tuner.oracle
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{address[0]}:{address[1]}")
    server.start()
    processes = dict(processes or {})
    workers = len(processes)
    deaths: collections.Counter[str] = collections.Counter()  # per trial
    idle_deaths: collections.Counter[str] = collections.Counter()  # per worker, no trial
    given_up: list[str] = []
    last_report = time.time()
    try:
        while True:
            time.sleep(poll)
            for tuner_id, process in list(processes.items()):
                code = process.poll()
                if code is None:
                    continue
                slots = _slots(oracle, tuner_id)
                trial_id = slots.get(tuner_id, next(iter(slots.values()), None))
                if code == 0 and trial_id is None:
                    del processes[tuner_id]  # the oracle told it to stop
                    continue
                if trial_id is None:  # died between trials (e.g. at start-up)
                    idle_deaths[tuner_id] += 1
                    if idle_deaths[tuner_id] > max_restarts:
                        print(
                            f"worker {tuner_id} keeps dying (exit {code}); not restarted",
                            flush=True,
                        )
                        del processes[tuner_id]
                        given_up.append(tuner_id)
                        continue
                else:
                    deaths[trial_id] += 1
                    if deaths[trial_id] > max_restarts:
                        reason = f"worker {tuner_id} died {deaths[trial_id]} times (exit {code})"
                        for slot, slot_trial in slots.items():  # the whole batch fails
                            _fail(oracle, slot, reason)
                            tuner.record_failure(slot_trial, reason)
                            print(f"[trial {slot_trial}] failed: {reason}", flush=True)
                    else:
                        print(
                            f"[trial {trial_id}] worker {tuner_id} died (exit {code}); "
                            "retrying the trial",
                            flush=True,
                        )
                processes[tuner_id] = start_worker(tuner_id)
            if report and time.time() - last_report >= report_every:
                last_report = time.time()
                report()
            if workers > 0 and not processes:
                break  # every local worker was told to stop (or gave up)
            if workers == 0 and servicer.stop_triggered and _finished(oracle):
                break
    finally:
        for process in processes.values():
            process.terminate()
        server.stop(grace=1)
    return given_up
