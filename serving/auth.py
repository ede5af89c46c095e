"""Users (bcrypt hashes in the ``users`` table) and bearer tokens (HS256 JWT with an expiry)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import bcrypt
import jwt

if TYPE_CHECKING:
    from sqlalchemy import Engine

BCRYPT_COST = 12  # the default of NBA_BCRYPT_COST: each step doubles the time of a login
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
MAX_PASSWORD_BYTES = 72  # bcrypt's limit: longer passwords are refused, never cut silently
MIN_PASSWORD_LENGTH = 8
ROLES = ("user", "admin")
REALM = "nba-mlops"


class AuthError(Exception):
    """A request without valid credentials (401). ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` header (RFC 6750): no error code when nothing was sent."""
        if self.reason == "missing":
            return f'Bearer realm="{REALM}"'
        text = self.message.replace('"', "'")
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="{text}"'


class UserError(ValueError):
    """A user command that cannot be done as asked (duplicate name, weak password...)."""


def resolve_secret(environment: str, secret: str | None) -> str:
    """The signing secret; production refuses a missing or short one, development makes one.
    Blanks do not count towards the length: a secret of spaces is a missing one."""
    length = len((secret or "").strip())
    if length >= MIN_SECRET_LENGTH:
        return secret
    if environment == "production":
        raise ValueError(
            f"NBA_JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters in production "
            f"({'missing' if not length else f'{length} characters'})"
        )
    if length:
        raise ValueError(f"NBA_JWT_SECRET is {length} characters: use at least {MIN_SECRET_LENGTH}")
    return secrets.token_urlsafe(48)


def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    """A bcrypt hash of the password at this work factor (the hash records it)."""
    encoded = _password_bytes(password)
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=cost)).decode()


def _password_bytes(password: str) -> bytes:
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise UserError(f"password is longer than bcrypt's {MAX_PASSWORD_BYTES} bytes")
    return encoded


@lru_cache(maxsize=4)
def _dummy_hash(cost: int) -> bytes:
    """A hash to check against when the user does not exist: both cases cost one bcrypt check."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))


def check_password(password: str, password_hash: str | None, cost: int = BCRYPT_COST) -> bool:
    """Whether the password matches the hash (at the hash's own work factor). Without a hash
    (no such user) a dummy hash of work factor ``cost`` is checked, so that a missing user
    answers as slowly as a wrong password."""
    try:
        encoded = _password_bytes(password)
    except UserError:
        return False
    stored = password_hash.encode() if password_hash else _dummy_hash(cost)
    try:
        ok = bcrypt.checkpw(encoded, stored)
    except ValueError:
        return False
    return ok and password_hash is not None


@dataclass(frozen=True)
class Principal:
    """Who a valid token belongs to."""

    username: str
    role: str
    expires_at: datetime


class TokenIssuer:
    """Issue and verify HS256 tokens."""

    def __init__(self, secret: str, expiry_minutes: int) -> None:
        self._secret = secret
        self.expiry = timedelta(minutes=expiry_minutes)

    def issue(self, username: str, role: str, now: datetime | None = None) -> tuple[str, int]:
        """(token, seconds until it expires)."""
        now = now or datetime.now(UTC)
        claims = {
            "sub": username,
            "role": role,
            "iat": now,
            "exp": now + self.expiry,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), int(
            self.expiry.total_seconds()
        )

    def verify(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer <token>`` header, or :class:`AuthError`."""
        if not authorization:
            raise AuthError("missing", "missing bearer token")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise AuthError("malformed", "expected 'Authorization: Bearer <token>'")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("expired", "token expired") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError("algorithm", f"token algorithm not allowed (only {ALGORITHM})") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("signature", "token signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("claims", f"token lacks a required claim: {exc.claim}") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError(
                "not_yet_valid", "token not yet valid (nbf or iat in the future)"
            ) from exc
        except jwt.InvalidTokenError as exc:
            # PyJWT's text names decoder internals ("'utf-8' codec can't decode byte ..."):
            # the caller learns what to send instead.
            raise AuthError(
                "malformed", "malformed token: expected a JWT from POST /api/auth/login"
            ) from exc
        role = claims.get("role") if claims.get("role") in ROLES else "user"
        try:
            expires = datetime.fromtimestamp(claims["exp"], UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise AuthError("claims", f"token expiry out of range: {claims['exp']!r}") from exc
        return Principal(str(claims["sub"]), role, expires)


# Users in the database ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UserRow:
    username: str
    role: str
    is_active: bool
    created_at: datetime | None
    last_login: datetime | None


def _valid_username(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(
            f"user name {name!r} must be 1-64 characters: letters, digits, '.', '_', '-', '@'"
        )
    return name


def _valid_password(password: str) -> str:
    """The password as the login endpoint will accept it: long enough and without control
    characters (with a tab in it, no login could ever succeed)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise UserError("password must not contain control characters (tab, newline, ...)")
    return password


def add_user(
    engine: Engine, username: str, password: str, role: str = "user", *, cost: int = BCRYPT_COST
) -> UserRow:
    """Create a user with a bcrypt hash of work factor ``cost``; UserError if the name is
    taken."""
    from sqlalchemy import select

    from core.db import User, session_scope

    username = _valid_username(username)
    if role not in ROLES:
        raise UserError(f"role must be one of {ROLES}, got {role!r}")
    hashed = hash_password(_valid_password(password), cost)
    with session_scope(engine) as session:
        if session.scalar(select(User).where(User.username == username)) is not None:
            raise UserError(f"user {username!r} already exists")
        user = User(username=username, password_hash=hashed, role=role, is_active=True)
        session.add(user)
        session.flush()
        return UserRow(user.username, user.role, user.is_active, user.created_at, None)


def ensure_user(
    engine: Engine, username: str, password: str, role: str = "user", *, cost: int = BCRYPT_COST
) -> UserRow:
    """Create the user, or reset its password and role and enable it (demo accounts)."""
    from sqlalchemy import select

    from core.db import User, session_scope

    username = _valid_username(username)
    hashed = hash_password(password, cost)
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, password_hash=hashed, role=role, is_active=True)
            session.add(user)
        else:
            user.password_hash, user.role, user.is_active = hashed, role, True
        session.flush()
        return UserRow(user.username, user.role, user.is_active, user.created_at, user.last_login)


def list_users(engine: Engine) -> list[UserRow]:
    from sqlalchemy import select

    from core.db import User, session_scope

    with session_scope(engine) as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        return [UserRow(u.username, u.role, u.is_active, u.created_at, u.last_login) for u in users]


def disable_user(engine: Engine, username: str) -> bool:
    """Mark a user inactive (its tokens stop working); False if there is no such user."""
    return _update_user(engine, username, is_active=False)


def enable_user(engine: Engine, username: str) -> bool:
    """Mark a disabled user active again; False if there is no such user."""
    return _update_user(engine, username, is_active=True)


def set_password(engine: Engine, username: str, password: str, *, cost: int = BCRYPT_COST) -> bool:
    """Replace a user's password (bcrypt hash of work factor ``cost``); False if there is no
    such user. Tokens issued before stay valid until they expire: disable the user to stop them
    at once."""
    hashed = hash_password(_valid_password(password), cost)
    return _update_user(engine, username, password_hash=hashed)


def _update_user(engine: Engine, username: str, **values) -> bool:
    from sqlalchemy import update

    from core.db import User

    with engine.begin() as conn:
        result = conn.execute(update(User).where(User.username == username).values(**values))
    return result.rowcount > 0


def user_states(engine: Engine) -> dict[str, bool]:
    """``{username: is_active}`` for every user."""
    from sqlalchemy import select

    from core.db import User

    with engine.connect() as conn:
        return {
            name: bool(active)
            for name, active in conn.execute(select(User.username, User.is_active))
        }


def authenticate(
    engine: Engine, username: str, password: str, *, cost: int = BCRYPT_COST
) -> UserRow | None:
    """The active user with these credentials, its ``last_login`` updated; None otherwise.
    ``cost`` is the work factor of the check made when there is no such user."""
    from sqlalchemy import select, update

    from core.db import User

    with engine.connect() as conn:
        row = conn.execute(
            select(User.password_hash, User.role, User.is_active, User.created_at).where(
                User.username == username
            )
        ).first()
    if not check_password(password, row.password_hash if row is not None else None, cost):
        return None
    if row is None or not row.is_active:
        return None
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.username == username).values(last_login=now))
    return UserRow(username, row.role, True, row.created_at, now)
