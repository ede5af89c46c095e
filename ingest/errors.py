"""Errors of the live ``nba_api`` source: one clear sentence each, no raw requests/JSON traceback.

``NBAApiError``          base class; catch it to handle any failure of the live source.
``NBAApiUnavailable``    stats.nba.com could not be reached (connection errors, timeouts).
``NBAApiBadResponse``    it answered, but not usefully (HTTP 4xx/5xx, not JSON, no result set).
``RecordingNotFound``    a replayed folder of recorded responses has no answer for a request.

Each error carries the ``endpoint`` and request ``parameters`` it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe_request(endpoint: str, parameters: Mapping[str, Any] | None) -> str:
    """``leaguegamelog (PlayerOrTeam=T, Season=2023-24)``: the endpoint and its non-empty
    parameters, sorted, without the always-present ``LeagueID=00``."""
    shown = [
        f"{key}={value}"
        for key, value in sorted((parameters or {}).items())
        if value not in (None, "") and not (key.lower() == "leagueid" and str(value) == "00")
    ]
    return f"{endpoint} ({', '.join(shown)})" if shown else endpoint


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
