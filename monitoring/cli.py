"""``nba-mlops drift`` and ``nba-mlops replay``: registered on the main CLI by ``register``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the monitoring commands to the ``nba-mlops`` app."""
