"""Request and answer bodies of the API (pydantic), documented in the service's OpenAPI."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from features.catalog import GAME_FEATURE_DOCS

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (NUL breaks SQL drivers)
TeamCode = Annotated[
    str,
    Field(
        min_length=2,
        max_length=4,
        pattern=r"^[A-Za-z]{2,4}$",
        description="Team abbreviation, e.g. BOS",
        examples=["BOS"],
    ),
]
GameDate = Annotated[
    date | None,
    Strict(),
    Field(
        default=None,
        description="YYYY-MM-DD; default: today (US Eastern). Features use games before it.",
        examples=["2024-01-15"],
    ),
]


def _model_name(example: str) -> Any:
    return Annotated[
        str | None,
        Field(
            default=None,
            max_length=64,
            description="Registered model name; default: the configured model of the task.",
            examples=[example],
        ),
    ]


ModelName = _model_name("game-logistic")
PointsModelName = _model_name("player-ridge")


VERSION_TYPE_MESSAGE = 'Input should be a version number such as 3 or "3"'
VERSION_DIGITS = re.compile(r"[1-9][0-9]{0,8}")


def _version_text(value: Any) -> Any:
    """A version given as a JSON integer is read as its digits (``3`` as ``"3"``); any other
    type than an integer, a string or null (``true``, ``3.5``, a list, an object) is one error
    saying what a version is, not the string branch's "Input should be a valid string"."""
    if isinstance(value, bool) or not isinstance(value, int | str | None):
        raise PydanticCustomError("model_version", VERSION_TYPE_MESSAGE)
    text = str(value) if isinstance(value, int) else value
    if text is not None and not VERSION_DIGITS.fullmatch(text):  # 0, -1, "01", "latest"
        raise PydanticCustomError("model_version", VERSION_TYPE_MESSAGE)
    return text


ModelVersion = Annotated[
    Annotated[str, Field(pattern=f"^{VERSION_DIGITS.pattern}$")] | None,
    BeforeValidator(_version_text, json_schema_input_type=int | str | None),
    Field(
        default=None,
        description='A loaded version of the model (3 or "3"); default: its champion.',
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Matchup(_Body):
    """A game to predict from the stored games as of its date."""

    home_team: TeamCode
    away_team: TeamCode
    game_date: GameDate = None
    neutral_site: Annotated[bool, Strict()] = Field(
        default=False, description="No home-court advantage."
    )


class SimpleRequest(Matchup):
    model: ModelName = None
    model_version: ModelVersion = None


class CompareRequest(Matchup):
    pass


class BatchRequest(_Body):
    games: list[Matchup] = Field(
        min_length=1, description="The games; at most the configured batch limit (default 100)."
    )
    model: ModelName = None
    model_version: ModelVersion = None


class PlayerRequest(_Body):
    player: (
        Annotated[int, Strict()]
        | Annotated[str, Field(min_length=1, max_length=128, pattern=PRINTABLE)]
    ) = Field(
        description="Player ID, or his full name as stored, in any case, with or without accents",
        examples=["LeBron James"],
    )
    opponent: TeamCode
    home: Annotated[bool, Strict()] = Field(description="True when the player's team is at home.")
    game_date: GameDate = None
    team: TeamCode | None = Field(
        default=None, description="The player's team; default: the team of his last game."
    )
    model: PointsModelName = None
    model_version: ModelVersion = None

    @field_validator("player", mode="wrap")
    @classmethod
    def _one_error_for_player(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """One error in the caller's terms, not one per branch of the ID-or-name union."""
        try:
            return handler(value)
        except ValidationError as exc:
            if not isinstance(value, str):
                raise PydanticCustomError(
                    "player_type",
                    "Input should be a player ID (an integer) or a full name (a string)",
                ) from None
            name_error = next(e for e in exc.errors() if e["type"] != "int_type")
            if name_error["type"] == "string_pattern_mismatch":
                raise PydanticCustomError(
                    "string_pattern_mismatch", "The name should hold no control characters"
                ) from None
            raise PydanticCustomError(
                name_error["type"], "{msg}", {"msg": name_error["msg"]}
            ) from None


# Far beyond any real value (Elo ~1000-2000, points ~50-170): keeps the model's arithmetic finite.
FEATURE_BOUND = 1e6


def _feature_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, definition, window in GAME_FEATURE_DOCS:
        fields[name] = (
            Annotated[
                float,
                Strict(),  # a number: neither true/false nor "12.5"
                Field(
                    allow_inf_nan=False,
                    ge=-FEATURE_BOUND,
                    le=FEATURE_BOUND,
                    description=f"{definition} ({window})",
                ),
            ],
            ...,
        )
    return fields


FeatureRequest = create_model(
    "FeatureRequest",
    __base__=_Body,
    __doc__="A game from an explicit feature vector: every game feature, as in training.",
    model=(ModelName, None),
    model_version=(ModelVersion, None),
    **_feature_fields(),
)


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64, pattern=PRINTABLE)
    password: str = Field(min_length=1, max_length=256, pattern=PRINTABLE)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class ModelRef(BaseModel):
    name: str
    version: str


HistoryThrough = Annotated[
    date | None,
    Field(description="The last stored game day before game_date (null before the first)."),
]
HistoryGapDays = Annotated[
    int | None, Field(description="Days from history_through to game_date (1 in mid-season).")
]
Warnings = Annotated[
    list[str],
    Field(
        description="What the answer cannot know, in words: games missing from the store "
        "before game_date (history_gap_days above NBA_STALE_HISTORY_DAYS, or none stored)."
    ),
]
Answered = Annotated[
    str, Field(description="When this answer was given (UTC, ISO 8601), a cached one included.")
]


class GamePrediction(BaseModel):
    """One game's prediction."""

    home_team: str
    away_team: str
    game_date: date | None = None
    season: str | None = None
    history_through: HistoryThrough = None
    history_gap_days: HistoryGapDays = None
    warnings: Warnings = []
    neutral_site: bool = False
    predicted_winner: str
    home_win_probability: float
    away_win_probability: float
    confidence: float = Field(description="Probability of the predicted winner.")
    model: ModelRef
    timestamp: Answered
    cached: bool = False
    request_id: str | None = None
    features: dict[str, float] = Field(description="The feature values the model used.")


class FeaturePrediction(BaseModel):
    """A game predicted from an explicit feature vector."""

    predicted_winner: str = Field(description="home or away")
    home_win_probability: float
    away_win_probability: float
    confidence: float
    model: ModelRef
    timestamp: Answered
    cached: bool = False
    request_id: str | None = None
    features: dict[str, float]


class BatchPrediction(BaseModel):
    predictions: list[GamePrediction]
    model: ModelRef
    count: int
    request_id: str | None = None
    cached: bool = False


class ComparePrediction(BaseModel):
    home_team: str
    away_team: str
    game_date: date
    predictions: list[GamePrediction]
    agreement: bool = Field(description="All models pick the same winner.")
    request_id: str | None = None
    cached: bool = False


class Interval(BaseModel):
    low: float
    high: float
    level: float
    basis: str


class PlayerPrediction(BaseModel):
    player_id: int
    player_name: str
    team: str
    opponent: str
    home: bool
    game_date: date
    season: str
    history_through: HistoryThrough = None
    history_gap_days: HistoryGapDays = None
    warnings: Warnings = []
    predicted_points: float
    interval: Interval | None
    model: ModelRef
    timestamp: Answered
    cached: bool = False
    request_id: str | None = None
    features: dict[str, float]
