"""Structured JSON logs: one object per line, the request ID in every line, rotated by size.

``configure_logging`` attaches three handlers to the ``serving`` logger (and to BentoML's server
logger, so its tracebacks of unexpected errors land in the same files): stderr, ``serving.log``
and ``serving-errors.log`` (ERROR and above only), both rotated at ``max_bytes``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
USERNAME: ContextVar[str | None] = ContextVar("username", default=None)

LOG_FILE = "serving.log"
ERROR_FILE = "serving-errors.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
# Loggers whose records go to the service's files (BentoML logs unexpected errors on the second).
LOGGERS = ("serving", "bentoml._internal.server.http_app")
_MARK = "_nba_serving_handler"
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, request ID, extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        user = USERNAME.get()
        if user:
            doc["user"] = user
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in doc and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class RequestIdFilter(logging.Filter):
    """Stamp the current request ID on each record (also seen by non-JSON handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class ValidationNoise(logging.Filter):
    """BentoML logs a full traceback for each request that fails validation: keep one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ == "ValidationError":
            record.msg = f"invalid request: {exc.error_count()} validation error(s)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _handler(handler: logging.Handler, level: int) -> logging.Handler:
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    setattr(handler, _MARK, True)
    return handler


def configure_logging(
    log_dir: Path | None, level: str = "INFO", max_bytes: int = MAX_BYTES, stderr: bool = True
) -> list[Path]:
    """(Re)attach the service's handlers; returns the log files written. Idempotent."""
    handlers: list[logging.Handler] = []
    files: list[Path] = []
    if stderr:
        handlers.append(_handler(logging.StreamHandler(sys.stderr), logging.DEBUG))
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        for name, min_level in ((LOG_FILE, logging.DEBUG), (ERROR_FILE, logging.ERROR)):
            path = log_dir / name
            rotating = logging.handlers.RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8", delay=True
            )
            handlers.append(_handler(rotating, min_level))
            files.append(path)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("serving").setLevel(level.upper())
    bento = logging.getLogger(LOGGERS[1])
    if not any(isinstance(f, ValidationNoise) for f in bento.filters):
        bento.addFilter(ValidationNoise())
    return files


def close_logging() -> None:
    """Detach and close the handlers added by :func:`configure_logging`."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(old)
            old.close()
