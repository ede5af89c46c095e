"""The Great Expectations gate every ingested batch passes before it is written.

``BatchValidator`` checks a normalized ``team_games`` or ``player_games`` frame (``ingest.schema``)
with Great Expectations 1.x (an ephemeral context, a pandas data source, one whole-dataframe batch
definition and one ``ValidationDefinition`` per suite) and returns a ``ValidationReport``.

Checks that look across rows (two rows per game, one W and one L, a team's points against its
opponent's, the season's date window) are computed with pandas into small derived frames first;
those frames are then validated with GE too, so every check is a GE expectation with a GE result:

``<kind>.rows``      the batch itself: columns, types, nulls, keys, game_id format, ranges
``team_games.games`` one row per game_id: ``n_rows``, ``n_wins``
``<kind>.derived``   one row per batch row: ``date_in_season`` (and, for teams,
                     ``pts_diff_minus_plus_minus``, ``reb_minus_oreb_dreb``; for players,
                     ``in_team_log``: the batch's team rows hold that game for the player's
                     team on that date)

Great Expectations is imported only when the first batch is validated (the import takes seconds).
"""

from __future__ import annotations

import functools
import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ingest.errors import BatchValidationError
from ingest.schema import (
    BOX_STATS,
    GAME_ID_PREFIX,
    PLAYER_GAME_COLUMNS,
    PLAYER_GAME_KEY,
    SEASON_TYPES,
    TEAM_GAME_COLUMNS,
    TEAM_GAME_KEY,
    season_start_year,
)

TEAM_GAMES = "team_games"
PLAYER_GAMES = "player_games"
Kind = Literal["team_games", "player_games"]

EXAMPLE_COUNT = 5  # unexpected values kept per failed expectation (GE's partial_unexpected_count)

# Plausible ranges, bounds included.
TEAM_PTS_RANGE = (40, 200)
PLAYER_PTS_RANGE = (0, 100)
# Team rows hold player-minutes: 240 in regulation, +25 per overtime.
TEAM_MINUTES_RANGE = (200.0, 400.0)
# The source rounds player minutes to whole minutes, so a real appearance of a few seconds is 0
# (118 rows in 2023-24, some with points): 0 is accepted, negative minutes and > 70 are not.
PLAYER_MINUTES_RANGE = (0.0, 70.0)
# A season's games fall between September 1 of its first year and October 31 of its second
# (the 2019-20 bubble ended on 2020-10-11).
SEASON_WINDOW = ((9, 1), (10, 31))

_COUNTING_STATS = tuple(s for s in BOX_STATS if s != "plus_minus")
_SHOOTING_PAIRS = (("fga", "fgm"), ("fg3a", "fg3m"), ("fta", "ftm"), ("fgm", "fg3m"))

# GE type names per column: numpy dtypes are compared on the column dtype; "str" is checked on
# every value of an object column.
_COLUMN_TYPES = {
    "game_id": "str",
    "team_id": "int64",
    "player_id": "int64",
    "player_name": "str",
    "season": "str",
    "season_type": "str",
    "game_date": "datetime64[ns]",
    "team_abbreviation": "str",
    "matchup": "str",
    "is_home": "bool",
    "neutral_site": "bool",
    "wl": "str",
    "minutes": "float64",
    **dict.fromkeys(BOX_STATS, "int64"),
}


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class FailedExpectation:
    """One expectation that did not hold.

    ``unexpected_count`` is GE's count of offending rows (games, for the per-game suite) and
    ``examples`` up to five of them (with their key columns). Expectations on an aggregate (a
    column's dtype or minimum) have no rows: their count is 1 and ``observed_value`` holds what
    GE saw. For the column set the count is the number of missing plus extra columns. The count
    is 0 when the expectation could not run (``error`` says why, e.g. its column is missing).
    """

    expectation: str
    column: str | None
    unexpected_count: int
    examples: list
    description: str = ""
    observed_value: Any = None
    error: str | None = None


