"""The live source: raw frames from stats.nba.com through the ``nba_api`` package.

Requests go through nba_api's own HTTP path (``NBAStatsHTTP().send_api_request``) and answers are
parsed by nba_api's endpoint classes (``LeagueGameLog``, ``ScoreboardV2``), so a recorded answer
replayed through ``send`` (see ``ingest.recorded.RecordedResponses``) is parsed exactly like a live
one. Around that path this module adds what the package leaves out:

- a timeout per request;
- retries with exponential backoff (``backoff``, ``2 * backoff``, ``4 * backoff`` ...) on connection
  errors, timeouts, HTTP 429 and 5xx, waiting at least as long as a ``Retry-After`` header asks
  (capped at ``MAX_RETRY_AFTER``);
- polite pacing: at least ``pause`` seconds between the end of one request of a source object and
  the start of its next one;
- clear errors (``ingest.errors``): ``NBAApiUnavailable`` when stats.nba.com cannot be reached,
  ``NBAApiBadResponse`` for an error status, a body that is not JSON or a missing result set.
  Other 4xx statuses and bodies that are not JSON are not retried: asking again gives the same.

A source object keeps one ``requests.Session`` (opened on the first request; ``close()`` ends it)
and is not meant to be shared between threads.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import requests
from nba_api.stats.endpoints import LeagueGameLog, ScoreboardV2
from nba_api.stats.library.http import NBAStatsHTTP, NBAStatsResponse
from nba_api.stats.static import players as static_players
from nba_api.stats.static import teams as static_teams

from ingest.errors import NBAApiBadResponse, NBAApiUnavailable, describe_request
from ingest.schema import API_SEASON_TYPE, BOX_STATS, SEASON_TYPES, season_label, season_start_year

logger = logging.getLogger(__name__)

HOST = "stats.nba.com"
MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After is honoured up to this much

_STATS = tuple(stat.upper() for stat in BOX_STATS)
TEAM_LOG_COLUMNS = (
    "SEASON_ID",
    "TEAM_ID",
    "TEAM_ABBREVIATION",
    "TEAM_NAME",
    "GAME_ID",
    "GAME_DATE",
    "MATCHUP",
    "WL",
    "MIN",
    *_STATS,
)
PLAYER_LOG_COLUMNS = (
    "PLAYER_ID",
    "PLAYER_NAME",
    "TEAM_ID",
    "TEAM_ABBREVIATION",
    "GAME_ID",
    "GAME_DATE",
    "MATCHUP",
    "WL",
    "MIN",
    *_STATS,
)
_GAME_HEADER_COLUMNS = (
    "GAME_ID",
    "GAME_DATE_EST",
    "SEASON",
    "HOME_TEAM_ID",
    "VISITOR_TEAM_ID",
    "GAME_STATUS_TEXT",
)
SCOREBOARD_COLUMNS = ("game_id", "game_date", "season", "home_team_id", "away_team_id", "status")

# The call signature of NBAStatsHTTP().send_api_request (keywords used: endpoint, parameters,
# timeout), returning an NBAStatsResponse.
Send = Callable[..., NBAStatsResponse]

_NETWORK_ERRORS = (requests.RequestException, ConnectionError, TimeoutError)


class _HeaderKeepingSession:
    """What nba_api sees as its session: the source's ``requests.Session``, remembering the
    headers of the last response (nba_api's response object drops them; Retry-After is there)."""

    def __init__(self, session: requests.Session) -> None:
        self._session = session
        self.headers: Mapping[str, str] = {}

    def get(self, **kwargs: Any) -> requests.Response:
        self.headers = {}
        response = self._session.get(**kwargs)
        self.headers = response.headers
        return response


class _SourceHTTP(NBAStatsHTTP):
    """nba_api's stats HTTP client, unchanged but for the session: the source's own instead of
    the class-wide one nba_api shares between all its users."""

    def __init__(self, session: _HeaderKeepingSession) -> None:
        self._keeping = session

    def get_session(self) -> _HeaderKeepingSession:  # type: ignore[override]
        return self._keeping


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (seconds or an HTTP date), if any."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _network_cause(exc: BaseException, timeout: float) -> str:
    """A short reason for a failed connection ("connection refused"), not urllib3's paragraph."""
    if isinstance(exc, requests.Timeout | TimeoutError):
        return f"no answer within {timeout:g} s (timeout)"
    inner: BaseException = exc
    for _ in range(5):  # requests wraps urllib3's MaxRetryError, which wraps the reason
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException) and inner.args:
            nested = inner.args[0]
        if not isinstance(nested, BaseException):
            break
        inner = nested
    text = str(inner) or type(inner).__name__
    lowered = text.lower()
    known = (
        ("connection refused", "connection refused"),
        ("failed to resolve", f"the name {HOST} could not be resolved (no network or DNS)"),
        ("name or service not known", f"the name {HOST} could not be resolved (no network or DNS)"),
        ("temporary failure in name resolution", f"the name {HOST} could not be resolved"),
        ("network is unreachable", "the network is unreachable"),
        ("connection reset", "the connection was reset"),
        ("remote end closed", "the server closed the connection"),
        ("timed out", f"no answer within {timeout:g} s (timeout)"),
    )
    for needle, cause in known:
        if needle in lowered:
            return cause
    return text if len(text) <= 200 else text[:197] + "..."


