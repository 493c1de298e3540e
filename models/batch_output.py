"""The output of a batch job: part files, the job file and the manifest of finished partitions.

Only the process that started the job writes here. A finished partition is written whole
(temporary file, fsync, rename), then recorded by one manifest line: the commit point. A rerun
keeps the partitions whose manifest line and part file agree and redoes the others.

- Parquet: ``OUT/`` holds ``part-00000.parquet`` ... and the job's ``_job.json``,
  ``_manifest.jsonl``, ``_errors.jsonl`` (names starting with ``_`` are skipped by Parquet readers).
- JSON Lines: ``OUT`` is assembled from the parts, in input order, once every partition is in;
  until then the parts live in ``OUT.batch/``, which keeps ``job.json``, ``manifest.jsonl`` and
  ``errors.jsonl``.

An existing ``OUT`` without the job file was not written by this tool: it is refused and never
touched. So is a job file that describes other inputs, options or another model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from corpus.errors import UserError

FORMATS = ("jsonl", "parquet")
JOB_VERSION = 1
JSON_COLUMNS = ("relations", "records")  # Parquet keeps these (with --records) as JSON text


class BatchError(UserError, ValueError):
    """The output belongs to something else, or to another job."""


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` whole or not at all: a temporary file beside it, fsync, rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _json_line(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n"


class BatchOutput:
    """Where one job writes, and what an earlier run of it finished."""

    def __init__(self, out: Path, fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.out, self.fmt = Path(out), fmt
        parquet = fmt == "parquet"
        self.state_dir = self.out if parquet else self.out.with_name(self.out.name + ".batch")
        prefix = "_" if parquet else ""
        self.job_file = self.state_dir / f"{prefix}job.json"
        self.manifest = self.state_dir / f"{prefix}manifest.jsonl"
        self.errors_file = self.state_dir / f"{prefix}errors.jsonl"

    def part_path(self, index: int) -> Path:
        return self.state_dir / f"part-{index:05d}.{self.fmt}"

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is this output or inside it."""
        resolved = path.resolve()
        return bool({self.out.resolve(), self.state_dir.resolve()} & {resolved, *resolved.parents})

    def _stored_job(self) -> dict[str, Any] | None:
        if not self.job_file.is_file():
            return None
        try:
            stored = json.loads(self.job_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            stored = None
        if not isinstance(stored, dict) or stored.get("vner_batch") != JOB_VERSION:
            raise BatchError(
                f"{self.job_file} is not a `vner predict --corpus` job file; "
                f"choose another --out or remove {self.state_dir}"
            )
        return stored

    def check(self, identity: dict[str, Any]) -> None:
        """Refuse an output this tool did not write, or one written by a different job (the model aside)."""
        foreign = f"was not written by `vner predict --corpus` (no {self.job_file}): left as is; choose another --out"
        if self.fmt == "jsonl":
            if self.out.is_dir():
                raise BatchError(
                    f"{self.out} is a directory; JSON Lines output is a file (a directory is "
                    f"written as Parquet: --format parquet)"
                )
            if self.out.exists() and not self.job_file.exists():
                raise BatchError(f"{self.out} exists and {foreign}")
            if self.state_dir.exists() and not self.job_file.exists() and any(self.state_dir.iterdir()):
                raise BatchError(f"{self.state_dir} exists and {foreign}")
        elif self.out.exists():
            if not self.out.is_dir():
                raise BatchError(
                    f"{self.out} is a file; Parquet output is a dataset directory "
                    f"(for one JSON Lines file name it .jsonl)"
                )
            if not self.job_file.exists() and any(self.out.iterdir()):
                raise BatchError(f"{self.out} is a directory that {foreign}")
        stored = self._stored_job()
        if stored is not None:
            changed = sorted(k for k in identity if k != "model" and stored.get(k) != identity[k])
            if changed:
                raise BatchError(
                    f"{self.out} was started by a different job (it differs in: {', '.join(changed)}); "
                    f"rerun with the same input and options, or remove {self.state_dir} to start over"
                )

    def open(self, identity: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Start or resume: the manifest entries of the partitions already finished, by partition."""
        self.check(identity)
        stored = self._stored_job()
        if stored is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            stored = {"vner_batch": JOB_VERSION, **identity, "complete": False}
            write_atomic(self.job_file, _json_line(stored))
        elif stored.get("model") != identity["model"]:
            raise BatchError(
                f"{self.out} holds predictions of model {stored.get('model')}, not "
                f"{identity['model']}; use that model, another --out, or remove {self.state_dir}"
            )
        for temp in self.state_dir.glob(".*.tmp"):  # left by a run killed while writing
            temp.unlink()
        entries: dict[int, dict[str, Any]] = {}
        if self.manifest.exists():
            for line in self.manifest.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    index = int(entry["partition"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short when the run was killed: that partition is redone
                if 0 <= index < identity["partitions"]:
                    entries[index] = entry
        if stored.get("complete") and self.fmt == "jsonl":  # the parts are gone, the assembled file is there
            if not self.out.is_file() or self.out.stat().st_size != stored.get("bytes"):
                raise BatchError(
                    f"{self.out} was changed or removed after the job finished; "
                    f"remove {self.state_dir} to predict again"
                )
            for part in self.state_dir.glob("part-*.jsonl"):
                part.unlink()  # left by a run killed while cleaning up
        else:
            entries = {
                i: e
                for i, e in entries.items()
                if self.part_path(i).is_file() and self.part_path(i).stat().st_size == e.get("bytes")
            }
        write_atomic(self.manifest, b"".join(_json_line(e) for _, e in sorted(entries.items())))
        return entries

    def commit(self, index: int, payload: bytes, entry: dict[str, Any]) -> dict[str, Any]:
        """Write partition ``index``'s part file, then record it in the manifest (the commit point)."""
        write_atomic(self.part_path(index), payload)
        entry = {"partition": index, "bytes": len(payload), **entry}
        with open(self.manifest, "ab") as handle:
            handle.write(_json_line(entry))
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def finish(self, entries: dict[int, dict[str, Any]], partitions: int) -> None:
        """Write the errors file; once every partition is in, assemble the JSON Lines file and mark the job done."""
        errors = [e for _, entry in sorted(entries.items()) for e in entry.get("errors", [])]
        write_atomic(self.errors_file, b"".join(json.dumps(e).encode("ascii") + b"\n" for e in errors))
        stored = self._stored_job() or {}
        if len(entries) < partitions or stored.get("complete"):
            return
        if self.fmt == "jsonl":
            temp = self.state_dir / f".assembled.{os.getpid()}.tmp"
            with open(temp, "wb") as sink:
                for index in range(partitions):
                    with open(self.part_path(index), "rb") as part:
                        while chunk := part.read(1 << 20):
                            sink.write(chunk)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, self.out)
            stored["bytes"] = self.out.stat().st_size
        write_atomic(self.job_file, _json_line({**stored, "complete": True}))
        if self.fmt == "jsonl":
            for index in range(partitions):
                self.part_path(index).unlink()


def read_output(out: Path, fmt: str) -> list[dict[str, Any]]:
    """Every row of a finished job's output, in input order, as JSON Lines has it (whatever the format)."""
    if fmt == "jsonl":
        return [json.loads(line) for line in Path(out).read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    rows = [row for part in sorted(Path(out).glob("part-*.parquet")) for row in pq.read_table(part).to_pylist()]
    return [{k: json.loads(v) if k in JSON_COLUMNS else v for k, v in row.items()} for row in rows]
