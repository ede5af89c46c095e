"""``nba-mlops serve`` and ``nba-mlops users``: registered on the main CLI by ``register``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the serving commands to the ``nba-mlops`` app."""
