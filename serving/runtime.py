"""Everything one service process holds: settings, models, feature state, cache, limits, records.

Built from the settings by the BentoML service's ``__init__`` (``Runtime(settings).start()``);
a background poller then follows the registry's champion aliases, new games in the store and
disabled users every ``champion_poll_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from core.settings import Settings
from serving.auth import TokenIssuer, resolve_secret
from serving.cache import make_cache
from serving.logs import configure_logging
from serving.metrics import ServiceMetrics
from serving.models import LOCAL_COPY, LoadedModel, LocalCopies, ModelHolder
from serving.models import error_text as _error_text
from serving.ratelimit import RateLimits
from serving.records import RecordWriter
from serving.state import GAME_OUTPUT, PLAYER_OUTPUT
from serving.store import StoreData, fingerprint, load_store_data

log = logging.getLogger(__name__)

GAME = "game"
POINTS = "points"
SERVICE_ACTOR = "prediction-service"
EASTERN = "America/New_York"


def today() -> date:
    """The NBA's calendar day (US Eastern), the default game date."""
    try:
        return datetime.now(ZoneInfo(EASTERN)).date()
    except Exception:  # no time-zone data on this machine
        return datetime.now(UTC).date()


def utc_today() -> date:
    """Today in UTC: the day the store's age is counted to."""
    return datetime.now(UTC).date()


def data_age(
    last_game: date | None, last_ingest: datetime | None, on: date, stale_after_days: int
) -> dict[str, Any]:
    """How old the stored data is on ``on``: the newest game's age in days, when the last
    successful ingest finished and its age, and ``stale`` when no ingest has succeeded or the
    last finished more than ``stale_after_days`` days before ``on`` (as the drift check's "stale
    store" alert counts). Information for operators: between seasons the newest game is months
    old and a daily ingest that keeps running keeps the store fresh (pure)."""
    ingest_age = None if last_ingest is None else (on - last_ingest.astimezone(UTC).date()).days
    return {
        "last_game_age_days": None if last_game is None else (on - last_game).days,
        "last_ingest": None if last_ingest is None else last_ingest.isoformat(),
        "last_ingest_age_days": ingest_age,
        "stale": ingest_age is None or ingest_age > stale_after_days,
    }


def _without_errors(doc: Any) -> Any:
    """``doc`` without its ``error`` texts (they may name hosts, paths or versions)."""
    if isinstance(doc, dict):
        return {
            k: _without_errors(v)
            for k, v in doc.items()
            if k not in ("error", "down_since", "reasons")
        }
    return doc


def health_reasons(checks: dict[str, Any], ready: bool) -> list[str]:
    """One line per thing that makes the service degraded or unavailable (pure)."""
    reasons = []
    registry = checks["registry"]
    if not registry["ok"]:
        copies = registry.get("local_copies") or []
        serving = (
            f"serving the local copies of {', '.join(copies)}"
            if copies
            else "no local copy of a model to serve"
        )
        reasons.append(f"model registry unreachable ({registry.get('error')}); {serving}")
    for name, model in checks["models"].items():
        if "error" in model:
            reasons.append(f"{name}: {model['error']}")
    if not ready and not any(m["serving"] and m["task"] == GAME for m in checks["models"].values()):
        reasons.append("no game model is answering")
    for check in ("data", "database", "cache"):
        if not checks[check]["ok"]:
            reasons.append(f"{check}: {checks[check].get('error', 'not available')}")
    return reasons


