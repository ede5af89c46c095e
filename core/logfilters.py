"""Logging filters shared by the command line and the registry."""

from __future__ import annotations

import logging


class WithoutMessage(logging.Filter):
    """Drops the records whose message starts with ``start``; every other record passes."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)