@dataclass
class ValidationReport:
    """The outcome of validating one batch of one kind; ``raw`` holds GE's results per suite."""

    batch_name: str
    kind: Kind
    n_rows: int
    success: bool
    failures: list[FailedExpectation]
    raw: dict
    skipped: list[str] = field(default_factory=list)  # derived suites that could not be built

    @property
    def n_expectations(self) -> int:
        return sum(
            int(r.get("statistics", {}).get("evaluated_expectations", 0)) for r in self.raw.values()
        )

    def summary(self) -> str:
        head = f"batch {self.batch_name!r} ({self.kind}): {self.n_rows} rows"
        if self.success:
            return f"{head}: all {self.n_expectations} expectations passed"
        lines = [f"{head}: FAILED {len(self.failures)} of {self.n_expectations} expectations"]
        for failure in self.failures:
            where = f" [{failure.column}]" if failure.column else ""
            line = f"  - {failure.expectation}{where}"
            if failure.error is not None:
                line += f": could not run ({failure.error})"
            elif failure.observed_value is not None:
                line += f": observed {_short(failure.observed_value)}"
            else:
                line += f": {failure.unexpected_count} unexpected"
            if failure.description:
                line += f" -- {failure.description}"
            lines.append(line)
            if failure.examples:
                shown = ", ".join(_short(e) for e in failure.examples[:EXAMPLE_COUNT])
                lines.append(f"      e.g. {shown}")
        lines.extend(f"  - not checked: {reason}" for reason in self.skipped)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        fields_ = dict(data)
        fields_["failures"] = [FailedExpectation(**f) for f in data.get("failures", [])]
        return cls(**fields_)

    @classmethod
    def load(cls, path: Path) -> ValidationReport:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, folder: Path, *, now: datetime | None = None) -> Path:
        """Write ``<folder>/<UTC timestamp>_<batch_name>_<kind>.json`` and a ``.html`` beside it.

        The kind is part of the name so a batch's team and player reports do not overwrite each
        other. The HTML is self-contained (GE's own data-docs page loads its CSS/JS from CDNs).
        Returns the JSON path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        stem = f"{stamp}_{_safe_name(self.batch_name)}_{self.kind}"
        json_path = folder / f"{stem}.json"
        json_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        (folder / f"{stem}.html").write_text(self.to_html(), encoding="utf-8")
        return json_path

    def to_html(self) -> str:
        """One self-contained page: the verdict and every expectation's result, failures first."""
        rows = []
        for suite, result in self.raw.items():
            for res in result.get("results", []):
                rows.append((suite, res))
        rows.sort(key=lambda item: bool(item[1].get("success")))
        body = []
        for suite, res in rows:
            config = res.get("expectation_config", {})
            kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"}
            ok = bool(res.get("success"))
            body.append(
                "<tr class='{cls}'><td>{status}</td><td>{suite}</td><td>{type}</td>"
                "<td>{desc}</td><td><code>{kwargs}</code></td><td><code>{result}</code></td></tr>".format(
                    cls="ok" if ok else "bad",
                    status="passed" if ok else "FAILED",
                    suite=html.escape(suite),
                    type=html.escape(str(config.get("type", ""))),
                    desc=html.escape(str(config.get("description") or "")),
                    kwargs=html.escape(json.dumps(kwargs, default=str)),
                    result=html.escape(_result_digest(res)),
                )
            )
        verdict = "passed" if self.success else "FAILED"
        title = html.escape(f"{self.batch_name} ({self.kind}): {verdict}")
        skipped = "".join(f"<p class='bad'>Not checked: {html.escape(s)}</p>" for s in self.skipped)
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title><style>"
            "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}"
            "td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;"
            "font-size:13px}code{white-space:pre-wrap;word-break:break-word}"
            "tr.bad td:first-child,p.bad{color:#b00020;font-weight:bold}"
            "tr.ok td:first-child{color:#1b5e20}"
            "</style></head><body>"
            f"<h1>{title}</h1><p>{self.n_rows} rows, {self.n_expectations} expectations, "
            f"{len(self.failures)} failed.</p>{skipped}"
            "<table><thead><tr><th>status</th><th>suite</th><th>expectation</th>"
            "<th>description</th><th>arguments</th><th>result</th></tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table></body></html>\n"
        )


def raise_for_failures(reports: Sequence[ValidationReport]) -> None:
    """Raise ``BatchValidationError`` (carrying all ``reports``) if any report failed."""
    if any(not r.success for r in reports):
        raise BatchValidationError(reports)


def validate_batches(
    validator: BatchValidator,
    team_games: pd.DataFrame | None,
    player_games: pd.DataFrame | None,
    *,
    batch_name: str,
) -> list[ValidationReport]:
    """Validate whichever frames are given; returns one report per frame (teams first)."""
    reports = []
    if team_games is not None:
        reports.append(validator.validate_team_games(team_games, batch_name=batch_name))
    if player_games is not None:
        if team_games is None:
            raise ValueError("player games are validated against the team games of the batch")
        reports.append(
            validator.validate_player_games(
                player_games, team_games=team_games, batch_name=batch_name
            )
        )
    return reports