class Runtime:
    """The service's state and its background work."""

    def __init__(
        self, settings: Settings, *, poll: bool = True, log_to_stderr: bool = True
    ) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.log_files = configure_logging(
            settings.state_dir / "logs", settings.log_level, stderr=log_to_stderr
        )
        self.metrics = ServiceMetrics()
        self.tokens = TokenIssuer(
            resolve_secret(settings.environment, settings.jwt_secret),
            settings.jwt_expiry_minutes,
        )
        self.limits = RateLimits(settings.rate_limit, settings.login_rate_limit, settings.redis_url)
        self.cache = make_cache(
            settings.redis_url, settings.cache_ttl_seconds, on_error=self.metrics.cache_errors.inc
        )
        self._engine = None
        self.records = RecordWriter(
            self.engine,
            settings.state_dir / "spool",
            prepare=self._migrate,
            on_written=lambda table, n: self.metrics.records_written.labels(table=table).inc(n),
            on_error=self.metrics.db_errors.inc,
        )
        self.metrics.records_pending.set_function(lambda: self.records.buffered)
        self.metrics.watch(self)
        self.models = ModelHolder(
            settings.resolved_mlflow_tracking_uri,
            checker=self._check_model,
            on_promotion=self._promoted,
            on_failure=lambda name, version, error: self.metrics.model_load_failures.labels(
                model=name
            ).inc(),
            copies=LocalCopies(settings.state_dir / "served-models"),
        )
        self.data: StoreData | None = None
        self.last_ingest: datetime | None = None  # read at each poll, for health
        self.data_error: str | None = None
        self.users: dict[str, bool] | None = None
        self._poll = poll
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._migrated = False

    # Database ---------------------------------------------------------------------------------------
    def engine(self):
        if self._engine is None:
            from core.db import make_engine

            url = self.settings.resolved_database_url
            if url.startswith("sqlite"):
                self.settings.ensure_state_dir()
                self._engine = make_engine(url)
            else:
                self._engine = make_engine(
                    url, connect_args={"connect_timeout": 3}, pool_size=5, max_overflow=5
                )
        return self._engine

    def _migrate(self, engine) -> None:
        if not self._migrated:
            from core.migrate import upgrade

            upgrade(engine)
            self._migrated = True

    # Start and stop ---------------------------------------------------------------------------------
    def start(self) -> Runtime:
        """Load what can be loaded now (anything missing is retried by the poller)."""
        t0 = time.perf_counter()
        try:
            self._migrate(self.engine())
        except Exception as exc:
            log.error("database unreachable at start", extra={"error": _error_text(exc)})
        self.refresh_data()
        self.refresh_users()
        self.models.refresh()
        self._publish_models()
        self.records.start()
        if self._poll:
            self._poller = threading.Thread(target=self._run_poller, name="poller", daemon=True)
            self._poller.start()
        log.info(
            "service ready" if self.ready else "service started, not ready",
            extra={
                "seconds": round(time.perf_counter() - t0, 2),
                "models": self.models.status(),
                "data": self.data.counts if self.data else None,
            },
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(10)
        self.records.stop()
        self.cache.close()
        if self._engine is not None:
            self._engine.dispose()

    def _run_poller(self) -> None:
        interval = self.settings.champion_poll_seconds
        while not self._stop.wait(interval):
            self.poll()

    def poll(self) -> None:
        """One round of background checks: champions, new data, users."""
        for step in (self.models.refresh, self.refresh_data, self.refresh_users):
            try:
                step()
            except Exception as exc:  # the poller must keep going
                log.exception("background refresh failed", extra={"error": _error_text(exc)})
        self._publish_models()

    # Data -------------------------------------------------------------------------------------------
    def refresh_data(self) -> bool:
        """Reload the store when it changed (or was never loaded); True when reloaded."""
        try:
            from ingest.storage import last_ingest

            engine = self.engine()
            self.last_ingest = last_ingest(engine)
            version = fingerprint(engine)
            if self.data is not None and self.data.version == version:
                return False
            t0 = time.perf_counter()
            data = load_store_data(engine, version)
        except Exception as exc:
            error = _error_text(exc)
            # An error is logged when it starts or changes, not on every poll (30 s by default).
            again = error == self.data_error
            (log.debug if again else log.error)("store could not be read", extra={"error": error})
            self.data_error = error
            return False
        self._warm(data)
        self.data = data  # one assignment: requests in flight keep the previous data
        self.data_error = None
        log.info(
            "store loaded",
            extra={
                "version": version,
                "seconds": round(time.perf_counter() - t0, 2),
                **data.counts,
            },
        )
        return True

    def _warm(self, data: StoreData) -> None:
        """Build the feature tables of today and tomorrow before serving from this data."""
        if not data.state.team_ids:
            return
        import pandas as pd

        for day in (today(), today() + timedelta(days=1)):
            data.state.date_table(pd.Timestamp(day))

    def refresh_users(self) -> None:
        from serving.auth import user_states

        try:
            self.users = user_states(self.engine())
        except Exception as exc:
            log.warning(
                "users could not be read; keeping the last list", extra={"error": _error_text(exc)}
            )

    def user_active(self, username: str) -> bool:
        """False for a disabled or deleted user (once the list was read); True otherwise."""
        if self.users is None:
            return True
        return self.users.get(username, False)

    def note_login(self, username: str) -> None:
        if self.users is not None:
            self.users = {**self.users, username: True}

    # Models -----------------------------------------------------------------------------------------
    def _check_model(self, loaded: LoadedModel) -> None:
        """Refuse a version the service cannot feed, or whose predictions are not finite."""
        if self.data is not None:
            state = self.data.state
            available = state.game_columns if loaded.task == GAME else state.player_columns
        else:
            available = GAME_OUTPUT if loaded.task == GAME else PLAYER_OUTPUT
        missing = [c for c in loaded.columns if c not in available]
        if not loaded.columns or missing:
            raise ValueError(
                f"{loaded.name} v{loaded.version} needs features the service does not compute: "
                f"{missing[:5] or 'no feature list'}"
            )
        if loaded.task == GAME:  # positions in the feature rows (GAME_OUTPUT order)
            position = {name: i for i, name in enumerate(GAME_OUTPUT)}
            loaded.input_index = np.array([position[c] for c in loaded.columns], dtype=int)
        rng = np.random.default_rng(0)
        rows = rng.normal(0.0, 1.0, size=(8, len(loaded.columns)))
        rows[0, :] = np.nan  # a row of missing values exercises the imputer
        loaded.predictor.verify(rows)
        out = loaded.predictor.predict(rows[1:])
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{loaded.name} v{loaded.version} returns non-finite predictions")

    def _promoted(self, name: str, old: str | None, new: str) -> None:
        self.audit(
            "promotion" if old is not None else "model_serving",
            target=f"{name}:v{new}",
            username=SERVICE_ACTOR,
            details={"model": name, "from": old, "to": new},
        )

    def _publish_models(self) -> None:
        self.metrics.set_serving(
            {m.name: m.version for m in self.models.serving()}, self.models.count_loaded()
        )

    # Records ----------------------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        *,
        target: str | None = None,
        username: str | None = None,
        success: bool = True,
        client_ip: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        from serving.logs import REQUEST_ID

        self.records.add(
            "audit_logs",
            {
                "request_id": request_id or REQUEST_ID.get(),
                "username": username,
                "action": action,
                "target": target,
                "success": success,
                "client_ip": client_ip,
                "details": details,
            },
        )

    # Health -----------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Ready: feature data loaded and at least one game model answering."""
        return self.data is not None and bool(self.models.serving(GAME))

    def health(self, detailed: bool = True) -> dict[str, Any]:
        """Liveness, readiness and every check; ``detailed=False`` leaves out error texts (the
        route gives them to authenticated callers only)."""
        if self.cache.backend == "redis":
            self.cache.ping()
        cache = self.cache.status()
        database = self.records.check()
        data: dict[str, Any] = {"ok": self.data is not None}
        if self.data is not None:
            last = self.data.state.last_game_date
            last_day = last.date() if last is not None else None
            data.update(
                version=self.data.version,
                last_game_date=last_day.isoformat() if last_day is not None else None,
                **data_age(
                    last_day, self.last_ingest, utc_today(), self.settings.stale_ingest_days
                ),
                **self.data.counts,
            )
        if self.data_error:
            data["error"] = self.data_error
        models = self.models.status()
        ready = self.ready
        degraded = (
            not database["ok"]
            or not cache["ok"]
            or any("error" in m for m in models.values())
            or self.models.registry_error is not None
        )
        doc = {
            "status": "unavailable" if not ready else ("degraded" if degraded else "ok"),
            "live": True,
            "ready": ready,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "environment": self.settings.environment,
            "checks": {
                "database": database,
                "cache": cache,
                "rate_limits": self.limits.status(),
                "registry": {
                    "ok": self.models.registry_error is None,
                    **({"error": self.models.registry_error} if self.models.registry_error else {}),
                    "last_refresh": self.models.last_refresh,
                    "local_copies": sorted(
                        name for name, m in models.items() if m.get("source") == LOCAL_COPY
                    ),
                },
                "data": data,
                "models": models,
            },
        }
        doc["reasons"] = health_reasons(doc["checks"], ready)
        return doc if detailed else _without_errors(doc)
