"""The one settings object. Built in an entry point (CLI, flow, service) and passed down.

Every default works on a fresh machine: a SQLite database and a local MLflow store under one
state folder, an in-process cache. Setting ``NBA_DATABASE_URL``, ``NBA_MLFLOW_TRACKING_URI`` or
``NBA_REDIS_URL`` switches to PostgreSQL, a remote MLflow, Redis.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, ValidationInfo, field_serializer, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
_CREDENTIALS = re.compile(r"(?<=://)[^/@]*@")
HIDDEN = "***"
REDIS_SCHEMES = ("redis", "rediss", "unix")
MLFLOW_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # MLflow's SQL stores


def _numeric_port(parts: SplitResult, field: str) -> None:
    """A ValueError naming ``field`` when the URL's port is not a number."""
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{field} has a port that is not a number") from None


def redact_uri(uri: str) -> str:
    """``uri`` without a ``user:password@`` part (safe to log and to show in health)."""
    return _CREDENTIALS.sub(f"{HIDDEN}@", uri)


def url_origin(url: str) -> str:
    """The scheme and host of ``url``: what may be shown of a webhook, whose path (and query,
    user info) is often its secret."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


# The registered model names of each task (training.models builds one estimator for each).
GAME_MODEL_NAMES = ("game-logistic", "game-tree", "game-forest")
POINTS_MODEL_NAMES = ("player-linear", "player-ridge", "player-lasso")


class DataDirError(RuntimeError):
    """No snapshot folder could be found."""


def default_data_dir_candidates() -> list[Path]:
    """Where the snapshot is looked for when ``NBA_DATA_DIR`` is not set, first match wins."""
    return [Path.cwd() / "../shared/data/nba", REPO_ROOT / "../shared/data/nba"]


class Settings(BaseSettings):
    """Platform settings; every field can be set as ``NBA_<FIELD>`` in the environment."""

    # hide_input_in_errors: a refused value (a malformed webhook URL and its token) is not
    # repeated in the error, which a flow run's log would keep.
    model_config = SettingsConfigDict(env_prefix="NBA_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path | None = Field(
        default=None,
        description="Snapshot folder with the layout of ../shared/data/nba. "
        "Default: ../shared/data/nba when it exists.",
    )
    state_dir: Path = Field(
        default=Path(".nba-mlops"),
        description="Local state: SQLite database, MLflow store, reports, logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite:///<state_dir>/nba.db. "
        "Example: postgresql+psycopg2://user@127.0.0.1:5432/nba",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI. Default: sqlite:///<state_dir>/mlflow.db "
        "with artifacts in <state_dir>/mlartifacts.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for the prediction cache and rate limits. Default: in-process.",
    )
    nba_api_timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP request.")
    nba_api_retries: int = Field(default=3, ge=0, description="Retries after a failed request.")
    nba_api_backoff: float = Field(
        default=2.0, ge=0, description="First retry delay in seconds; doubles each retry."
    )
    nba_api_pause: float = Field(
        default=0.6, ge=0, description="Pause between consecutive requests (polite pacing)."
    )
    log_level: str = Field(default="INFO", description="Log level of the platform's loggers.")

    # Models and the promotion gate --------------------------------------------------------------
    default_game_model: str = Field(
        default="game-logistic", description="The game model answering when a request names none."
    )
    default_points_model: str = Field(
        default="player-ridge", description="The points model answering when a request names none."
    )
    game_gate_margin: float = Field(
        default=0.001,
        ge=0,
        description="Log-loss improvement a game challenger needs over the champion.",
    )
    points_gate_margin: float = Field(
        default=0.01,
        ge=0,
        description="MAE improvement a points challenger needs over the champion.",
    )
    stale_history_days: int = Field(
        default=30,
        ge=1,
        description="A prediction whose date is more than this many days after the newest "
        "stored game before it carries a warning: its features are of old games (the All-Star "
        "break is about a week; between seasons every answer carries it).",
    )
    in_season_window_days: int = Field(
        default=28,
        ge=0,
        description="In-season evaluation window of a retrain, in days: when the evaluation "
        "season has games the champion was not fit on, the challenger is fit through day D - k "
        "and it and the served champion are scored on the games of (D - k, D], D the season's "
        "last played regular-season day. 0 turns it off (season-level comparison only).",
    )
    training_figures: bool = Field(
        default=True,
        description="Draw each trained model's diagnostic figures (calibration, ROC, importances "
        "or coefficients, residuals) and log them to its MLflow run. Off: a faster retrain with "
        "the same model, params and metrics.",
    )
    in_season_min_games: int = Field(
        default=100,
        ge=1,
        description="Fewest games the in-season window must hold; with fewer the gate falls "
        "back to the season-level comparison (recorded on the version).",
    )

    task_runner: str = Field(
        default="threads",
        description="Prefect task runner of the flows that train (training_flow, retrain_flow, "
        "the drift flow's retrains) and of backtest_flow's folds: threads (in the flow's process) "
        "or dask (prefect-dask: a local cluster, or the scheduler at NBA_DASK_ADDRESS).",
    )
    dask_address: str | None = Field(
        default=None,
        description="Address of a running Dask scheduler, e.g. tcp://scheduler:8786. "
        "Default with task_runner=dask: a temporary local cluster.",
    )

    # Serving ------------------------------------------------------------------------------------
    environment: str = Field(
        default="development",
        description="development or production; production refuses a missing or short JWT secret.",
    )
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 signing secret (32+ characters). Development without one uses a random "
        "per-process secret.",
    )
    jwt_expiry_minutes: int = Field(default=60, gt=0, description="Lifetime of an access token.")
    bcrypt_cost: int = Field(
        default=12,
        ge=4,
        le=31,
        description="bcrypt work factor of new password hashes (4-31; each step doubles the time "
        "of a login). A hash keeps the factor it was made with.",
    )
    rate_limit: str = Field(default="100/minute", description="Requests per client IP.")
    login_rate_limit: str = Field(
        default="5/minute", description="Failed login attempts per client IP."
    )
    cache_ttl_seconds: int = Field(default=300, ge=0, description="Prediction cache lifetime.")
    batch_limit: int = Field(default=100, gt=0, description="Most games in one batch request.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (JSON list). Default: none."
    )
    champion_poll_seconds: float = Field(
        default=30.0, gt=0, description="How often the service checks the champion aliases."
    )

    # Monitoring ---------------------------------------------------------------------------------
    drift_share_threshold: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Share of drifted features at which drift is declared (reached or passed: "
        "retrain); above 0, or every check would declare drift.",
    )
    log_loss_drop_threshold: float = Field(
        default=0.02,
        ge=0,
        description="Rise in live game log loss over the backtest figure that triggers a retrain.",
    )
    mae_drop_threshold: float = Field(
        default=0.3,
        ge=0,
        description="Rise in live points MAE over the backtest figure that triggers a retrain.",
    )
    prediction_drift_threshold: float = Field(
        default=0.3,
        ge=0,
        description="Normed Wasserstein distance (Wasserstein-1 over the reference's standard "
        "deviation) between the reference's and the window's predicted values at which "
        "prediction drift triggers a retrain. 0 turns the trigger off (reported only).",
    )
    stale_ingest_days: int = Field(
        default=3,
        ge=1,
        description="A drift check alerts when the store's last successful ingest finished more "
        "than this many days before the check's day: the daily ingest has stopped, and the "
        "windows hold no new game (between seasons the daily ingest still succeeds). The "
        "service's /api/health says stale past it.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Optional http(s) URL notified (JSON POST) when monitoring alerts.",
    )

    # The JSON form of the settings (what Prefect stores as a flow run's parameters and shows in
    # its UI) carries no secret: no passwords in URLs, no JWT secret, no webhook path (webhook
    # URLs are tokens themselves). In Python the values are untouched.
    @field_serializer("database_url", "mlflow_tracking_uri", "redis_url", when_used="json")
    def _url_without_credentials(self, value: str | None) -> str | None:
        return None if value is None else redact_uri(value)

    @field_serializer("jwt_secret", when_used="json")
    def _hidden_secret(self, value: str | None) -> str | None:
        return None if value is None else HIDDEN

    @field_serializer("webhook_url", when_used="json")
    def _webhook_host_only(self, value: str | None) -> str | None:
        return None if value is None else f"{url_origin(value)}/{HIDDEN}"

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        # A typo ("prod", "Production") must not turn the production checks off silently.
        if value.strip().lower() not in ("development", "production"):
            raise ValueError(f"environment must be development or production, got {value!r}")
        return value.strip().lower()

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in levels:
            raise ValueError(f"log_level must be one of {', '.join(levels)}, got {value!r}")
        return value.upper()

    @field_validator("default_game_model")
    @classmethod
    def _game_model(cls, value: str) -> str:
        if value not in GAME_MODEL_NAMES:
            raise ValueError(
                f"default_game_model must be one of {', '.join(GAME_MODEL_NAMES)}, got {value!r}"
            )
        return value

    @field_validator("default_points_model")
    @classmethod
    def _points_model(cls, value: str) -> str:
        if value not in POINTS_MODEL_NAMES:
            raise ValueError(
                "default_points_model must be one of "
                f"{', '.join(POINTS_MODEL_NAMES)}, got {value!r}"
            )
        return value

    @field_validator("rate_limit", "login_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str, info) -> str:
        from limits import parse

        try:
            allowed = parse(value).amount
        except ValueError:
            allowed = 0
        if allowed < 1:
            raise ValueError(
                f"{info.field_name} must be a rate limit such as '100/minute' (at least 1), "
                f"got {value!r}"
            )
        return value

    @field_validator("task_runner")
    @classmethod
    def _known_task_runner(cls, value: str) -> str:
        if value not in ("threads", "dask"):
            raise ValueError(f"task_runner must be threads or dask, got {value!r}")
        return value

    @field_validator("state_dir", "mlflow_tracking_uri", "redis_url", "webhook_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        # NBA_STATE_DIR= (an env file's blank line) is unset: the default, not the current
        # folder; a blank URL is no URL.
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_webhook_url(cls, value: str | None) -> str | None:
        # Refused at start-up, not when the first alert is posted. The message never quotes the
        # URL: its path and query are often its secret.
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https"):
            scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
            raise ValueError(f"webhook_url must be an http:// or https:// URL, got {scheme}")
        _numeric_port(parts, "webhook_url")
        if not parts.hostname:
            raise ValueError(f"webhook_url must name a host, got {parts.scheme}:// without one")
        value = value.strip()
        return parts.scheme + value[len(parts.scheme) :]  # HTTPS://... as https://...

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _mlflow_tracking_uri(cls, value: str | None) -> str | None:
        # The MLflow in use refuses its folder (file) store ("maintenance mode"): a path or a
        # file:// URI would fail every command deep in a flow run. The message never quotes
        # the URI, which may hold a password.
        if value is None:
            return None
        value = value.strip()
        scheme = value.split(":", 1)[0].lower() if "://" in value else ""
        if scheme not in ("http", "https") and scheme.split("+")[0] not in MLFLOW_DATABASES:
            raise ValueError(
                "mlflow_tracking_uri must be a tracking server (http:// or https://) or a "
                "database (sqlite:///path/mlflow.db, postgresql://...), got "
                + (f"{scheme}://" if scheme else "a path (MLflow refuses a folder store)")
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        # Refused at start-up: a URL that the cache or the rate limiter misreads ('host:6379',
        # 'http://...') would fail the service's worker on every start. The message never
        # quotes the URL, which may hold a password.
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in REDIS_SCHEMES:
            scheme = f"{parts.scheme}://" if "://" in value else "no scheme"
            raise ValueError(
                "redis_url must be a redis://, rediss:// or unix:// URL such as "
                f"redis://127.0.0.1:6379/0, got {scheme}"
            )
        _numeric_port(parts, "redis_url")
        database = parts.path.strip("/")
        if parts.scheme != "unix" and database and not database.isdigit():
            raise ValueError(
                f"redis_url's path must be a database number such as /0, got {database!r}"
            )
        import redis

        try:
            redis.ConnectionPool.from_url(value)  # parses only: nothing is connected
        except ValueError as exc:
            raise ValueError(f"redis_url cannot be read: {redact_uri(str(exc))}") from None
        return value

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        path = value.expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is not a folder")
        return path

    # Derived locations -------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_store}"

    @property
    def mlflow_store(self) -> Path:
        """The local MLflow store's file, used when no NBA_MLFLOW_TRACKING_URI is set."""
        return self.state_dir / "mlflow.db"

    @property
    def sqlite_store(self) -> Path:
        """The embedded store's file, used when no NBA_DATABASE_URL is set."""
        return self.state_dir / "nba.db"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_store}"

    @property
    def mlflow_artifact_location(self) -> str | None:
        """Artifact root of new experiments: ``<state_dir>/mlartifacts`` for a local store;
        ``None`` for a tracking server, which then chooses (its ``--artifacts-destination``,
        e.g. an S3 bucket), so artifacts are never left on one machine's disk."""
        if self.resolved_mlflow_tracking_uri.startswith(("http://", "https://")):
            return None
        return (self.state_dir / "mlartifacts").as_uri()

    @property
    def validation_dir(self) -> Path:
        return self.state_dir / "validation"

    @property
    def reports_dir(self) -> Path:
        return self.state_dir / "reports"

    def resolved_data_dir(self) -> Path:
        """The snapshot folder, or a clear error naming the setting."""
        if self.data_dir is not None:
            path = self.data_dir.expanduser().resolve()
            if not path.is_dir():
                raise DataDirError(f"NBA_DATA_DIR={self.data_dir} is not a folder")
            return path
        for candidate in default_data_dir_candidates():
            if candidate.is_dir():
                return candidate.resolve()
        raise DataDirError(
            "no NBA snapshot folder found: set NBA_DATA_DIR to a folder with the layout of "
            "../shared/data/nba (team_game_logs/, player_game_logs/, ...), "
            "or ingest from the live API with --source nba_api"
        )

    def has_snapshot(self) -> bool:
        try:
            self.resolved_data_dir()
        except DataDirError:
            return False
        return True

    def existing_state_dir(self, nothing: str) -> Path:
        """The state folder, or a ValueError saying ``nothing`` when it does not exist: a command
        that only reads must not create one for a mistyped NBA_STATE_DIR."""
        if not self.state_dir.is_dir():
            raise ValueError(
                f"the state folder {self.state_dir} does not exist: {nothing}; "
                "or check NBA_STATE_DIR"
            )
        return self.state_dir

    def existing_store(self, nothing: str) -> None:
        """A ValueError saying ``nothing`` when the SQLite store (the default one, or the file
        of an ``NBA_DATABASE_URL=sqlite:///...``) does not exist, so that a command that only
        reads does not create an empty one. A database server answers for itself."""
        if self.database_url is None:
            self.existing_state_dir(nothing)
            if not self.sqlite_store.is_file():
                raise ValueError(f"no store in {self.state_dir}: {nothing}")
            return
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        path = url.database if url.get_backend_name() == "sqlite" else None
        if path and path != ":memory:" and not Path(path).is_file():
            raise ValueError(f"no store at {path}: {nothing}; or check NBA_DATABASE_URL")

    def existing_model_store(self, nothing: str) -> None:
        """With the local MLflow store (no NBA_MLFLOW_TRACKING_URI): a ValueError saying
        ``nothing`` when the state folder or its ``mlflow.db`` does not exist, so that a command
        on registered models does not create an empty store. A tracking server answers for
        itself."""
        if self.mlflow_tracking_uri is not None:
            return
        self.existing_state_dir(nothing)
        if not self.mlflow_store.is_file():
            raise ValueError(f"{self.mlflow_store} does not exist: {nothing}")

    def ensure_state_dir(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir


class InvalidSettings(ValueError):
    """A setting of the environment that cannot be used, said in one line that names it."""


def load_settings() -> Settings:
    """The settings from the environment; an invalid one raises ``InvalidSettings`` naming each
    wrong variable (``NBA_FIELD: why``) instead of pydantic's multi-line report."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        return Settings()
    except ValidationError as exc:
        wrong = "; ".join(
            f"NBA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSettings(f"invalid setting: {wrong}") from None
    except SettingsError as exc:  # a value its source cannot parse (a list that is not JSON)
        raise InvalidSettings(f"invalid setting: {_unparsed(exc)}") from None


def _unparsed(exc: Exception) -> str:
    """``NBA_FIELD: why`` of a pydantic-settings parsing error (its message names the field)."""
    found = re.search(r'field "([a-z_]+)"', str(exc))
    cause = f"{exc.__cause__}" if exc.__cause__ else str(exc)
    name = f"NBA_{found.group(1).upper()}" if found else "a setting"
    return f'{name}: cannot be parsed ({cause}); a list is JSON, e.g. ["http://a"]'