# --------------------------------------------------------------------------------------------
# Derived frames (pure pandas): one value per game or per row, validated by GE afterwards.


def season_window(season: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``"2023-24"`` -> (2023-09-01, 2024-10-31), both inclusive."""
    start = season_start_year(season)
    (m0, d0), (m1, d1) = SEASON_WINDOW
    return pd.Timestamp(start, m0, d0), pd.Timestamp(start + 1, m1, d1)


def date_in_season(game_date: pd.Series, season: pd.Series) -> pd.Series:
    """True where ``game_date`` lies in its ``season``'s window; False for bad seasons or dates."""
    windows = {}
    for label in season.dropna().unique():
        try:
            windows[label] = season_window(str(label))
        except ValueError:
            continue
    lo = pd.to_datetime(season.map({k: v[0] for k, v in windows.items()}))
    hi = pd.to_datetime(season.map({k: v[1] for k, v in windows.items()}))
    day = pd.to_datetime(game_date, errors="coerce").dt.normalize()
    return ((day >= lo) & (day <= hi)).astype(bool)


def team_game_checks(team_games: pd.DataFrame) -> pd.DataFrame:
    """One row per game_id: ``n_rows`` (team rows) and ``n_wins`` (rows with wl == "W")."""
    wins = team_games["wl"].eq("W").astype("int64")
    grouped = wins.groupby(team_games["game_id"].to_numpy(), dropna=False, sort=False)
    sizes = grouped.size()
    return pd.DataFrame(
        {
            "game_id": sizes.index.to_numpy(),
            "n_rows": sizes.to_numpy(),
            "n_wins": grouped.sum().reindex(sizes.index).to_numpy(),
        }
    )


def team_row_checks(team_games: pd.DataFrame) -> pd.DataFrame:
    """Per team row: own minus opponent points minus plus_minus (NaN unless the game has two
    rows), reb - oreb - dreb, and whether the date is inside the season."""
    game = team_games["game_id"].to_numpy()
    pts = team_games["pts"]
    by_game = pts.groupby(game, dropna=False, sort=False)
    opponent_pts = by_game.transform("sum") - pts
    two_rows = by_game.transform("size").eq(2)
    diff = (pts - opponent_pts - team_games["plus_minus"]).astype(float).where(two_rows)
    return pd.DataFrame(
        {
            "game_id": team_games["game_id"],
            "team_id": team_games["team_id"],
            "season": team_games["season"],
            "game_date": team_games["game_date"],
            "pts_diff_minus_plus_minus": diff,
            "reb_minus_oreb_dreb": team_games["reb"] - team_games["oreb"] - team_games["dreb"],
            "date_in_season": date_in_season(team_games["game_date"], team_games["season"]),
        }
    )


def player_row_checks(player_games: pd.DataFrame, team_games: pd.DataFrame) -> pd.DataFrame:
    """Per player row: whether the date is inside the season, and whether the team log holds
    that game for the player's team on the same date (``in_team_log``)."""
    keys = ["game_id", "team_id"]
    teams = team_games.loc[:, [*keys, "game_date"]].drop_duplicates(keys)
    matched = player_games.loc[:, [*keys, "game_date"]].merge(
        teams, on=keys, how="left", suffixes=("", "_team"), validate="many_to_one"
    )
    own = pd.to_datetime(matched["game_date"], errors="coerce").dt.normalize()
    logged = pd.to_datetime(matched["game_date_team"], errors="coerce").dt.normalize()
    return pd.DataFrame(
        {
            "game_id": player_games["game_id"],
            "player_id": player_games["player_id"],
            "team_id": player_games["team_id"],
            "season": player_games["season"],
            "game_date": player_games["game_date"],
            "date_in_season": date_in_season(player_games["game_date"], player_games["season"]),
            "in_team_log": (logged.notna() & own.eq(logged)).to_numpy(),
        }
    )


# --------------------------------------------------------------------------------------------
# Suites (GE imported lazily)


def _row_expectations(kind: str) -> list:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    team = kind == TEAM_GAMES
    columns = TEAM_GAME_COLUMNS if team else PLAYER_GAME_COLUMNS
    key = TEAM_GAME_KEY if team else PLAYER_GAME_KEY
    exps = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(columns),
            exact_match=True,
            description=f"exactly the {kind} schema columns",
        )
    ]
    for col in columns:
        exps.append(
            gxe.ExpectColumnValuesToBeOfType(
                column=col, type_=_COLUMN_TYPES[col], description=f"{col} is {_COLUMN_TYPES[col]}"
            )
        )
    for col in columns:
        exps.append(gxe.ExpectColumnValuesToNotBeNull(column=col, description=f"{col} is set"))
    exps += [
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(key), description=f"one row per ({', '.join(key)})"
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="game_id", regex=r"^\d{10}$", description="game_id is a 10-digit string"
        ),
    ]
    for season_type, prefix in GAME_ID_PREFIX.items():
        exps.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column="game_id",
                regex=rf"^{prefix}\d{{7}}$",
                row_condition=Column("season_type") == season_type,
                description=f"{season_type} game_id starts with {prefix}",
            )
        )
    exps += [
        gxe.ExpectColumnValuesToBeInSet(
            column="season_type", value_set=list(SEASON_TYPES), description="a known season_type"
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="season", regex=r"^\d{4}-\d{2}$", description='season looks like "2023-24"'
        ),
    ]
    if team:
        exps += [
            gxe.ExpectColumnValuesToBeInSet(
                column="wl", value_set=["W", "L"], description="W or L"
            ),
            _between(gxe, "pts", TEAM_PTS_RANGE),
            _between(gxe, "minutes", TEAM_MINUTES_RANGE, note="240 + 25 per overtime"),
        ]
    else:
        exps += [
            _between(gxe, "pts", PLAYER_PTS_RANGE),
            _between(gxe, "minutes", PLAYER_MINUTES_RANGE),
        ]
    # Non-negative counting stats: checked on the column minimum (an aggregate, ~10x cheaper on
    # 200k rows than a per-row check; the report shows the observed minimum).
    exps += [
        gxe.ExpectColumnMinToBeBetween(
            column=stat, min_value=0, description=f"{stat} is not negative"
        )
        for stat in _COUNTING_STATS
        if stat != "pts"
    ]
    exps += [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=big, column_B=small, or_equal=True, description=f"{small} <= {big}"
        )
        for big, small in _SHOOTING_PAIRS
    ]
    return exps


