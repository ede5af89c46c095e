"""The notification hook: a log line always, and a JSON POST when a webhook URL is set.

A failed POST is logged and reported as False; monitoring never fails because a chat or paging
service is down.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core.settings import url_origin

log = logging.getLogger("nba_mlops.monitoring")


def alert_message(event: Mapping[str, Any]) -> str:
    """One line for humans: what crossed which threshold, and what was done."""
    reasons = "; ".join(event.get("reasons", [])) or "no threshold crossed"
    action = event.get("action", "none")
    return f"monitoring {event.get('as_of')}: {reasons} -> {action}"


def notify(
    event: Mapping[str, Any],
    webhook_url: str | None,
    *,
    timeout: float = 10.0,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> bool | None:
    """Log ``event`` and POST it as JSON to ``webhook_url`` (if set). True when delivered,
    False when not, None when no webhook is set (only the log line)."""
    (logger or log).warning(alert_message(event))
    if not webhook_url:
        return None
    scheme = urlsplit(webhook_url).scheme  # lower case, as the URL's scheme is read
    if scheme not in ("http", "https"):
        scheme = scheme or "no scheme"
        (logger or log).error("webhook URL must be http(s), got %s: not posted", scheme)
        return False
    body = json.dumps(dict(event), default=str).encode()
    # http(s) only (checked above); the URL is the operator's own setting.
    request = urllib.request.Request(  # noqa: S310
        webhook_url,
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": "nba-mlops-monitoring"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 # nosec B310
            ok = 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # a ValueError's text may quote the URL: only its type is logged
        reason = type(exc).__name__ if isinstance(exc, ValueError) else exc
        if isinstance(exc, urllib.error.URLError):
            reason = exc.reason
        (logger or log).error("webhook %s failed: %s", url_origin(webhook_url), reason)
        return False
    if not ok:
        (logger or log).error("webhook %s answered %s", url_origin(webhook_url), response.status)
    return ok
