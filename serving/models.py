"""The models in memory: each registered model's champion, swapped in when the alias moves.

``ModelHolder.refresh`` (run by the service's poller) reads the registry; when a ``champion``
alias points to a version not yet served, that version is loaded and checked *beside* the one
serving, then swapped in with one assignment: requests in flight keep the object they hold, so
none fails during the switch. If the new version fails to load or to predict, the old one keeps
serving and ``health`` says why.

``FastPredictor`` runs a fitted training pipeline (``ColumnTransformer`` selecting named columns,
then the model) on a numpy row: the same fitted steps, without the per-call DataFrame handling
(~6 ms -> ~0.3 ms per row). It is checked against the full pipeline when a version is loaded.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

CHAMPION = "champion"
# 80% interval for points from the evaluation season's RMSE, residuals taken as normal.
INTERVAL_LEVEL = 0.8
INTERVAL_Z = 1.2815515655446004
# A fast path differing from the full pipeline by more than this is not used.
FAST_PATH_TOLERANCE = 1e-9

warnings.filterwarnings("ignore", message="X does not have valid feature names")


class ModelError(LookupError):
    """A model or version that cannot answer (unknown, not loaded, wrong task)."""

    def __init__(self, message: str, status: int = 400, field: str = "model") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def _single_threaded(estimator: Any) -> None:
    """Predict on one core: forests fitted with n_jobs=2 would start a thread pool per row."""
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if obj is None or id(obj) in seen:
            return
        seen.add(id(obj))
        if hasattr(obj, "n_jobs") and hasattr(obj, "get_params"):
            obj.n_jobs = 1
        for attr in ("steps", "transformers_"):
            for item in getattr(obj, attr, None) or []:
                walk(item[1])
        for attr in ("estimator", "calibrated_classifiers_", "estimators_"):
            value = getattr(obj, attr, None)
            if isinstance(value, list | tuple):
                for item in value:
                    walk(item)
            elif value is not None and not isinstance(value, str | np.ndarray):
                walk(value)

    walk(estimator)


class FastPredictor:
    """Predict with a fitted pipeline from numpy rows whose columns are ``self.columns``."""

    def __init__(self, model: Any, task: str, feature_names: Sequence[str] | None = None) -> None:
        self.model = model
        self.task = task
        self.columns, self._steps = self._split(model, feature_names)
        self.fast = self._steps is not None

    @staticmethod
    def _split(model: Any, feature_names: Sequence[str] | None):
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        fitted = getattr(model, "feature_names_in_", None)
        names = list(fitted) if fitted is not None else list(feature_names or [])
        if not isinstance(model, Pipeline) or len(model.steps) < 2:
            return names, None
        select = model.steps[0][1]
        if not isinstance(select, ColumnTransformer):
            return names, None
        active = [t for t in select.transformers_ if t[0] != "remainder"]
        remainder = [t for t in select.transformers_ if t[0] == "remainder"]
        if len(active) != 1 or any(t[1] != "drop" for t in remainder):
            return names, None
        _, transformer, columns = active[0]
        if not all(isinstance(c, str) for c in columns) or transformer in ("drop", "passthrough"):
            return names, None
        if getattr(select, "_sklearn_output_config", {}).get("transform") == "pandas":
            return names, None
        return list(columns), [transformer, *(step for _, step in model.steps[1:])]

    def _frame(self, rows: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=self.columns)

    def predict_full(self, rows: np.ndarray) -> np.ndarray:
        """The pipeline itself on a DataFrame (the reference)."""
        frame = self._frame(rows)
        if self.task == "game":
            return self.model.predict_proba(frame)[:, 1]
        return self.model.predict(frame)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """P(home win) (games) or points, one value per row of ``rows``."""
        if self._steps is None:
            return self.predict_full(rows)
        x = rows
        for step in self._steps[:-1]:
            x = step.transform(x)
        final = self._steps[-1]
        if self.task == "game":
            return final.predict_proba(x)[:, 1]
        return final.predict(x)

    def verify(self, rows: np.ndarray) -> float:
        """Largest difference between the fast path and the pipeline on ``rows``; the fast path
        is switched off when it is above ``FAST_PATH_TOLERANCE``."""
        if self._steps is None or len(rows) == 0:
            return 0.0
        diff = float(np.max(np.abs(self.predict(rows) - self.predict_full(rows))))
        if not diff <= FAST_PATH_TOLERANCE:
            log.warning(
                "fast path differs from the pipeline; using the pipeline", extra={"diff": diff}
            )
            self._steps = None
            self.fast = False
        return diff


@dataclass
class LoadedModel:
    """One model version in memory."""

    name: str
    version: str
    task: str
    predictor: FastPredictor
    metrics: dict[str, float]
    eval_season: str | None
    train_seasons: list[str]
    loaded_at: datetime
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    created_at: datetime | None = None
    input_index: np.ndarray | None = None  # positions of ``columns`` in the feature rows

    @property
    def columns(self) -> list[str]:
        return self.predictor.columns

    def interval(self) -> dict[str, Any] | None:
        """Half-width of the points interval, from the evaluation season's error."""
        rmse = self.metrics.get("rmse")
        basis = "rmse"
        if rmse is None and self.metrics.get("mae") is not None:
            rmse, basis = self.metrics["mae"] * float(np.sqrt(np.pi / 2)), "mae"
        if rmse is None:
            return None
        return {
            "half_width": INTERVAL_Z * rmse,
            "level": INTERVAL_LEVEL,
            "basis": f"{basis} {self.metrics.get(basis, rmse):.3f} on {self.eval_season}",
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "eval_season": self.eval_season,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "fast_path": self.predictor.fast,
        }