def _between(gxe: Any, column: str, bounds: tuple[float, float], note: str = "") -> Any:
    lo, hi = bounds
    text = f"{column} in [{lo}, {hi}]" + (f" ({note})" if note else "")
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=lo, max_value=hi, description=text
    )


def _game_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="n_rows", value_set=[2], description="exactly two team rows per game"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="n_wins", value_set=[1], description="one W and one L per game"
        ),
    ]


def _derived_expectations(kind: str) -> list:
    import great_expectations.expectations as gxe

    exps = [
        gxe.ExpectColumnValuesToBeInSet(
            column="date_in_season",
            value_set=[True],
            description="game_date within the season (Sep 1 .. Oct 31 of the next year)",
        )
    ]
    if kind == PLAYER_GAMES:
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="in_team_log",
                value_set=[True],
                description="the team log holds the game for the player's team on that date",
            )
        )
    if kind == TEAM_GAMES:
        exps += [
            gxe.ExpectColumnValuesToBeBetween(
                column="pts_diff_minus_plus_minus",
                min_value=0,
                max_value=0,
                description="pts - opponent pts == plus_minus",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="reb_minus_oreb_dreb",
                min_value=0,
                max_value=0,
                description="reb == oreb + dreb",
            ),
        ]
    return exps


@dataclass(frozen=True)
class _Suite:
    """A suite and how to get its frame from the batch."""

    name: str
    needs: tuple[str, ...]  # batch columns the derived frame is computed from
    frame: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame]  # (batch, team rows)
    index_columns: tuple[str, ...]  # columns that identify an unexpected row in the examples
    expectations: Callable[[], list]


