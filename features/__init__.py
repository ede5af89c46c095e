"""Feature tables for NBA game and player predictions: pure pandas/numpy, as of the day before.

``GAME_FEATURES``, ``PLAYER_FEATURES`` and ``FEATURE_DOCS`` (plain tuples) are imported eagerly;
the builders (``build_game_features``, ``build_player_features``, ``game_request_frame``,
``player_request_frame``) load pandas on first use, so ``import features`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from features.catalog import FEATURE_DOCS, GAME_FEATURES, PLAYER_FEATURES

if TYPE_CHECKING:
    from features.game import build_game_features, game_request_frame
    from features.player import build_player_features, player_request_frame

__all__ = [
    "FEATURE_DOCS",
    "GAME_FEATURES",
    "PLAYER_FEATURES",
    "build_game_features",
    "build_player_features",
    "game_request_frame",
    "player_request_frame",
]

_LAZY = {
    "build_game_features": "features.game",
    "game_request_frame": "features.game",
    "build_player_features": "features.player",
    "player_request_frame": "features.player",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'features' has no attribute {name!r}")
