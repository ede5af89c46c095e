"""Attacks on the API: forged tokens, leaked passwords, injection, oversized and nested bodies.

Every refusal is a 4xx with a JSON message, never a stack trace or an internal path, and leaves
the stored users, games and predictions as they were. The service runs in-process at DEBUG log
level, so every log line it can write is written to its files and searched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import create_engine, func, select, text

from core.db import AuditLog, Game, Prediction, User
from tests.serving.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    GAME_DAY,
    JWT_SECRET,
    USER,
    USER_PASSWORD,
    login,
    running_service,
    runtime_of,
    user_claims,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}
PLAYER = {"player": 127380, "opponent": "LAL", "home": True, "game_date": GAME_DAY}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("security-state")


@pytest.fixture(scope="module")
def secure(stack, state_dir):
    """The service at DEBUG level with a known state folder (its log files are searched)."""
    with running_service(stack.env(NBA_STATE_DIR=str(state_dir), NBA_LOG_LEVEL="DEBUG")) as c:
        yield c


@pytest.fixture(scope="module")
def headers(secure) -> dict[str, str]:
    return login(secure)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _hs256_by_hand(claims: dict, key: bytes) -> str:
    """An HS256 token signed with any bytes (PyJWT refuses a PEM text as an HMAC key)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, default=lambda d: int(d.timestamp())).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(private) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tampered(token: str, **changes) -> str:
    """``token`` with claims changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload)) | changes
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _forged_tokens() -> list[tuple[str, str, str]]:
    now = datetime.now(UTC)
    rsa_private = _rsa_key()
    valid_user = jwt.encode(user_claims(), JWT_SECRET, algorithm="HS256")
    return [
        (
            "nbf in the future",
            jwt.encode(user_claims(nbf=now + timedelta(minutes=10)), JWT_SECRET),
            "not_yet_valid",
        ),
        (
            "iat in the future",
            jwt.encode(user_claims(iat=now + timedelta(minutes=10)), JWT_SECRET),
            "not_yet_valid",
        ),
        ("RS256", jwt.encode(user_claims(), rsa_private, algorithm="RS256"), "algorithm"),
        (
            "ES256",
            jwt.encode(user_claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"),
            "algorithm",
        ),
        (
            "HS256 keyed with a public key",
            _hs256_by_hand(user_claims(), _public_pem(rsa_private)),
            "signature",
        ),
        ("role user -> admin", _tampered(valid_user, role="admin"), "signature"),
        ("sub changed", _tampered(valid_user, sub=ADMIN), "signature"),
        ("exp pushed out", _tampered(valid_user, exp=int(time.time()) + 10**8), "signature"),
    ]


# Names only at collection: the tokens are made when each test runs, so their `exp` (5 minutes
# ahead) has not passed however late in a long run the test comes.
FORGED = [name for name, _, _ in _forged_tokens()]


@pytest.mark.parametrize("case", FORGED)
def test_forged_and_tampered_tokens_are_refused(secure, case):
    token, reason = next((t, r) for name, t, r in _forged_tokens() if name == case)
    for method, path in (("post", "/api/predict/simple"), ("post", "/api/models/game-tree/1/load")):
        response = getattr(secure, method)(
            path, json=MATCHUP, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (path, response.text)
        assert response.json()["reason"] == reason
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_an_admin_claim_needs_the_admin_user(secure, headers):
    """The same admin-only route: 403 with a user's genuine token, 401 once its role is edited."""
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, JWT_SECRET, algorithms=["HS256"])["role"] == "user"
    genuine = secure.post("/api/models/game-tree/1/load", headers=headers)
    assert genuine.status_code == 403
    forged = _tampered(token, role="admin")
    response = secure.post(
        "/api/models/game-tree/1/load", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401 and response.json()["reason"] == "signature"


# Passwords ---------------------------------------------------------------------------------------
def test_passwords_are_never_logged_stored_or_returned(secure, stack, state_dir):
    wrong = "Zebra-Wrong-Pass-7731"
    answers = [
        secure.post("/api/auth/login", json={"username": USER, "password": USER_PASSWORD}),
        secure.post("/api/auth/login", json={"username": USER, "password": wrong}),
        secure.post("/api/auth/login", data={"username": ADMIN, "password": ADMIN_PASSWORD}),
        secure.post("/api/auth/login", json={"username": "nobody-here", "password": wrong}),
        # invalid requests: the validation error must not echo the password either
        secure.post("/api/auth/login", json={"username": USER, "password": wrong + "\x00"}),
        secure.post("/api/auth/login", json={"username": "", "password": wrong}),
        secure.post("/api/auth/login", json={"username": USER, "password": wrong, "extra": 1}),
    ]
    assert [a.status_code for a in answers] == [200, 401, 200, 401, 400, 400, 400]
    runtime = runtime_of(secure)
    assert runtime.records.flush()
    secrets = (USER_PASSWORD, ADMIN_PASSWORD, wrong)
    for answer in answers:
        shown = answer.text + json.dumps(dict(answer.headers))
        assert not any(s in shown for s in secrets), answer.text

    log_files = sorted((state_dir / "logs").glob("*.log*"))
    assert log_files and any(f.stat().st_size for f in log_files)
    logged = "\n".join(f.read_text(errors="replace") for f in log_files)
    assert '"level": "DEBUG"' in logged or '"path": "/api/auth/login"' in logged
    assert not any(s in logged for s in secrets)

    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        audit = conn.execute(select(AuditLog)).all()
        users = conn.execute(select(User)).all()
    engine.dispose()
    assert any(row.action == "login" and row.success is False for row in audit)
    stored = repr(audit) + repr(users)
    assert not any(s in stored for s in secrets)


# Injection ---------------------------------------------------------------------------------------
PAYLOADS = {
    "sql quote": "' OR '1'='1",
    "sql drop": "BOS'; DROP TABLE users; --",
    "sql union": "1 UNION SELECT password_hash FROM users",
    "path traversal": "../../../../etc/passwd",
    "encoded traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "nul byte": "BOS\x00LAL",
    "very long": "A" * 100_000,
    "unicode": "ＢＯＳ🏀\u202eLAL",
    "template": "${jndi:ldap://127.0.0.1/x}{{7*7}}",
    "markup": "<script>alert(1)</script>",
}


def _json_requests(value: str) -> list[tuple[str, dict]]:
    """Every string field of every JSON route, one at a time set to ``value``."""
    batch_game = {**MATCHUP}
    return [
        *(("/api/predict/simple", {**MATCHUP, f: value}) for f in MATCHUP),
        ("/api/predict/simple", {**MATCHUP, "model": value}),
        ("/api/predict/simple", {**MATCHUP, "model_version": value}),
        *(("/api/predict/compare", {**MATCHUP, f: value}) for f in MATCHUP),
        *(("/api/predict/player", {**PLAYER, f: value}) for f in ("player", "opponent")),
        ("/api/predict/player", {**PLAYER, "team": value}),
        ("/api/predict/player", {**PLAYER, "game_date": value}),
        ("/api/predict/player", {**PLAYER, "model": value}),
        ("/api/predict/player", {**PLAYER, "model_version": value}),
        *(
            ("/api/predict/batch", {"games": [batch_game, {**batch_game, f: value}]})
            for f in MATCHUP
        ),
        ("/api/predict/batch", {"games": [batch_game], "model": value}),
        ("/api/predict/batch", {"games": [batch_game], "model_version": value}),
        ("/api/predict", {"home_elo": value}),
        ("/api/auth/login", {"username": value, "password": USER_PASSWORD}),
        ("/api/auth/login", {"username": USER, "password": value}),
    ]


def _get_requests(value: str) -> list[str]:
    q = quote(value[:8000], safe="")  # a request line past ~8 KB is refused before the app
    return [
        f"/api/models/{q}/1",
        f"/api/models/game-logistic/{q}",
        f"/api/drift?kind={q}",
        f"/api/drift?model={q}",
        f"/api/drift?limit={q}",
        f"/api/drift/{q}/html",
    ]


def _snapshot(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "users": conn.execute(
                    select(User.username, User.password_hash, User.role, User.is_active).order_by(
                        User.username
                    )
                ).all(),
                "games": conn.execute(select(func.count()).select_from(Game)).scalar(),
                "predictions": conn.execute(select(func.count()).select_from(Prediction)).scalar(),
                "tables": sorted(
                    conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    ).scalars()
                ),
            }
    finally:
        engine.dispose()