def _suites(kind: str) -> tuple[_Suite, ...]:
    if kind == TEAM_GAMES:
        return (
            _Suite(
                "team_games.rows",
                (),
                lambda df, _: df,
                TEAM_GAME_KEY,
                lambda: _row_expectations(TEAM_GAMES),
            ),
            _Suite(
                "team_games.games",
                ("game_id", "wl"),
                lambda df, _: team_game_checks(df),
                ("game_id",),
                _game_expectations,
            ),
            _Suite(
                "team_games.derived",
                (
                    "game_id",
                    "team_id",
                    "season",
                    "game_date",
                    "pts",
                    "plus_minus",
                    "reb",
                    "oreb",
                    "dreb",
                ),
                lambda df, _: team_row_checks(df),
                (*TEAM_GAME_KEY, "game_date"),
                lambda: _derived_expectations(TEAM_GAMES),
            ),
        )
    return (
        _Suite(
            "player_games.rows",
            (),
            lambda df, _: df,
            PLAYER_GAME_KEY,
            lambda: _row_expectations(PLAYER_GAMES),
        ),
        _Suite(
            "player_games.derived",
            ("game_id", "player_id", "team_id", "season", "game_date"),
            player_row_checks,
            (*PLAYER_GAME_KEY, "game_date"),
            lambda: _derived_expectations(PLAYER_GAMES),
        ),
    )


# --------------------------------------------------------------------------------------------
# Validator


# Results kept per validator: a frame validated again (the same columns, dtypes and values, e.g.
# a retrain on an unchanged store) reuses its result instead of running the suites again.
REMEMBERED_RESULTS = 16


def _frame_key(df: pd.DataFrame | None) -> tuple:
    """What a validation result depends on: the columns, their dtypes and every value."""
    from ingest.storage import frame_digest

    if df is None:
        return ()
    return (tuple(map(str, df.columns)), tuple(map(str, df.dtypes)), frame_digest([df]))


class BatchValidator:
    """Validates normalized batches; GE context and suites are built on first use, then reused.
    The last ``REMEMBERED_RESULTS`` results are remembered: the suites are deterministic, so a
    frame seen before gets that run's result (under the new batch name) without a GE run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()  # one run at a time on the shared GE context
        self._definitions: dict[str, Any] | None = None  # suite name -> ValidationDefinition
        self._results: OrderedDict[tuple, ValidationReport] = OrderedDict()
        self.suite_runs = 0  # GE runs made (a remembered result makes none)

    def validate_team_games(self, df: pd.DataFrame, *, batch_name: str) -> ValidationReport:
        return self._validate(df, TEAM_GAMES, batch_name)

    def validate_player_games(
        self, df: pd.DataFrame, *, team_games: pd.DataFrame, batch_name: str
    ) -> ValidationReport:
        """``df`` on its own, and against ``team_games``: every player row must belong to a
        game of the player's team in the team log, on the same date."""
        return self._validate(df, PLAYER_GAMES, batch_name, team_games)

    def _validation_definitions(self) -> dict[str, Any]:
        with self._lock:
            if self._definitions is None:
                self._definitions = _build_definitions()
            return self._definitions

    def _validate(
        self, df: pd.DataFrame, kind: str, batch_name: str, team_games: pd.DataFrame | None = None
    ) -> ValidationReport:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{kind} must be a pandas DataFrame, got {type(df).__name__}")
        key = (kind, _frame_key(df), _frame_key(team_games))
        with self._lock:
            seen = self._results.get(key)
            if seen is not None:
                self._results.move_to_end(key)
                return replace(seen, batch_name=batch_name)
        report = self._run_suites(df, kind, batch_name, team_games)
        with self._lock:
            self._results[key] = report
            while len(self._results) > REMEMBERED_RESULTS:
                self._results.popitem(last=False)
        return report

    def _run_suites(
        self, df: pd.DataFrame, kind: str, batch_name: str, team_games: pd.DataFrame | None
    ) -> ValidationReport:
        definitions = self._validation_definitions()
        # A fresh, consolidated copy with a plain index: GE filters the frame once per metric, and
        # on a frame of many blocks (as built by concat) pandas would re-consolidate it each time.
        batch = df.reset_index(drop=True)
        raw: dict[str, dict] = {}
        failures: list[FailedExpectation] = []
        skipped: list[str] = []
        for suite in _suites(kind):
            missing = [c for c in suite.needs if c not in batch.columns]
            if missing:
                skipped.append(f"{suite.name} (needs missing columns {missing})")
                continue
            try:
                frame = suite.frame(batch, team_games)
            except (TypeError, ValueError) as exc:  # e.g. a non-numeric pts column
                skipped.append(f"{suite.name} ({type(exc).__name__}: {exc})")
                continue
            result_format = {
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLE_COUNT,
                "unexpected_index_column_names": [
                    c for c in suite.index_columns if c in frame.columns
                ],
            }
            with self._run_lock:
                self.suite_runs += 1
                result = definitions[suite.name].run(
                    batch_parameters={"dataframe": frame}, result_format=result_format
                )
            raw[suite.name] = result.to_json_dict()
            failures.extend(_failures(raw[suite.name]))
        failures.sort(key=lambda f: f.error is not None)  # those that could not run last
        return ValidationReport(
            batch_name=batch_name,
            kind=kind,
            n_rows=len(df),
            success=not failures and not skipped,
            failures=failures,
            raw=raw,
            skipped=skipped,
        )


