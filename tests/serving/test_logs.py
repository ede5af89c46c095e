"""Structured JSON logs: request IDs in every line, size rotation, errors in their own file."""

from __future__ import annotations

import json
import logging

from serving.logs import ERROR_FILE, LOG_FILE, REQUEST_ID, close_logging, configure_logging
from tests.serving.conftest import GAME_DAY, runtime_of


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_files_rotate_by_size_and_errors_have_their_own(tmp_path):
    configure_logging(tmp_path, "INFO", max_bytes=2_000, stderr=False)
    log = logging.getLogger("serving.test")
    try:
        token = REQUEST_ID.set("rid-123")
        for i in range(60):
            log.info("line %d", i, extra={"n": i})
        log.error("something broke", extra={"model": "game-logistic"})
        REQUEST_ID.reset(token)
    finally:
        close_logging()
    assert (tmp_path / f"{LOG_FILE}.1").exists()  # rotated
    assert all(p.stat().st_size <= 2_500 for p in tmp_path.glob(f"{LOG_FILE}*"))
    errors = _lines(tmp_path / ERROR_FILE)
    assert [e["message"] for e in errors] == ["something broke"]
    assert errors[0]["level"] == "ERROR" and errors[0]["model"] == "game-logistic"
    latest = _lines(tmp_path / LOG_FILE)[-2]
    assert latest["request_id"] == "rid-123" and latest["n"] == 59 and latest["time"]


def test_every_line_of_a_request_carries_its_id(service, user_headers):
    runtime = runtime_of(service)
    logging.getLogger("serving").setLevel("INFO")
    try:
        service.post(
            "/api/predict/simple",
            json={"home_team": "BOS", "away_team": "XXX", "game_date": GAME_DAY},
            headers={**user_headers, "X-Request-ID": "log-check-1"},
        )
    finally:
        logging.getLogger("serving").setLevel(runtime.settings.log_level)
    lines = _lines(runtime.settings.state_dir / "logs" / LOG_FILE)
    mine = [line for line in lines if line.get("request_id") == "log-check-1"]
    access = [line for line in mine if line["logger"] == "serving.access"]
    assert access and access[0]["status"] == 400 and access[0]["path"] == "/api/predict/simple"
    assert access[0]["user"] == "alice" and access[0]["latency_ms"] > 0