@dataclass
class ModelSlot:
    """A model name: the version answering, every version loaded, the last load problem."""

    name: str
    serving: LoadedModel | None = None
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    champion: str | None = None
    error: str | None = None
    failed_version: str | None = None


Loader = Callable[[str, str], tuple[Any, Any]]  # (name, version) -> (model, ModelVersionInfo)
Checker = Callable[[LoadedModel], None]  # raises when a loaded version cannot answer


class ModelHolder:
    """Every served model, by name."""

    def __init__(
        self,
        tracking_uri: str,
        checker: Checker | None = None,
        on_promotion: Callable[[str, str | None, str], None] | None = None,
        on_failure: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.slots: dict[str, ModelSlot] = {}
        self._checker = checker
        self._on_promotion = on_promotion or (lambda name, old, new: None)
        self._on_failure = on_failure or (lambda name, version, error: None)
        self._lock = threading.RLock()
        self.last_refresh: float | None = None
        self.registry_error: str | None = None

    # Loading --------------------------------------------------------------------------------------
    def _load(self, name: str, version: str) -> LoadedModel:
        from registry import load_model

        model, info = load_model(self.tracking_uri, name, version)
        task = info.task or ("game" if hasattr(model, "predict_proba") else "points")
        _single_threaded(model)
        predictor = FastPredictor(model, task, info.feature_names or None)
        loaded = LoadedModel(
            name=name,
            version=str(info.version),
            task=task,
            predictor=predictor,
            metrics=info.summary_metrics(),
            eval_season=info.eval_season,
            train_seasons=info.train_seasons,
            loaded_at=datetime.now(UTC),
            aliases=tuple(info.aliases),
            run_id=info.run_id,
            created_at=info.created_at,
        )
        if self._checker is not None:
            self._checker(loaded)
        return loaded

    def load(self, name: str, version: str) -> LoadedModel:
        """Load ``version`` of ``name`` (kept beside the others); it answers for ``name`` right
        away when it is the champion. Raises what the registry or the check raised."""
        from registry import RegistryError, get_champion

        version = str(version)
        slot = self.slots.get(name)
        if slot is not None and version in slot.loaded:
            loaded = slot.loaded[version]
        else:
            try:
                loaded = self._load(name, version)
            except RegistryError as exc:
                raise ModelError(str(exc), status=404) from exc
        champion = get_champion(self.tracking_uri, name)
        with self._lock:
            slot = self.slots.setdefault(name, ModelSlot(name))
            slot.loaded[version] = loaded
            slot.champion = champion.version if champion else slot.champion
            if slot.serving is None or (champion is not None and champion.version == version):
                self._swap(slot, loaded)
        return loaded

    def unload(self, name: str, version: str) -> None:
        with self._lock:
            slot = self.slots.get(name)
            if slot is None or str(version) not in slot.loaded:
                raise ModelError(f"{name} v{version} is not loaded", status=404)
            if slot.serving is not None and slot.serving.version == str(version):
                raise ModelError(
                    f"{name} v{version} is answering for {name}: load or promote another "
                    "version first",
                    status=409,
                )
            del slot.loaded[str(version)]

    def _swap(self, slot: ModelSlot, loaded: LoadedModel) -> None:
        old = slot.serving.version if slot.serving is not None else None
        slot.serving = loaded  # one reference assignment: in-flight requests keep theirs
        if slot.failed_version == loaded.version or slot.failed_version is None:
            slot.error = None
            slot.failed_version = None
        if old != loaded.version:
            log.info(
                "model now answering",
                extra={"model": slot.name, "version": loaded.version, "previous": old},
            )
            self._on_promotion(slot.name, old, loaded.version)

    def refresh(self) -> None:
        """Follow every registered model's ``champion`` alias (the poller calls this)."""
        from registry import list_registered

        try:
            registered = list_registered(self.tracking_uri)
        except Exception as exc:
            self.registry_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.warning("registry unreachable; models kept", extra={"error": self.registry_error})
            return
        self.registry_error = None
        for model in registered:
            name, champion = model["name"], model.get("champion")
            with self._lock:
                slot = self.slots.setdefault(name, ModelSlot(name))
                slot.champion = champion
            if champion is None:
                continue
            if slot.serving is not None and slot.serving.version == champion:
                continue
            if slot.failed_version == champion:
                continue  # already tried; health says why (a new alias move retries)
            self._try_load(slot, champion)
        self.last_refresh = time.time()

    def _try_load(self, slot: ModelSlot, version: str) -> None:
        try:
            loaded = slot.loaded.get(version) or self._load(slot.name, version)
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            serving = (
                f"v{slot.serving.version} keeps answering"
                if slot.serving
                else "nothing to answer with"
            )
            slot.error = f"champion v{version} failed to load ({error}); {serving}"
            slot.failed_version = version
            log.error(
                "model version failed to load",
                extra={"model": slot.name, "version": version, "error": error},
            )
            self._on_failure(slot.name, version, error)
            return
        with self._lock:
            slot.loaded[version] = loaded
            self._swap(slot, loaded)

    # Reading --------------------------------------------------------------------------------------
    def get(self, name: str, version: str | None = None, task: str | None = None) -> LoadedModel:
        """The version answering for ``name`` (or a loaded ``version``); ModelError otherwise."""
        slot = self.slots.get(name)
        if slot is None:
            known = ", ".join(sorted(self.slots)) or "none"
            raise ModelError(f"unknown model {name!r} (served models: {known})")
        if version is not None:
            loaded = slot.loaded.get(str(version))
            if loaded is None:
                raise ModelError(
                    f"{name} v{version} is not loaded (POST /api/models/{name}/{version}/load)",
                    field="model_version",
                )
        else:
            loaded = slot.serving
            if loaded is None:
                why = slot.error or "it has no champion"
                raise ModelError(f"model {name!r} is not available: {why}", status=503)
        if task is not None and loaded.task != task:
            raise ModelError(f"model {name!r} predicts {loaded.task}, not {task}")
        return loaded

    def serving(self, task: str | None = None) -> list[LoadedModel]:
        """The versions answering, by model name (optionally one task only)."""
        return [
            slot.serving
            for _, slot in sorted(self.slots.items())
            if slot.serving is not None and (task is None or slot.serving.task == task)
        ]

    def count_loaded(self) -> int:
        return sum(len(slot.loaded) for slot in self.slots.values())

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for name, slot in sorted(self.slots.items()):
            doc[name] = {
                "serving": slot.serving.version if slot.serving else None,
                "champion": slot.champion,
                "loaded": sorted(slot.loaded, key=int),
                "task": slot.serving.task if slot.serving else None,
            }
            if slot.error:
                doc[name]["error"] = slot.error
        return doc
