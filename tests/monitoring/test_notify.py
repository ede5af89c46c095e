"""The notification hook: a log line, and a JSON POST to a real local HTTP server (the
``receiver`` fixture)."""

from __future__ import annotations

import logging

import pytest

from monitoring.notify import notify

EVENT = {"as_of": "2024-01-15", "reasons": ["feature drift 40%"], "action": "retrain"}


def test_webhook_receives_the_event_as_json(receiver, caplog):
    url, received, _ = receiver
    with caplog.at_level(logging.WARNING, logger="nba_mlops.monitoring"):
        assert notify(EVENT, url) is True
    assert received == [{"body": EVENT, "type": "application/json"}]
    assert "feature drift 40% -> retrain" in caplog.text


def test_an_upper_case_scheme_is_posted_as_the_setting_allows(receiver):
    url, received, _ = receiver
    assert notify(EVENT, "HTTP" + url[len("http") :]) is True
    assert received == [{"body": EVENT, "type": "application/json"}]


def test_a_failing_webhook_is_reported_not_raised(receiver):
    url, received, handler = receiver
    handler.status = 500
    assert notify(EVENT, url) is False
    assert len(received) == 1
    closed = url.rsplit(":", 1)[0] + ":9/hook"  # the discard port: nothing listens
    assert notify(EVENT, closed, timeout=2) is False
    assert notify(EVENT, "file:///etc/passwd") is False


def test_without_a_url_only_the_log_line(caplog):
    with caplog.at_level(logging.WARNING, logger="nba_mlops.monitoring"):
        assert notify(EVENT, None) is None  # nothing delivered, nothing failed
    assert "monitoring 2024-01-15" in caplog.text


@pytest.mark.parametrize("status", [500, None])  # an error answer; nothing listening
def test_a_failure_logs_the_webhook_host_not_its_secret_path(receiver, caplog, status):
    url, _, handler = receiver
    if status is None:
        url = url.rsplit(":", 1)[0] + ":9/hook"
    else:
        handler.status = status
    secret = f"{url}/T0KEN-s3cr3t?key=abc"
    with caplog.at_level(logging.ERROR, logger="nba_mlops.monitoring"):
        assert notify(EVENT, secret, timeout=2) is False
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    host = url.split("/hook")[0]
    assert errors and all(host in e for e in errors)
    assert "T0KEN" not in caplog.text and "s3cr3t" not in caplog.text and "/hook" not in caplog.text
