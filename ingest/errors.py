"""Errors of the sources: one clear sentence each, no raw requests/JSON/pandas traceback.

``BatchValidationError`` data refused: a batch failed validation (``ingest.validation``).
``SourceDataError``      data refused: a source file could not be read or normalized.
``NBAApiError``          base class; catch it to handle any failure of the live source.
``NBAApiUnavailable``    stats.nba.com could not be reached (connection errors, timeouts).
``NBAApiBadResponse``    it answered, but not usefully (HTTP 4xx/5xx, not JSON, no result set).
``RecordingNotFound``    a replayed folder of recorded responses has no answer for a request.

Each ``NBAApiError`` carries the ``endpoint`` and request ``parameters`` it is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.validation import ValidationReport


def describe_request(endpoint: str, parameters: Mapping[str, Any] | None) -> str:
    """``leaguegamelog (PlayerOrTeam=T, Season=2023-24)``: the endpoint and its non-empty
    parameters, sorted, without the always-present ``LeagueID=00``."""
    shown = [
        f"{key}={value}"
        for key, value in sorted((parameters or {}).items())
        if value not in (None, "") and not (key.lower() == "leagueid" and str(value) == "00")
    ]
    return f"{endpoint} ({', '.join(shown)})" if shown else endpoint


class BatchValidationError(Exception):
    """Raised when a batch fails validation; ``reports`` holds every report of the batch."""

    def __init__(self, reports: Sequence[ValidationReport], message: str | None = None) -> None:
        self.reports = list(reports)
        super().__init__(message or "\n\n".join(r.summary() for r in self.reports if not r.success))

    @property
    def failed(self) -> list[ValidationReport]:
        return [r for r in self.reports if not r.success]


class SourceDataError(BatchValidationError):
    """A source file is broken (not gzip, truncated, header only, a required column missing or
    holding values of the wrong kind): the batch is refused before validation, like a failed one.
    Carries the ``path``, ``season``, ``season_type`` and, where known, the ``column``."""

    def __init__(
        self,
        problem: str,
        *,
        path: str,
        season: str,
        season_type: str,
        column: str | None = None,
    ) -> None:
        self.path, self.season, self.season_type, self.column = path, season, season_type, column
        where = f"{'columns' if ', ' in column else 'column'} {column}: " if column else ""
        super().__init__([], f"{path} ({season} {season_type}): {where}{problem}")


class NBAApiError(RuntimeError):
    """Base class of the live source's errors."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.parameters = dict(parameters or {})


class NBAApiUnavailable(NBAApiError):
    """stats.nba.com could not be reached after the retries (no network, refused, timed out)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, parameters=parameters)
        self.attempts = attempts


class NBAApiBadResponse(NBAApiError):
    """stats.nba.com answered, but with an error status (after the retries), a body that is not
    JSON, or JSON without the expected result set or columns."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, parameters=parameters)
        self.status = status


class RecordingNotFound(NBAApiError, LookupError):
    """A folder of recorded responses holds no answer to the request (see ``ingest.recorded``)."""