@functools.cache
def shared_validator() -> BatchValidator:
    """One validator per process: its suites are built once (about a second), then every flow run
    of the process reuses them."""
    return BatchValidator()


def _build_definitions() -> dict[str, Any]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="ingest")
    definitions = {}
    for kind in (TEAM_GAMES, PLAYER_GAMES):
        for spec in _suites(kind):
            batch = source.add_dataframe_asset(name=spec.name).add_batch_definition_whole_dataframe(
                name=spec.name
            )
            # All expectations at once: ``suite.add_expectation`` on a stored suite rewrites the
            # whole suite in the store each time (seconds for the ~160 expectations).
            suite = context.suites.add(
                gx.ExpectationSuite(name=spec.name, expectations=list(spec.expectations()))
            )
            definitions[spec.name] = context.validation_definitions.add(
                gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
            )
    return definitions


# --------------------------------------------------------------------------------------------
# Reading GE results


def _failures(suite_result: dict) -> list[FailedExpectation]:
    return [_failure(r) for r in suite_result.get("results", []) if not r.get("success")]


def _failure(res: dict) -> FailedExpectation:
    config = res.get("expectation_config", {})
    kwargs = config.get("kwargs", {})
    result = res.get("result") or {}
    error = _exception_message(res)
    observed = None
    if "partial_unexpected_index_list" in result or "partial_unexpected_list" in result:
        examples = result.get("partial_unexpected_index_list") or result.get(
            "partial_unexpected_list", []
        )
        count = int(result.get("unexpected_count") or 0)
    elif "details" in result and "mismatched" in result["details"]:  # table columns
        mismatched = result["details"]["mismatched"]
        examples = [
            *(f"missing {c}" for c in mismatched.get("missing", [])),
            *(f"unexpected {c}" for c in mismatched.get("unexpected", [])),
        ]
        count = len(examples)
    elif "observed_value" in result:  # an aggregate (a dtype, a minimum)
        examples, count, observed = [], 1, result["observed_value"]
    else:
        examples, count = [], 0
    return FailedExpectation(
        expectation=str(config.get("type", "")),
        column=_column_of(kwargs),
        unexpected_count=count,
        examples=list(examples)[:EXAMPLE_COUNT],
        description=str(config.get("description") or ""),
        observed_value=observed,
        error=error,
    )


def _exception_message(res: dict) -> str | None:
    """GE's error for an expectation that could not run, else None.

    ``exception_info`` is either one record or, when a metric failed, one record per metric id.
    """
    info = res.get("exception_info") or {}
    records = [info] if "raised_exception" in info else list(info.values())
    messages = [
        str(r.get("exception_message"))
        for r in records
        if isinstance(r, dict) and r.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(messages)) or None


def _column_of(kwargs: dict) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(map(str, kwargs["column_list"]))
    return None


def _result_digest(res: dict) -> str:
    result = res.get("result") or {}
    error = _exception_message(res)
    if error is not None:
        return f"error: {error}"
    keep = (
        "observed_value",
        "element_count",
        "unexpected_count",
        "partial_unexpected_index_list",
        "partial_unexpected_list",
        "details",
    )
    digest = {k: result[k] for k in keep if k in result}
    if "partial_unexpected_index_list" in digest:
        digest.pop("partial_unexpected_list", None)
    return json.dumps(digest, default=str)


def _short(value: object) -> str:
    text = json.dumps(value, default=str) if isinstance(value, dict | list) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "batch"


__all__ = [
    "PLAYER_GAMES",
    "TEAM_GAMES",
    "BatchValidationError",
    "BatchValidator",
    "FailedExpectation",
    "ValidationReport",
    "date_in_season",
    "player_row_checks",
    "raise_for_failures",
    "season_window",
    "team_game_checks",
    "team_row_checks",
    "validate_batches",
]
