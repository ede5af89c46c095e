"""The command that starts the MLflow UI on the platform's store (run by the CLI)."""

from __future__ import annotations

import sys

# Environment for the UI process: no background job runner (a slow start otherwise), no
# telemetry (there is no network to send it to).
UI_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}


def mlflow_ui_command(
    tracking_uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    artifact_location: str | None = None,
    workers: int = 1,
) -> list[str]:
    """``mlflow ui`` arguments serving ``tracking_uri`` (a SQLite or PostgreSQL store).

    Run it with ``env={**os.environ, **mlflow_ui_env()}``. The interpreter running this code is
    used (``python -m mlflow``), so the command works without an activated virtualenv.
    ``artifact_location`` becomes the artifact root of experiments created from the UI.
    """
    if tracking_uri.startswith(("http://", "https://")):
        raise ValueError(f"{tracking_uri} is already a tracking server: open it in a browser")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if artifact_location:
        command += ["--default-artifact-root", artifact_location]
    return command


def mlflow_ui_env() -> dict[str, str]:
    """Environment variables to add to the UI process's environment."""
    return dict(UI_ENV)
