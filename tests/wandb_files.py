"""Reads back W&B's offline run files (``run-ID.wandb``) for the tracker tests.

The file is a ``:W&B`` header (7 bytes) and then LevelDB's log format: 32 KiB blocks of
chunks, each a 7-byte header (CRC, length, type: full, first, middle or last) and its
bytes; a record is a ``wandb_internal_pb2.Record`` protobuf.
"""

import dataclasses
import glob
import json
import os
import struct

BLOCK = 32768
HEADER = 7


def records(path):
    """Every record of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, pending = HEADER, b""
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER:  # a block's tail too short for a chunk header: zero padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        piece = data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        if kind == 0:
            continue
        pending = piece if kind in (1, 2) else pending + piece
        if kind in (1, 4):  # full, or the last chunk of a record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _key(item):
    return item.key or "/".join(item.nested_key)


@dataclasses.dataclass
class OfflineRun:
    run_id: str
    name: str
    group: str
    job_type: str
    tags: list
    config: dict
    history: list  # a dict a logged row
    summary: dict
    exit_code: int | None
    artifacts: list  # names of the artifacts it logged


def read_run(directory):
    """The run in one ``offline-run-*`` directory."""
    (path,) = glob.glob(os.path.join(directory, "run-*.wandb"))
    run = OfflineRun("", "", "", "", [], {}, [], {}, None, [])
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info = record.run
            run.run_id, run.name, run.group = info.run_id, info.display_name, info.run_group
            run.job_type, run.tags = info.job_type, list(info.tags)
            run.config.update({u.key: json.loads(u.value_json) for u in info.config.update})
        elif kind == "config":
            run.config.update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            run.summary.update({_key(u): json.loads(u.value_json) for u in record.summary.update})
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
        elif kind == "artifact":
            run.artifacts.append(record.artifact.name)
    run.config.pop("_wandb", None)
    return run


def offline_runs(project_dir):
    """Every offline run of a sweep, by W&B run id (each id once: asserted)."""
    found = {}
    for directory in glob.glob(os.path.join(project_dir, "wandb", "offline-run-*")):
        run = read_run(directory)
        assert run.run_id not in found, f"run {run.run_id} written twice"
        found[run.run_id] = run
    return found
