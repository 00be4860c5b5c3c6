"""The one module that writes and reads TensorBoard event files (scalars, HParams data).

It writes event files with TensorBoard's own writer and protos, and reads scalars back
with a small TFRecord reader, all without TensorFlow, so a sweep driver, the report and
their tests never pay TensorFlow's import. It knows no agent: it takes ``HParam`` objects,
names and numbers.

Layout: ``hparams_config`` once at the sweep root; one session (a run directory) per
(trial, env, seed), whose group name is shared by the seeds of a (trial, env) pair so the
HParams tab averages them.
"""

from __future__ import annotations

import glob
import math
import os
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.summary.writer.event_file_writer import EventFileWriter

# Metrics of the HParams tab (their tags are written as scalars by every session).
METRICS = (
    ("rewards", "mean return of episodes finished"),
    ("explained_variance", "of the value function, last iteration"),
    ("episode_length", "mean length of episodes finished"),
    ("score", "what the search maximizes (the trial's aggregate)"),
    ("pruned", "1 if the pruner stopped the trial early (its score is then partial)"),
)

# ...and those of runs that are evaluated (agents.evaluation).
EVAL_METRICS = (
    ("eval/return", "mean return of the last evaluation (deterministic policy, own seeds)"),
    ("eval/episode_length", "mean episode length of the last evaluation"),
)

# ...and the test phase's (tfhparam.heldout), logged by its sessions under test/.
TEST_METRICS = (("test_score", "score on held-out seeds, from evaluation episodes"),)

STATUS = {
    "running": api_pb2.STATUS_RUNNING,
    "success": api_pb2.STATUS_SUCCESS,
    "failure": api_pb2.STATUS_FAILURE,
    "unknown": api_pb2.STATUS_UNKNOWN,
}


def metrics(
    evaluated: bool = False, tested: bool = False, extra: Sequence[tuple[str, str]] = ()
) -> list[hp.Metric]:
    """The HParams tab's metrics; with ``evaluated`` the evaluation's too, with ``tested``
    the test phase's; then ``extra`` (tag, description) pairs (a sweep's objectives)."""
    tags = METRICS + (EVAL_METRICS if evaluated else ()) + (TEST_METRICS if tested else ())
    tags += tuple(extra)
    return [hp.Metric(tag, display_name=tag, description=text) for tag, text in tags]


class RunWriter:
    """Writes one run directory: scalars, and optionally an HParams session.

    Args:
        logdir: the run's directory (created if missing).
    """

    def __init__(self, logdir: str):
        self.logdir = logdir
        self._writer = EventFileWriter(logdir, flush_secs=5)

    def _write(self, summary: summary_pb2.Summary, step: int = 0) -> None:
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def scalars(self, step: int, values: Mapping[str, Any]) -> None:
        """Writes every finite number in ``values`` as a scalar at ``step``."""
        summary = summary_pb2.Summary()
        for tag, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if math.isfinite(value):
                    summary.value.add(tag=tag, simple_value=float(value))
        if summary.value:
            self._write(summary, step)

    def session_start(
        self, hparams: Mapping[str, Any], group: str, start_time: float | None = None
    ) -> None:
        """Marks this run as an HParams session with ``hparams``, grouped under ``group``."""
        self._write(hp.hparams_pb(dict(hparams), trial_id=group, start_time_secs=start_time))

    def session_end(self, status: str) -> None:
        """Records the session's end: ``success``, ``failure``, ``running`` or ``unknown``."""
        info = plugin_data_pb2.SessionEndInfo(status=STATUS[status], end_time_secs=time.time())
        self._write(
            _plugin_summary(
                metadata.SESSION_END_INFO_TAG,
                plugin_data_pb2.HParamsPluginData(session_end_info=info),
            )
        )

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def write_hparams_config(
    logdir: str,
    hparams: Sequence[hp.HParam],
    evaluated: bool = False,
    tested: bool = False,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
    """Writes the experiment's ``hparams_config`` (hparams with domains, and the metrics:
    the evaluation's too when runs are ``evaluated``, the test phase's when ``tested``,
    and ``extra`` (tag, description) pairs)."""
    writer = RunWriter(logdir)
    writer._write(hp.hparams_config_pb(list(hparams), metrics(evaluated, tested, extra)))
    writer.close()


def _plugin_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> summary_pb2.Summary:
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
    )
    return summary


def _records(path: str) -> Iterator[bytes]:
    """The records of a TFRecord file; stops quietly at a record still being written.

    Format: little-endian uint64 length, uint32 CRC of the length, data, uint32 CRC of the
    data. The CRCs are not checked: a short read is the only damage a live writer makes.
    """
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield data


def read_scalars(run_dir: str, tags: Sequence[str]) -> dict[str, list[tuple[int, float]]]:
    """Every ``(step, value)`` of the named scalars in a run directory's event files.

    Works on a run still being written (a partly written last record is skipped).
    """
    wanted = set(tags)
    series: dict[str, list[tuple[int, float]]] = {tag: [] for tag in tags}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for record in _records(path):
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.tag in wanted and value.WhichOneof("value") == "simple_value":
                    series[value.tag].append((int(event.step), float(value.simple_value)))
    for points in series.values():
        points.sort(key=lambda point: point[0])
    return series
