"""Authentication: bcrypt users, HS256 tokens, and every way a request can be refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, select

from core.db import AuditLog, User
from core.settings import Settings
from serving.auth import (
    AuthError,
    TokenIssuer,
    UserError,
    _dummy_hash,
    add_user,
    authenticate,
    check_password,
    disable_user,
    hash_password,
    resolve_secret,
)
from tests.conftest import BCRYPT_TEST_COST
from tests.serving.conftest import (
    ADMIN,
    GAME_DAY,
    JWT_SECRET,
    USER,
    USER_PASSWORD,
    login,
    running_service,
    runtime_of,
    start_of_a_limit_window,
    user_claims,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def _none_token() -> str:
    return jwt.encode(user_claims(), key=None, algorithm="none")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "malformed"),
        ("Basic YWxpY2U6c2VjcmV0", "malformed"),
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a.b.c", "malformed"),
        (
            "Bearer " + jwt.encode(user_claims(), JWT_SECRET, algorithm="HS256") + " extra",
            "malformed",
        ),
        (
            "Bearer "
            + jwt.encode(
                user_claims(exp=datetime.now(UTC) - timedelta(seconds=5)),
                JWT_SECRET,
                algorithm="HS256",
            ),
            "expired",
        ),
        (
            "Bearer " + jwt.encode(user_claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
            "signature",
        ),
        ("Bearer " + _none_token(), "algorithm"),
        ("Bearer " + jwt.encode(user_claims(), JWT_SECRET, algorithm="HS512"), "algorithm"),
        (
            "Bearer "
            + jwt.encode(
                {k: v for k, v in user_claims().items() if k != "exp"},
                JWT_SECRET,
                algorithm="HS256",
            ),
            "claims",
        ),
        (
            "Bearer " + jwt.encode(user_claims(exp=10**15), JWT_SECRET, algorithm="HS256"),
            "claims",
        ),
    ],
)
def test_bad_tokens_get_401_with_www_authenticate(service, authorization, reason):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = service.post("/api/predict/simple", json=MATCHUP, headers=headers)
    assert response.status_code == 401
    assert response.json()["reason"] == reason
    assert "codec" not in response.text and "Traceback" not in response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="nba-mlops"')
    assert ('error="invalid_token"' in challenge) is (reason != "missing")


def test_a_token_of_garbage_bytes_is_malformed_in_the_callers_terms(service):
    # "t7e3" is base64 of bytes that are not UTF-8: PyJWT's message names its decoder
    headers = {"Authorization": "Bearer t7e3.t7e3.t7e3"}
    response = service.post("/api/predict/simple", json=MATCHUP, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["reason"] == "malformed"
    assert "expected a JWT from POST /api/auth/login" in response.text
    assert "codec" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/predict"),
        ("post", "/api/predict/player"),
        ("post", "/api/predict/compare"),
        ("post", "/api/predict/batch"),
        ("get", "/api/models"),
        ("get", "/api/models/game-logistic/1"),
        ("post", "/api/models/game-logistic/1/load"),
        ("delete", "/api/models/game-logistic/1/unload"),
        ("get", "/api/metrics"),
        ("get", "/api/drift"),
        ("get", "/api/drift/latest"),
    ],
)
def test_every_api_route_but_health_and_login_needs_a_token(service, method, path):
    response = getattr(service, method)(path)
    assert response.status_code == 401, (path, response.text)
    assert service.get("/api/health").status_code == 200


def test_a_token_from_login_works_until_it_expires(service, stack):
    headers = login(service)
    assert service.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200
    issuer = TokenIssuer(JWT_SECRET, expiry_minutes=60)
    old, _ = issuer.issue(USER, "user", now=datetime.now(UTC) - timedelta(minutes=61))
    expired = service.post(
        "/api/predict/simple", json=MATCHUP, headers={"Authorization": f"Bearer {old}"}
    )
    assert expired.status_code == 401 and expired.json()["reason"] == "expired"


def test_login_form_and_wrong_credentials(service):
    form = service.post("/api/auth/login", data={"username": USER, "password": USER_PASSWORD})
    assert form.status_code == 200
    body = form.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 60 * 60
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == USER and claims["exp"] - claims["iat"] == 3600
    for username, password in ((USER, "wrong"), ("nobody", USER_PASSWORD), (USER, "x" * 100)):
        refused = service.post("/api/auth/login", json={"username": username, "password": password})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    missing = service.post("/api/auth/login", json={"username": USER})
    assert missing.status_code == 400 and "password" in str(missing.json()["detail"])


@pytest.mark.parametrize("media", ["text/plain", "text/plain; charset=utf-8", "application/xml"])
def test_a_login_in_another_media_type_is_415_naming_the_ones_read(service, media):
    raw = f'{{"username": "{USER}", "password": "{USER_PASSWORD}"}}'.encode()
    response = service.post("/api/auth/login", content=raw, headers={"Content-Type": media})
    assert response.status_code == 415, response.text
    body = response.json()
    assert body["error"] == (
        "send the body as application/json, application/x-www-form-urlencoded or "
        f"multipart/form-data, not {media.split(';')[0]!r}"
    )
    assert body["detail"][0]["loc"] == ["header", "content-type"]
    typeless = service.post("/api/auth/login", content=raw)  # no Content-Type: read as JSON
    assert typeless.status_code == 200, typeless.text


def test_a_login_body_that_is_not_json_reads_as_one_clause(service):
    response = service.post(
        "/api/auth/login", content=b"username=alice", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith("1 validation error(s): Invalid JSON") and ": :" not in error, error


def test_a_disabled_user_is_refused_at_login_and_with_its_token(stack):
    engine = create_engine(stack.database_url)
    add_user(engine, "carol", "carol-password-1")
    with running_service(stack.env()) as client:
        headers = login(client, "carol", "carol-password-1")
        assert client.post("/api/predict/simple", json=MATCHUP, headers=headers).status_code == 200
        assert "reasons" in client.get("/api/health", headers=headers).json()  # the detailed one
        assert disable_user(engine, "carol")
        runtime_of(client).refresh_users()  # the poller's job, done now
        refused = client.post("/api/predict/simple", json=MATCHUP, headers=headers)
        assert refused.status_code == 401 and refused.json()["reason"] == "disabled"
        assert "reasons" not in client.get("/api/health", headers=headers).json()
        again = client.post(
            "/api/auth/login", json={"username": "carol", "password": "carol-password-1"}
        )
        assert again.status_code == 401
    engine.dispose()


def test_failed_logins_are_throttled_per_client(stack):
    with running_service(stack.env(NBA_LOGIN_RATE_LIMIT="3/minute")) as client:
        start_of_a_limit_window(needed=15)
        for _ in range(3):
            wrong = client.post("/api/auth/login", json={"username": USER, "password": "nope"})
            assert wrong.status_code == 401
        throttled = client.post(
            "/api/auth/login", json={"username": USER, "password": USER_PASSWORD}
        )
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= 60
        assert (
            'nba_rate_limited_total{limit="login"} 1.0'
            in runtime_of(client).metrics.render().decode()
        )
        assert runtime_of(client).records.flush()
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        request_id = throttled.headers["x-request-id"]
        (row,) = conn.execute(select(AuditLog).where(AuditLog.request_id == request_id)).all()
    engine.dispose()
    assert (row.action, row.success, row.details) == ("login", False, {"error": "throttled"})
    assert (row.username, row.target) == (USER, USER)


def test_passwords_are_bcrypt_hashes_never_plaintext(stack):
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.username == ADMIN)).scalar()
    engine.dispose()
    assert stored.startswith(f"$2b${BCRYPT_TEST_COST:02d}$")
    assert bcrypt.checkpw(b"admin-password-1", stored.encode())
    assert "admin-password-1" not in stored


def test_the_bcrypt_work_factor_is_12_unless_set(clean_env, monkeypatch):
    assert Settings().bcrypt_cost == 12
    assert hash_password("a-password-1").startswith("$2b$12$")
    monkeypatch.setenv("NBA_BCRYPT_COST", "5")
    assert Settings().bcrypt_cost == 5
    made = hash_password("a-password-1", 5)
    assert made.startswith("$2b$05$") and check_password("a-password-1", made)
    # A missing user is checked against a dummy hash of the configured factor, as slow as a
    # wrong password for a user that exists.
    assert not check_password("a-password-1", None, 5)
    assert _dummy_hash(5).startswith(b"$2b$05$")
    for bad in ("3", "32", "twelve"):
        monkeypatch.setenv("NBA_BCRYPT_COST", bad)
        with pytest.raises(ValidationError, match="bcrypt_cost"):
            Settings()


def test_user_rules(stack):
    engine = create_engine(stack.database_url)
    with pytest.raises(UserError, match="already exists"):
        add_user(engine, USER, "another-password")
    with pytest.raises(UserError, match="at least 8"):
        add_user(engine, "dave", "short")
    with pytest.raises(UserError, match="control characters"):
        add_user(engine, "dave", "tab\tpassword1")
    with pytest.raises(UserError, match="72 bytes"):
        add_user(engine, "dave", "p" * 73)
    with pytest.raises(UserError, match="letters"):
        add_user(engine, "dave smith", "long-enough-1")
    assert authenticate(engine, USER, USER_PASSWORD).username == USER
    assert authenticate(engine, USER, "wrong") is None
    assert not disable_user(engine, "nobody-here")
    engine.dispose()


def test_production_refuses_a_missing_or_short_secret():
    with pytest.raises(ValueError, match="NBA_JWT_SECRET"):
        resolve_secret("production", None)
    with pytest.raises(ValueError, match="at least 32"):
        resolve_secret("production", "short")
    with pytest.raises(ValueError, match="at least 32"):
        resolve_secret("development", "short")
    assert resolve_secret("production", "s" * 32) == "s" * 32
    with pytest.raises(ValueError, match="missing"):
        resolve_secret("production", " " * 43)
    with pytest.raises(ValueError, match=r"\(20 characters\)"):
        resolve_secret("production", " " * 12 + "s" * 20 + "\n")
    made = resolve_secret("development", None)
    assert len(made) >= 32 and made != resolve_secret("development", None)


def test_the_service_does_not_start_in_production_without_a_secret(tmp_path):
    from serving.runtime import Runtime

    settings = Settings(environment="production", jwt_secret=None, state_dir=tmp_path)
    with pytest.raises(ValueError, match="NBA_JWT_SECRET"):
        Runtime(settings, poll=False, log_to_stderr=False)


def test_verify_names_the_reason():
    issuer = TokenIssuer("k" * 40, 5)
    token, _ = issuer.issue("someone", "admin")
    assert issuer.verify(f"bearer {token}").role == "admin"
    with pytest.raises(AuthError) as err:
        TokenIssuer("other" * 10, 5).verify(f"Bearer {token}")
    assert err.value.reason == "signature"
