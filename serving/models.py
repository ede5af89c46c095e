"""The models in memory: each registered model's champion, swapped in when the alias moves.

``ModelHolder.refresh`` (run by the service's poller) reads the registry; when a ``champion``
alias points to a version not yet served, that version is loaded and checked *beside* the one
serving, then swapped in with one assignment: requests in flight keep the object they hold, so
none fails during the switch. If the new version fails to load or to predict, the old one keeps
serving and ``health`` says why.

``LocalCopies`` keeps the files of every version loaded (``<state_dir>/served-models/``): when
the registry cannot be reached, the service serves the versions it last answered with from
there, and follows the aliases again once the registry is back.

``FastPredictor`` runs a fitted training pipeline (``ColumnTransformer`` selecting named columns,
then the model) on a numpy row: the same fitted steps, without the per-call DataFrame handling
(~6 ms -> ~0.3 ms per row). It is checked against the full pipeline when a version is loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.settings import GAME_MODEL_NAMES, POINTS_MODEL_NAMES
from evaluation.intervals import PointsInterval

log = logging.getLogger(__name__)
MODEL_NAMES = (*GAME_MODEL_NAMES, *POINTS_MODEL_NAMES)

CHAMPION = "champion"
# 80% interval for points from the evaluation season's RMSE, residuals taken as normal.
INTERVAL_LEVEL = 0.8
INTERVAL_Z = 1.2815515655446004
# A fast path differing from the full pipeline by more than this is not used.
FAST_PATH_TOLERANCE = 1e-9
REGISTRY = "registry"
LOCAL_COPY = "local copy"

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


def _for_arrays(transformer: Any) -> Any:
    """A copy of a fitted transformer (or pipeline of them) fed numpy rows in the fitted column
    order: without its recorded column names, so scikit-learn does not warn, on every request,
    that the rows have none (``FastPredictor.verify`` checks the answers are the pipeline's)."""
    import copy

    transformer = copy.deepcopy(transformer)
    for step in [transformer, *(s for _, s in getattr(transformer, "steps", []))]:
        vars(step).pop("feature_names_in_", None)  # a Pipeline's is its first step's
    return transformer


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
        return list(columns), [_for_arrays(transformer), *(step for _, step in model.steps[1:])]

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
    source: str = REGISTRY  # or LOCAL_COPY: read from the files kept when the registry was down
    points_interval: PointsInterval | None = None

    @property
    def columns(self) -> list[str]:
        return self.predictor.columns

    def interval(self, points: float) -> dict[str, Any] | None:
        """The interval of a points prediction: the version's residual quantiles for
        predictions of this size (``evaluation.intervals``); for a version registered without
        them, the prediction plus or minus z x its evaluation season's RMSE. None without
        either."""
        if self.points_interval is not None:
            return self.points_interval.answer(points, self.eval_season)
        rmse = self.metrics.get("rmse")
        basis = "rmse"
        if rmse is None and self.metrics.get("mae") is not None:
            rmse, basis = self.metrics["mae"] * float(np.sqrt(np.pi / 2)), "mae"
        if rmse is None:
            return None
        return {
            "low": max(0.0, points - INTERVAL_Z * rmse),
            "high": points + INTERVAL_Z * rmse,
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


def error_text(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters), for health and logs."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically (a temp file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
COPY_META = "version.json"
SERVING_FILE = "serving.json"
STALE_SECONDS = 3600  # an unfinished download older than this is left over from a crash


class LocalCopies:
    """The files of loaded versions, ``root/<name>/<version>/`` (``model/`` and ``version.json``:
    name, version, run ID, task, metrics, seasons, features), and the version answering for each
    name (``root/<name>/serving.json``). Every file appears complete or not at all: a version is
    downloaded into a hidden folder and renamed into place once it loaded and passed its check.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, name: str) -> Path:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"model name {name!r} cannot be a folder name")
        return self.root / name

    def staging(self, name: str) -> Path:
        """A fresh hidden folder to download a version of ``name`` into (its ``model/``)."""
        folder = self._dir(name) / f".incoming-{uuid.uuid4().hex}"
        (folder / "model").mkdir(parents=True)
        return folder

    def keep(self, staging: Path, meta: dict[str, Any]) -> Path:
        """Move a downloaded, checked version into place (versions never change: a complete
        copy already there is kept)."""
        _write_json(staging / COPY_META, meta)
        target = self._dir(meta["name"]) / str(meta["version"])
        if (target / COPY_META).exists():
            shutil.rmtree(staging, ignore_errors=True)
            return target
        shutil.rmtree(target, ignore_errors=True)  # a folder without version.json: incomplete
        try:
            os.replace(staging, target)
        except OSError:  # another worker put the same version in place meanwhile
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def mark_serving(self, name: str, version: str) -> None:
        _write_json(
            self._dir(name) / SERVING_FILE,
            {"version": version, "since": datetime.now(UTC).isoformat(timespec="seconds")},
        )

    def serving(self) -> dict[str, str]:
        """``{name: version}`` of every name whose answering version has a complete copy."""
        found: dict[str, str] = {}
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.iterdir()):
            marker = folder / SERVING_FILE
            try:
                version = str(json.loads(marker.read_text())["version"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if (folder / version / COPY_META).exists():
                found[folder.name] = version
        return found

    def read(self, name: str, version: str) -> tuple[dict[str, Any], Path]:
        """(the version's metadata, its model folder)."""
        folder = self._dir(name) / str(version)
        return json.loads((folder / COPY_META).read_text()), folder / "model"

    def prune(self, name: str, keep: set[str]) -> None:
        """Remove the copies of ``name`` not in ``keep`` and downloads left by a crash."""
        folder = self._dir(name)
        if not folder.is_dir():
            return
        now = time.time()
        for child in folder.iterdir():
            if not child.is_dir():
                continue
            stale = child.name.startswith(".incoming-") and now - child.stat().st_mtime > (
                STALE_SECONDS
            )
            if stale or (not child.name.startswith(".") and child.name not in keep):
                shutil.rmtree(child, ignore_errors=True)


def _meta(info: Any, task: str) -> dict[str, Any]:
    """What a local copy keeps of a registered version (all the service shows of it)."""
    return {
        "name": info.name,
        "version": str(info.version),
        "run_id": info.run_id,
        "task": task,
        "metrics": info.summary_metrics(),
        "eval_season": info.eval_season,
        "points_interval": info.points_interval,
        "train_seasons": list(info.train_seasons),
        "features": list(info.feature_names),
        "aliases": list(info.aliases),
        "created_at": info.created_at.isoformat() if info.created_at else None,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _points_interval(meta: dict[str, Any]) -> PointsInterval | None:
    """The version's points interval; None (and a warning) when it has none or it is
    unreadable: the version then serves the RMSE interval."""
    raw = meta.get("points_interval")
    if not raw:
        return None
    try:
        return PointsInterval.from_json(raw)
    except ValueError as exc:
        log.warning(
            "points interval unreadable; the RMSE interval is served",
            extra={"model": meta.get("name"), "version": meta.get("version"), "error": str(exc)},
        )
        return None


@dataclass
class ModelSlot:
    """A model name: the version answering, every version loaded, the last load problem."""

    name: str
    serving: LoadedModel | None = None
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    champion: str | None = None
    error: str | None = None
    failed_version: str | None = None
    failed_copy: str | None = None  # the version whose local copy did not load (not retried)
    registered: tuple[str, ...] | None = None  # its versions at the last registry read


def _not_loaded(slot: ModelSlot, version: str) -> str:
    """Why ``version`` of ``slot`` cannot answer, and what to do: load it when it is
    registered; otherwise the versions that are."""
    name = slot.name
    if slot.registered is None:  # the registry has not been read
        return f"{name} v{version} is not loaded; GET /api/models lists the registered versions"
    if version in slot.registered:
        return f"{name} v{version} is not loaded (POST /api/models/{name}/{version}/load)"
    known = ", ".join(sorted(slot.registered, key=int)) or "none"
    return f"{name} has no version {version} (its versions: {known}; GET /api/models lists them)"


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
        copies: LocalCopies | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.copies = copies
        self.slots: dict[str, ModelSlot] = {}
        self._checker = checker
        self._on_promotion = on_promotion or (lambda name, old, new: None)
        self._on_failure = on_failure or (lambda name, version, error: None)
        self._lock = threading.RLock()
        self.last_refresh: float | None = None
        self.registry_error: str | None = None

    # Loading --------------------------------------------------------------------------------------
    def _load(self, name: str, version: str) -> LoadedModel:
        """Load ``version`` from the registry and check it; its files are kept as a local copy."""
        from registry import load_model

        staging = None
        if self.copies is not None:
            try:
                staging = self.copies.staging(name)
            except (OSError, ValueError) as exc:
                log.warning("no local copy kept", extra={"model": name, "error": error_text(exc)})
        try:
            target = staging / "model" if staging is not None else None
            model, info = load_model(self.tracking_uri, name, version, dst_path=target)
            task = info.task or ("game" if hasattr(model, "predict_proba") else "points")
            meta = _meta(info, task)
            loaded = self._assemble(model, meta, REGISTRY)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        if staging is not None:
            try:
                self.copies.keep(staging, meta)
            except OSError as exc:  # a full disk must not stop a good version from serving
                shutil.rmtree(staging, ignore_errors=True)
                log.warning("no local copy kept", extra={"model": name, "error": error_text(exc)})
        return loaded

    def _assemble(self, model: Any, meta: dict[str, Any], source: str) -> LoadedModel:
        """A checked :class:`LoadedModel` from a model object and its metadata."""
        _single_threaded(model)
        created = meta.get("created_at")
        loaded = LoadedModel(
            name=meta["name"],
            version=str(meta["version"]),
            task=meta["task"],
            predictor=FastPredictor(model, meta["task"], meta.get("features") or None),
            metrics=dict(meta.get("metrics") or {}),
            eval_season=meta.get("eval_season"),
            train_seasons=list(meta.get("train_seasons") or []),
            loaded_at=datetime.now(UTC),
            aliases=tuple(meta.get("aliases") or ()),
            run_id=meta.get("run_id"),
            created_at=datetime.fromisoformat(created) if isinstance(created, str) else created,
            source=source,
            points_interval=_points_interval(meta),
        )
        if self._checker is not None:
            self._checker(loaded)
        return loaded

    def _load_copy(self, name: str, version: str) -> LoadedModel:
        from registry import load_local_model

        meta, folder = self.copies.read(name, version)
        if meta.get("name") != name or str(meta.get("version")) != version:
            raise ValueError(f"the local copy of {name} v{version} describes another version")
        return self._assemble(load_local_model(folder), meta, LOCAL_COPY)

    def restore_copies(self) -> None:
        """Serve the local copy of each name's last answering version, for the names nothing
        answers for (the registry could not be read)."""
        if self.copies is None:
            return
        for name, version in self.copies.serving().items():
            slot = self.slots.get(name)
            if slot is not None and (slot.serving is not None or slot.failed_copy == version):
                continue
            try:
                loaded = self._load_copy(name, version)
            except Exception as exc:
                error = error_text(exc)
                with self._lock:
                    slot = self.slots.setdefault(name, ModelSlot(name))
                    slot.error = f"the local copy of v{version} failed to load ({error})"
                    slot.failed_copy = version
                log.error(
                    "local model copy failed to load",
                    extra={"model": name, "version": version, "error": error},
                )
                self._on_failure(name, version, error)
                continue
            with self._lock:
                slot = self.slots.setdefault(name, ModelSlot(name))
                slot.loaded[version] = loaded
                self._swap(slot, loaded)
            log.warning(
                "registry unreachable: serving the local copy",
                extra={"model": name, "version": version},
            )

    def load(self, name: str, version: str) -> LoadedModel:
        """Load ``version`` of ``name`` (kept beside the others); it answers for ``name`` right
        away when it is the champion. Raises what the registry or the check raised."""
        from registry import RegistryError, RegistryUnavailable, get_champion

        version = str(version)
        slot = self.slots.get(name)
        try:
            if slot is not None and version in slot.loaded:
                loaded = slot.loaded[version]
            else:
                loaded = self._load(name, version)
            champion = get_champion(self.tracking_uri, name)
        except RegistryError as exc:
            raise ModelError(str(exc), status=404) from exc
        except RegistryUnavailable as exc:
            raise ModelError(str(exc), status=503) from exc
        with self._lock:
            slot = self.slots.setdefault(name, ModelSlot(name))
            slot.loaded[version] = loaded
            slot.champion = champion.version if champion else slot.champion
            if slot.registered is not None and version not in slot.registered:
                slot.registered = (*slot.registered, version)  # registered since the last read
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
        if slot.failed_version in (None, loaded.version) or loaded.version == slot.champion:
            slot.error = None
            slot.failed_version = None
        if self.copies is not None and loaded.source == REGISTRY:
            try:
                self.copies.mark_serving(slot.name, loaded.version)
                self.copies.prune(slot.name, set(slot.loaded))
            except (OSError, ValueError) as exc:
                log.warning(
                    "local copy not updated", extra={"model": slot.name, "error": error_text(exc)}
                )
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
            self.registry_error = error_text(exc)
            log.warning("registry unreachable; models kept", extra={"error": self.registry_error})
            self.restore_copies()
            return
        self.registry_error = None
        for model in registered:
            name, champion = model["name"], model.get("champion")
            with self._lock:
                slot = self.slots.setdefault(name, ModelSlot(name))
                slot.champion = champion
                slot.registered = tuple(str(v["version"]) for v in model.get("versions", ()))
            if champion is None:
                if slot.serving is not None:  # the alias was removed, or its version deleted
                    slot.error = f"no champion alias; v{slot.serving.version} keeps answering"
                    slot.failed_version = None
                continue
            if slot.serving is not None and slot.serving.version == champion:
                slot.error, slot.failed_version = None, None
                continue
            if slot.failed_version == champion:
                continue  # already tried; health says why (a new alias move retries)
            self._try_load(slot, champion)
        self.last_refresh = time.time()

    def _try_load(self, slot: ModelSlot, version: str) -> None:
        try:
            loaded = slot.loaded.get(version) or self._load(slot.name, version)
        except Exception as exc:
            error = error_text(exc)
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
        if slot is None and self.registry_error is not None and not self.serving():
            raise ModelError(
                f"model {name!r} is not available: the model registry cannot be reached and no "
                "local copy of a model is kept yet; see /api/health",
                status=503,
            )
        if slot is None and name in MODEL_NAMES:
            raise ModelError(
                f"model {name!r} is not available: it has no champion in the model registry "
                "(train and promote one); see /api/health",
                status=503,
            )
        if slot is None:  # the same words as a name in a path (serving/routes.py)
            raise ModelError(f"unknown model {name!r} (known: {', '.join(MODEL_NAMES)})")
        if version is not None:
            loaded = slot.loaded.get(str(version))
            if loaded is None:
                raise ModelError(_not_loaded(slot, str(version)), field="model_version")
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
                "source": slot.serving.source if slot.serving else None,
            }
            if slot.error:
                doc[name]["error"] = slot.error
        return doc
