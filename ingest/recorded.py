"""Recorded stats.nba.com answers replayed as the live source's transport.

A folder with the layout of ``../shared/data/nba/nba_api_responses`` holds one JSON body per
request and an ``index.csv`` (columns ``file, endpoint, status, recorded, bytes, url, cassette``)
giving the request URL each body answers. ``RecordedResponses(folder)`` has the call signature of
``NBAStatsHTTP().send_api_request``, so ``NbaApiSource(send=RecordedResponses(folder))`` parses a
recorded answer through the very same nba_api code as a live one.

A request matches a recording when the endpoint and the query parameters are equal, comparing
keys case-insensitively and leaving out parameters with an empty value and ``LeagueID=00`` (as the
recorder's file names do).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nba_api.stats.library.http import NBAStatsResponse

from ingest.errors import RecordingNotFound, describe_request

INDEX_FILE = "index.csv"

QueryKey = frozenset[tuple[str, str]]


def query_key(items: Iterable[tuple[str, Any]]) -> QueryKey:
    """The comparable form of request parameters: lower-case keys, text values, no empty values,
    no ``LeagueID=00``."""
    key = set()
    for name, value in items:
        if value is None or str(value) == "":
            continue
        lowered, text = str(name).lower(), str(value)
        if lowered == "leagueid" and text == "00":
            continue
        key.add((lowered, text))
    return frozenset(key)


@dataclass(frozen=True)
class Recording:
    """One recorded answer: its file, the endpoint, the HTTP status and the request URL."""

    file: str
    endpoint: str
    status: int
    url: str

    @property
    def key(self) -> QueryKey:
        return query_key(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))


class RecordedResponses:
    """A ``send`` transport serving the recorded answers of a folder. Nothing is read until the
    first request; the index is then kept, bodies are read per request."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    _index: dict[tuple[str, QueryKey], Recording] | None = None

    def recordings(self) -> list[Recording]:
        """Every recording listed in the folder's index."""
        return list(self._load_index().values())

    def find(self, endpoint: str, parameters: Mapping[str, Any]) -> Recording | None:
        """The recording answering ``endpoint`` with ``parameters``, or None."""
        return self._load_index().get((endpoint.lower(), query_key(parameters.items())))

    def __call__(
        self,
        endpoint: str,
        parameters: Mapping[str, Any],
        referer: str | None = None,
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        raise_exception_on_error: bool = False,
    ) -> NBAStatsResponse:
        recording = self.find(endpoint, parameters)
        if recording is None:
            raise RecordingNotFound(
                f"no recorded answer in {self.folder} for "
                f"{describe_request(endpoint.lower(), parameters)}",
                endpoint=endpoint,
                parameters=parameters,
            )
        body = (self.folder / recording.file).read_text(encoding="utf-8")
        return NBAStatsResponse(response=body, status_code=recording.status, url=recording.url)

    # The name nba_api's own client uses, for callers that expect it.
    send_api_request = __call__

    def _load_index(self) -> dict[tuple[str, QueryKey], Recording]:
        if self._index is None:
            path = self.folder / INDEX_FILE
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: RecordedResponses needs a folder with the layout of "
                    "nba_api_responses/ (JSON bodies and an index.csv)"
                )
            index: dict[tuple[str, QueryKey], Recording] = {}
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    recording = Recording(
                        file=row["file"],
                        endpoint=row["endpoint"].lower(),
                        status=int(row["status"] or 200),
                        url=row["url"],
                    )
                    index.setdefault((recording.endpoint, recording.key), recording)
            self._index = index
        return self._index
