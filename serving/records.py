"""Prediction and audit rows, buffered in memory and written by a background thread.

A request only appends a dict to a list (microseconds). The writer flushes every
``flush_seconds`` (or sooner when ``batch_size`` rows wait) in one transaction per flush. If the
database is unreachable the rows stay in the buffer, in order, and are written when it returns;
past ``max_pending`` rows, and at shutdown while the database is still down, they are spooled to
JSON-lines files under ``spool_dir`` and written back first when the database answers again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from core.db import AuditLog, Prediction

log = logging.getLogger(__name__)

TABLES = {"predictions": Prediction.__table__, "audit_logs": AuditLog.__table__}
_DATETIME_COLUMNS = {"created_at"}
_DATE_COLUMNS = {"game_date"}


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf as None and dates as ISO strings, so it stores as JSON anywhere."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _to_json_line(table: str, row: dict[str, Any]) -> str:
    return json.dumps({"table": table, "row": json_safe(row)})


def _from_json_line(line: str) -> tuple[str, dict[str, Any]]:
    doc = json.loads(line)
    row = doc["row"]
    for key in _DATETIME_COLUMNS & row.keys():
        if row[key]:
            row[key] = datetime.fromisoformat(row[key])
    for key in _DATE_COLUMNS & row.keys():
        if row[key]:
            row[key] = date.fromisoformat(row[key])
    return doc["table"], row


@dataclass
class WriterStatus:
    ok: bool = True
    error: str | None = None
    down_since: float | None = None
    last_write: float | None = None


class RecordWriter:
    """The buffer and its writer thread."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        spool_dir: Path,
        *,
        flush_seconds: float = 0.5,
        batch_size: int = 500,
        max_pending: int = 100_000,
        prepare: Callable[[Engine], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._prepare = prepare
        self._prepared = False
        self.spool_dir = spool_dir
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._on_written = on_written or (lambda table, n: None)
        self._on_error = on_error or (lambda: None)
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = WriterStatus()

    # Producer side --------------------------------------------------------------------------------
    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row of ``predictions`` or ``audit_logs`` (``created_at`` defaults to now)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        row.setdefault("created_at", datetime.now(UTC))
        with self._lock:
            self._pending.append((table, row))
            n = len(self._pending)
        if n >= self.batch_size:
            self._wake.set()
        if n > self.max_pending:
            self._spool_overflow()

    @property
    def buffered(self) -> int:
        """Rows waiting in memory."""
        return len(self._pending)

    @property
    def pending(self) -> int:
        """Rows waiting in memory and in spool files."""
        return len(self._pending) + self.spooled_rows()

    # Writer side ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending (while the database answers); spool the rest to disk."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline and self.flush():
            pass
        if self._pending:
            self._spool_all()
        if self._engine is not None:
            self._engine.dispose()

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def flush(self) -> bool:
        """Write spooled rows, then the buffer; True when everything pending was written."""
        with self._flush_lock:
            if not self._pending and not self.spooled_rows():
                return True
            try:
                engine = self.engine()
                if not self._prepared and self._prepare is not None:
                    self._prepare(engine)
                self._prepared = True
                self._write_spool(engine)
                with self._lock:
                    batch, self._pending = self._pending, []
                try:
                    self._write(engine, batch)
                except BaseException:
                    with self._lock:
                        self._pending[:0] = batch
                    raise
            except Exception as exc:
                self._failed(exc)
                return False
            self._succeeded()
            return True

    def _write(self, engine: Engine, rows: list[tuple[str, dict[str, Any]]]) -> None:
        if not rows:
            return
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, row in rows:
            by_table.setdefault(table, []).append(row)
        with engine.begin() as conn:
            for table, values in by_table.items():
                conn.execute(insert(TABLES[table]), values)
        for table, values in by_table.items():
            self._on_written(table, len(values))

    def _failed(self, exc: Exception) -> None:
        self._on_error()
        first = self.status.ok
        self.status.ok = False
        self.status.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        if first:
            self.status.down_since = time.time()
            log.error(
                "database write failed; rows kept and retried",
                extra={"error": self.status.error, "pending": len(self._pending)},
            )

    def _succeeded(self) -> None:
        if not self.status.ok:
            log.warning(
                "database writes resumed",
                extra={"down_seconds": time.time() - (self.status.down_since or time.time())},
            )
        self.status = WriterStatus(ok=True, last_write=time.time())

    # Spool ----------------------------------------------------------------------------------------
    def _spool_files(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(self.spool_dir.glob("records-*.jsonl"))

    def spooled_rows(self) -> int:
        total = 0
        for path in self._spool_files():
            with path.open() as f:
                total += sum(1 for _ in f)
        return total

    def _spool(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        if not rows:
            return
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"records-{time.time_ns()}-{os.getpid()}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            for table, row in rows:
                f.write(_to_json_line(table, row) + "\n")
        tmp.replace(path)
        log.warning(
            "rows spooled to disk until the database returns",
            extra={"rows": len(rows), "file": str(path)},
        )

    def _spool_overflow(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        self._spool(rows)

    def _spool_all(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        self._spool(rows)

    def _write_spool(self, engine: Engine) -> None:
        for path in self._spool_files():
            with path.open() as f:
                rows = [_from_json_line(line) for line in f if line.strip()]
            self._write(engine, rows)
            path.unlink()
            log.info("spooled rows written", extra={"rows": len(rows), "file": str(path)})

    # Health ---------------------------------------------------------------------------------------
    def check(self, timeout: float = 2.0) -> dict[str, Any]:
        """Ping the database now; the writer's state and the rows waiting."""
        ok, error = True, None
        try:
            with self.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            ok, error = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        doc: dict[str, Any] = {"ok": ok and self.status.ok, "pending_rows": self.pending}
        if error or self.status.error:
            doc["error"] = error or self.status.error
        return doc
