"""The BentoML service: the prediction API of the platform.

``bentoml serve serving.service:PredictionService`` (or ``nba-mlops serve``) runs it. The
settings are read from the environment (``NBA_*``) when the service starts, never at import.
POST prediction routes are BentoML APIs; the GET / DELETE routes and the login are a FastAPI app
mounted at ``/api`` (``serving.routes``); the web page is mounted at ``/ui`` (``serving.ui``).
The middleware (``serving.middleware``) adds request IDs, access logs, metrics, CORS, rate
limits and authentication (on ``/api``) to all of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import bentoml
from starlette.responses import JSONResponse

from serving import predict as work
from serving import routes, ui
from serving.logs import REQUEST_ID, USERNAME
from serving.middleware import CorsMiddleware, GuardMiddleware, RequestContextMiddleware
from serving.predict import BadRequest, Call, game_dates
from serving.schemas import (
    BatchPrediction,
    BatchRequest,
    ComparePrediction,
    CompareRequest,
    FeaturePrediction,
    FeatureRequest,
    GamePrediction,
    PlayerPrediction,
    PlayerRequest,
    SimpleRequest,
)

SERVICE_NAME = "nba-predictions"


def _answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """A JSON answer; a 503 (no model or store to answer with yet) says when to ask again."""
    headers = {"Retry-After": "30"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


@bentoml.asgi_app(routes.app, path="/api")
@bentoml.asgi_app(ui.app, path="/ui")
@bentoml.service(
    name=SERVICE_NAME,
    workers=1,
    traffic={"timeout": 60, "max_concurrency": 256},
    # The service's own access log and /api/metrics replace BentoML's.
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
    # No span per /api request: no exporter is set up and request IDs correlate the logs; this
    # saves ~0.2 ms a request. Remove to trace with BentoML's OpenTelemetry settings.
    tracing={"excluded_urls": ["/api/"]},
)
class PredictionService:
    """NBA game and player-points predictions from the registered champion models."""

    @bentoml.on_deployment
    def check_settings() -> None:
        """Run once by ``bentoml serve`` before any worker starts. A setting no worker could
        start with (an invalid ``NBA_*`` value, production without a JWT secret) stops the
        server at once with its reason and exit code 2; BentoML would otherwise restart the
        failing worker for ever, a traceback each time."""
        from core.settings import load_settings
        from serving.auth import resolve_secret

        try:
            settings = load_settings()
            resolve_secret(settings.environment, settings.jwt_secret)
        except ValueError as exc:
            sys.stderr.write(f"error: {exc}\n")
            raise SystemExit(2) from None

    def __init__(self) -> None:
        from core.settings import Settings
        from serving.runtime import Runtime

        self.runtime = Runtime(Settings()).start()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.runtime.stop()

    def __is_ready__(self) -> bool:
        return self.runtime.ready

    async def _run(
        self,
        endpoint: str,
        handler: Callable[..., dict[str, Any]],
        request: Any,
        in_thread: bool,
    ) -> JSONResponse:
        call = Call(endpoint, REQUEST_ID.get(), USERNAME.get())
        try:
            if in_thread:
                body = await anyio.to_thread.run_sync(handler, self.runtime, request, call)
            else:
                body = handler(self.runtime, request, call)
        except BadRequest as exc:
            return _answer(exc.body(), exc.status)
        return _answer(body)

    def _tables_ready(self, request: Any) -> bool:
        data = self.runtime.data
        return data is not None and all(data.state.has_table(d) for d in game_dates(request))

    @bentoml.api(route="/api/predict")
    async def predict(self, request: FeatureRequest, /) -> FeaturePrediction:  # type: ignore[valid-type]
        """A game from an explicit feature vector (every game feature, named as in training)."""
        return await self._run("predict", work.predict_features, request, in_thread=False)

    @bentoml.api(route="/api/predict/simple")
    async def predict_simple(self, request: SimpleRequest, /) -> GamePrediction:
        """A game from two team abbreviations and a date: features from the stored games."""
        ready = self._tables_ready(request)
        return await self._run("simple", work.predict_simple, request, in_thread=not ready)

    @bentoml.api(route="/api/predict/player")
    async def predict_player(self, request: PlayerRequest, /) -> PlayerPrediction:
        """A player's points against an opponent, with an interval from the model's error on
        its evaluation season."""
        return await self._run("player", work.predict_player, request, in_thread=True)

    @bentoml.api(route="/api/predict/compare")
    async def predict_compare(self, request: CompareRequest, /) -> ComparePrediction:
        """Every game model's champion, side by side, for one matchup."""
        ready = self._tables_ready(request)
        return await self._run("compare", work.predict_compare, request, in_thread=not ready)

    @bentoml.api(route="/api/predict/batch")
    async def predict_batch(self, request: BatchRequest, /) -> BatchPrediction:
        """Many games in one call (at most ``NBA_BATCH_LIMIT``)."""
        ready = len(request.games) <= 16 and self._tables_ready(request)
        return await self._run("batch", work.predict_batch, request, in_thread=not ready)


# Registered first = outermost: request IDs and logs see every answer, including 401 and 429.
PredictionService.add_asgi_middleware(RequestContextMiddleware)
PredictionService.add_asgi_middleware(CorsMiddleware)
PredictionService.add_asgi_middleware(GuardMiddleware)