def _attempts_text(attempts: int) -> str:
    return f"{attempts} attempt" + ("" if attempts == 1 else "s")


class NbaApiSource:
    """Raw frames from stats.nba.com. Nothing is sent until a method is called.

    ``timeout``  seconds per HTTP request; ``retries`` further attempts after a failed one;
    ``backoff``  first retry delay in seconds, doubled at each retry; ``pause`` minimum seconds
    between consecutive requests; ``sleep`` how to wait (inject a fake in tests); ``send`` an
    alternative transport with the signature of ``NBAStatsHTTP().send_api_request`` (e.g.
    ``RecordedResponses``); by default nba_api's own HTTP client is used.
    """

    name = "nba_api"

    # Set on first use, per instance (``__init__`` only stores parameters).
    _session: requests.Session | None = None
    _last_request_end: float | None = None

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 2.0,
        pause: float = 0.6,
        sleep: Callable[[float], Any] = time.sleep,
        send: Send | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.pause = pause
        self.sleep = sleep
        self.send = send

    # Public API ---------------------------------------------------------------------------------
    def team_game_log(self, season: str, season_type: str) -> pd.DataFrame:
        """``LeagueGameLog`` (PlayerOrTeam=T) of a season: two rows per game, the API's columns."""
        return self._league_game_log(season, season_type, "T", TEAM_LOG_COLUMNS)

    def player_game_log(self, season: str, season_type: str) -> pd.DataFrame:
        """``LeagueGameLog`` (PlayerOrTeam=P) of a season: one row per player per game played."""
        return self._league_game_log(season, season_type, "P", PLAYER_LOG_COLUMNS)

    def scoreboard(self, game_date: dt.date) -> pd.DataFrame:
        """The games of one date (scheduled, live or final) from ScoreboardV2's ``GameHeader``:
        ``SCOREBOARD_COLUMNS``, one row per game."""
        if isinstance(game_date, dt.datetime):
            game_date = game_date.date()
        with warnings.catch_warnings():
            # ScoreboardV2 warns about its LineScore data set; only GameHeader is used here.
            warnings.simplefilter("ignore", DeprecationWarning)
            endpoint = ScoreboardV2(
                game_date=game_date.isoformat(), day_offset=0, get_request=False
            )
        header = self._result_frame(endpoint, "game_header", _GAME_HEADER_COLUMNS)
        # GameHeader repeats a game once per national broadcaster.
        header = header.drop_duplicates(subset="GAME_ID", keep="first")
        label = describe_request(endpoint.endpoint, endpoint.parameters)
        try:
            seasons = [season_label(int(value)) for value in header["SEASON"]]
            frame = pd.DataFrame(
                {
                    "game_id": header["GAME_ID"].astype(str).str.zfill(10).to_numpy(),
                    "game_date": pd.to_datetime(
                        header["GAME_DATE_EST"].astype(str).str.slice(0, 10), format="%Y-%m-%d"
                    ).to_numpy(),
                    "season": pd.Series(seasons, dtype=object).to_numpy(),
                    "home_team_id": header["HOME_TEAM_ID"].astype("int64").to_numpy(),
                    "away_team_id": header["VISITOR_TEAM_ID"].astype("int64").to_numpy(),
                    "status": header["GAME_STATUS_TEXT"].astype(str).str.strip().to_numpy(),
                }
            )
        except (TypeError, ValueError) as exc:
            raise NBAApiBadResponse(
                f"the GameHeader of {HOST} for {label} has unexpected values: {exc}",
                endpoint=endpoint.endpoint,
                parameters=endpoint.parameters,
            ) from None
        frame["game_date"] = frame["game_date"].astype("datetime64[ns]")
        return frame.loc[:, list(SCOREBOARD_COLUMNS)]

    def teams(self) -> pd.DataFrame:
        """The 30 teams from nba_api's offline list: team_id, abbreviation, full_name, city,
        nickname."""
        rows = static_teams.get_teams()
        frame = pd.DataFrame(
            {
                "team_id": [int(row["id"]) for row in rows],
                "abbreviation": [row["abbreviation"] for row in rows],
                "full_name": [row["full_name"] for row in rows],
                "city": [row["city"] for row in rows],
                "nickname": [row["nickname"] for row in rows],
            }
        )
        return frame.sort_values("team_id", ignore_index=True)

    def players(self) -> pd.DataFrame:
        """Every player in nba_api's offline list: player_id, full_name, is_active."""
        rows = static_players.get_players()
        frame = pd.DataFrame(
            {
                "player_id": pd.Series([int(row["id"]) for row in rows], dtype="int64"),
                "full_name": [row["full_name"] for row in rows],
                "is_active": pd.Series([bool(row["is_active"]) for row in rows], dtype=bool),
            }
        )
        return frame.sort_values("player_id", ignore_index=True)

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> NbaApiSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Parsing ------------------------------------------------------------------------------------
    def _league_game_log(
        self, season: str, season_type: str, player_or_team: str, required: tuple[str, ...]
    ) -> pd.DataFrame:
        season_start_year(season)  # ValueError for anything but "2023-24"
        if season_type not in API_SEASON_TYPE:
            raise ValueError(f"season_type must be one of {SEASON_TYPES}, got {season_type!r}")
        endpoint = LeagueGameLog(
            season=season,
            season_type_all_star=API_SEASON_TYPE[season_type],
            player_or_team_abbreviation=player_or_team,
            get_request=False,
        )
        frame = self._result_frame(endpoint, "league_game_log", required)
        frame["GAME_ID"] = frame["GAME_ID"].astype(str).str.zfill(10)
        return frame

    def _result_frame(
        self, endpoint: Any, data_set: str, required: tuple[str, ...]
    ) -> pd.DataFrame:
        """Fetch ``endpoint``'s answer, let nba_api parse it, return one data set as a frame."""
        name, parameters = endpoint.endpoint, endpoint.parameters
        label = describe_request(name, parameters)
        endpoint.nba_response = self._fetch(name, parameters)
        try:
            endpoint.load_response()
            frame = getattr(endpoint, data_set).get_data_frame()
        except KeyError as exc:
            raise NBAApiBadResponse(
                f"the answer of {HOST} for {label} has no result set {exc.args[0]!r}",
                endpoint=name,
                parameters=parameters,
            ) from None
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise NBAApiBadResponse(
                f"the answer of {HOST} for {label} has an unexpected shape: {exc}",
                endpoint=name,
                parameters=parameters,
            ) from None
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise NBAApiBadResponse(
                f"the answer of {HOST} for {label} lacks the columns {', '.join(missing)}",
                endpoint=name,
                parameters=parameters,
            )
        return frame

    # HTTP ---------------------------------------------------------------------------------------
    def _fetch(self, endpoint: str, parameters: Mapping[str, Any]) -> NBAStatsResponse:
        """One request with retries, backoff and pacing; a response whose body is JSON."""
        label = describe_request(endpoint, parameters)
        attempts = max(0, int(self.retries)) + 1
        delay = 0.0
        for attempt in range(1, attempts + 1):
            self._wait(delay)
            retry_after: float | None = None
            try:
                response, headers = self._send_once(endpoint, parameters)
            except _NETWORK_ERRORS as exc:
                status, cause = None, _network_cause(exc, self.timeout)
            else:
                # nba_api's response has no public accessor for the status code.
                status = getattr(response, "_status_code", None)
                if status is None or 200 <= int(status) < 300:
                    return self._checked_json(response, endpoint, parameters)
                status = int(status)
                if status != 429 and status < 500:
                    raise NBAApiBadResponse(
                        f"{HOST} answered HTTP {status} for {label}: "
                        f"{_snippet(response.get_response())}",
                        endpoint=endpoint,
                        parameters=parameters,
                        status=status,
                    )
                cause = f"HTTP {status}"
                retry_after = _retry_after_seconds(headers)
            finally:
                self._last_request_end = time.monotonic()
            if attempt == attempts:
                if status is None:
                    raise NBAApiUnavailable(
                        f"{HOST} could not be reached for {label} after "
                        f"{_attempts_text(attempts)}: {cause}",
                        endpoint=endpoint,
                        parameters=parameters,
                        attempts=attempts,
                    )
                raise NBAApiBadResponse(
                    f"{HOST} answered HTTP {status} for {label} after {_attempts_text(attempts)}",
                    endpoint=endpoint,
                    parameters=parameters,
                    status=status,
                )
            delay = self.backoff * 2 ** (attempt - 1)
            if retry_after is not None:
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            delay = max(delay, self.pause)  # the pacing applies to retries too
            logger.warning(
                "%s %s: %s; retry %d of %d in %.1f s",
                HOST,
                label,
                cause,
                attempt,
                attempts - 1,
                delay,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self, endpoint: str, parameters: Mapping[str, Any]
    ) -> tuple[NBAStatsResponse, Mapping[str, str] | None]:
        """One HTTP request; the response and the HTTP headers, when the transport exposes them."""
        if self.send is not None:
            response = self.send(
                endpoint=endpoint, parameters=dict(parameters), timeout=self.timeout
            )
            return response, getattr(response, "headers", None)
        if self._session is None:
            self._session = requests.Session()
        session = _HeaderKeepingSession(self._session)
        response = _SourceHTTP(session).send_api_request(
            endpoint=endpoint, parameters=dict(parameters), timeout=self.timeout
        )
        return response, session.headers

    def _wait(self, at_least: float) -> None:
        """Sleep ``at_least`` seconds, and long enough to leave ``pause`` since the last request."""
        wait = at_least
        if self._last_request_end is not None:
            wait = max(wait, self.pause - (time.monotonic() - self._last_request_end))
        if wait > 0:
            self.sleep(wait)

    @staticmethod
    def _checked_json(
        response: NBAStatsResponse, endpoint: str, parameters: Mapping[str, Any]
    ) -> NBAStatsResponse:
        label = describe_request(endpoint, parameters)
        try:
            body = response.get_dict()
        except (TypeError, ValueError):
            body = None
        if not isinstance(body, dict):
            raise NBAApiBadResponse(
                f"the answer of {HOST} for {label} is not a JSON object: "
                f"{_snippet(response.get_response())}",
                endpoint=endpoint,
                parameters=parameters,
            )
        return response


def _snippet(text: object, limit: int = 120) -> str:
    """The start of a response body, on one line, for an error message."""
    flat = " ".join(str(text or "").split())
    if not flat:
        return "(empty body)"
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")
