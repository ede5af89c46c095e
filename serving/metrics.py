"""Prometheus metrics of the prediction service, in a registry of its own (``/api/metrics``)."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from serving.runtime import Runtime

# Under ``bentoml serve`` (PROMETHEUS_MULTIPROC_DIR set) prometheus_client warns that clearing
# label sets is not carried into the multi-process files. This registry is rendered by its own
# process (``render``), never aggregated from those files, so the clear is complete here.
warnings.filterwarnings(
    "ignore",
    message="Clearing labels has not been implemented in multi-process mode",
    category=UserWarning,
    module="prometheus_client",
)

LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class ServiceMetrics:
    """Every metric the service exports; one instance per service process."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: one line per counter
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        r = self.registry
        self.predictions = Counter(
            "nba_predictions",
            "Predictions served, by model, version and endpoint.",
            ["model", "version", "endpoint"],
            registry=r,
        )
        self.latency = Histogram(
            "nba_request_latency_seconds",
            "Time to answer an /api request, by endpoint and status class.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "nba_cache_hits", "Prediction cache hits.", ["endpoint"], registry=r
        )
        self.cache_misses = Counter(
            "nba_cache_misses", "Prediction cache misses.", ["endpoint"], registry=r
        )
        self.cache_errors = Counter(
            "nba_cache_errors", "Cache calls that failed (answer served uncached).", registry=r
        )
        self.errors = Counter(
            "nba_errors",
            "Answers with a 4xx or 5xx status, by endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.auth_failures = Counter(
            "nba_auth_failures",
            "Rejected credentials or tokens, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "nba_rate_limited", "Requests answered 429, by limit.", ["limit"], registry=r
        )
        self.models_loaded = Gauge(
            "nba_models_loaded", "Model versions held in memory.", registry=r
        )
        self.model_serving = Gauge(
            "nba_model_serving",
            "1 for the version each model name is answering with.",
            ["model", "version"],
            registry=r,
        )
        self.model_load_failures = Counter(
            "nba_model_load_failures", "Versions that failed to load.", ["model"], registry=r
        )
        self.records_written = Counter(
            "nba_records_written", "Rows written to the database, by table.", ["table"], registry=r
        )
        self.records_pending = Gauge(
            "nba_records_pending", "Rows waiting to be written to the database.", registry=r
        )
        self.records_dropped = Counter(
            "nba_records_dropped", "Rows given up (buffer and spool full).", registry=r
        )
        self.db_errors = Counter(
            "nba_database_errors", "Failed writes to the database (rows kept).", registry=r
        )
        self.uptime = Gauge("nba_uptime_seconds", "Seconds since the service started.", registry=r)
        self.uptime.set_function(lambda: time.time() - self.started)

    def watch(self, runtime: Runtime) -> None:
        """Export the runtime's live state, read at each scrape (see :class:`LiveState`)."""
        self.registry.register(LiveState(runtime))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_serving(self, serving: dict[str, str], loaded: int) -> None:
        """Publish which version each model answers with and how many versions are loaded."""
        self.model_serving.clear()
        for name, version in serving.items():
            self.model_serving.labels(model=name, version=version).set(1)
        self.models_loaded.set(loaded)


def pool_usage(pool: Any) -> tuple[int, float] | None:
    """(connections checked out, most connections it may open) of a SQLAlchemy queue pool;
    None for pools without a bound (NullPool, StaticPool, SingletonThreadPool)."""
    checkedout = getattr(pool, "checkedout", None)
    size = getattr(pool, "size", None)
    if not callable(checkedout) or not callable(size):
        return None
    overflow = getattr(pool, "_max_overflow", 0)  # SQLAlchemy keeps it private; -1: no bound
    capacity = math.inf if overflow < 0 else float(size() + overflow)
    return int(checkedout()), capacity


class LiveState:
    """A collector of what the alert rules watch, read from the runtime at scrape time.

    - ``nba_ready``: 1 when ``/api/health`` answers 200 (store loaded, a game model answering).
    - ``nba_backend_up{component,backend}``: 1 while the cache or the rate-limit storage answers
      (the in-process backend is always up; a Redis outage shows as 0 until it answers again).
    - ``nba_database_pool_checked_out`` and ``nba_database_pool_capacity``: connections in use
      and the pool's bound (``pool_size + max_overflow``); equal means the pool is exhausted.
    - ``nba_model_load_failing{model}``: 1 while a model name's champion failed to load (the
      previous version, if any, keeps answering), 0 once a version of it loads.
    - ``nba_store_last_ingest_timestamp_seconds``: when the store's last successful ingest
      finished (Unix time, read at each poll of the store; 0 when none is recorded).
    """

    NAMES = (
        ("nba_ready", "1 when the service is ready (store loaded, a game model answering)."),
        ("nba_backend_up", "1 while the backend of a component answers (cache, rate limits)."),
        ("nba_database_pool_checked_out", "Database connections checked out of the pool."),
        ("nba_database_pool_capacity", "Most connections the pool opens (size + overflow)."),
        ("nba_model_load_failing", "1 while the champion of a model name failed to load."),
        (
            "nba_store_last_ingest_timestamp_seconds",
            "When the store's last successful ingest finished (Unix time; 0: none recorded).",
        ),
    )

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for name, doc in self.NAMES:
            yield GaugeMetricFamily(name, doc)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rt = self.runtime
        docs = dict(self.NAMES)
        yield GaugeMetricFamily("nba_ready", docs["nba_ready"], value=float(rt.ready))
        up = GaugeMetricFamily(
            "nba_backend_up", docs["nba_backend_up"], labels=["component", "backend"]
        )
        for component, status in (
            ("cache", rt.cache.status()),
            ("rate_limits", rt.limits.status()),
        ):
            up.add_metric([component, status["backend"]], float(bool(status["ok"])))
        yield up
        try:
            usage = pool_usage(rt.engine().pool)
        except Exception:  # no engine (a bad URL): health reports the database
            usage = None
        if usage is not None:
            checked_out, capacity = usage
            yield GaugeMetricFamily(
                "nba_database_pool_checked_out",
                docs["nba_database_pool_checked_out"],
                value=checked_out,
            )
            yield GaugeMetricFamily(
                "nba_database_pool_capacity", docs["nba_database_pool_capacity"], value=capacity
            )
        failing = GaugeMetricFamily(
            "nba_model_load_failing", docs["nba_model_load_failing"], labels=["model"]
        )
        for name, doc in rt.models.status().items():
            failing.add_metric([name], float("error" in doc))
        yield failing
        finished = rt.last_ingest
        yield GaugeMetricFamily(
            "nba_store_last_ingest_timestamp_seconds",
            docs["nba_store_last_ingest_timestamp_seconds"],
            value=finished.timestamp() if finished is not None else 0.0,
        )