SOURCE_FILE = re.compile(r"[\w/]+\.py\b")  # a module path in a stack trace


def _assert_clean_refusal(response, what) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    body = response.json()  # always JSON
    assert "error" in body or "detail" in body, (what, body)
    shown = response.text
    for leak in ("Traceback", 'File "', "site-packages", "/work/", "/tmp/", "psycopg2"):
        assert leak not in shown, (what, leak, shown[:500])
    assert not SOURCE_FILE.search(shown), (what, shown[:500])


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_injection_through_every_string_field_is_a_clean_4xx(secure, headers, stack, payload):
    runtime = runtime_of(secure)
    assert runtime.records.flush()
    before = _snapshot(stack.database_url)
    for path, body in _json_requests(payload):
        response = secure.post(path, json=body, headers=headers)
        _assert_clean_refusal(response, (path, list(body)))
    for path in _get_requests(payload):
        _assert_clean_refusal(secure.get(path, headers=headers), path)
    assert runtime.records.flush()
    assert _snapshot(stack.database_url) == before
    # and the service still answers
    assert secure.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200


# Oversized and nested bodies -----------------------------------------------------------------------
BIG = 2 * 1024 * 1024


@pytest.mark.parametrize(
    "path", ["/api/predict/simple", "/api/predict/batch", "/api/predict", "/api/auth/login"]
)
def test_oversized_bodies_are_413_at_once(secure, headers, path):
    body = json.dumps({"home_team": "BOS", "away_team": "LAL", "pad": "x" * BIG}).encode()
    started = time.perf_counter()
    sized = secure.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
    chunked = secure.post(
        path,
        content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        headers={**headers, "Content-Type": "application/json"},
    )
    elapsed = time.perf_counter() - started
    for response in (sized, chunked):
        assert response.status_code == 413, response.text[:300]
        assert "too large" in response.json()["error"]
    assert elapsed < 5
    assert secure.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200


NESTED = {
    "list": "[" * 10_000 + "]" * 10_000,
    "object": '{"a": ' * 10_000 + "1" + "}" * 10_000,
    "in a field": '{"home_team": ' + "[" * 10_000 + "]" * 10_000 + ', "away_team": "LAL"}',
}


@pytest.mark.parametrize("raw", list(NESTED.values()), ids=list(NESTED))
@pytest.mark.parametrize(
    "path", ["/api/predict/simple", "/api/predict/batch", "/api/predict", "/api/auth/login"]
)
def test_deeply_nested_json_is_400(secure, headers, path, raw):
    response = secure.post(
        path, content=raw.encode(), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text[:300]
    _assert_clean_refusal(response, path)
    assert secure.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200
