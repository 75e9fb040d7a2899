"""Who is calling: roles, password hashing and stateless signed bearer tokens (pure: no I/O).

Passwords: scrypt (memory-hard; n=2**14, r=8 → 16 MiB and ≈ 50 ms per hash), a per-password
random salt, constant-time comparison. The encoded form names its parameters, so they can be
raised later without breaking stored hashes.

Tokens: ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` with the payload
``v1|<subject>|<role>|<expiry s>``. Verification is one HMAC and a constant-time compare; it
says who the caller is, not whether they may bet now — the wallet's scripts check exclusion
and closure on every reserve, so a token of an excluded account stops betting at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from domain.clock import Clock


class Role(StrEnum):
    """Who a token speaks for."""

    PLAYER = "player"
    OPERATOR = "operator"
    PUBLISHER = "publisher"
    FEED = "feed"  # an odds/data provider: publishes feed messages (the subject names it)


class KycStatus(StrEnum):
    """Identity verification state; only ``verified`` accounts can bet."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    NOT_APPLICABLE = "n/a"  # operator, publisher and feed principals


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: memory = 128 · n · r bytes."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    dklen: int = 32
    salt_bytes: int = 16


class PasswordHasher:
    """scrypt hashing; encoded as ``scrypt$n$r$p$salt$hash`` (base64url parts)."""

    def __init__(self, params: ScryptParams | None = None) -> None:
        self.params = params or ScryptParams()
        # a real hash to check unknown users against, so they cost the same time
        self._dummy = self.hash(secrets.token_urlsafe(16))

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                              maxmem=256 * n * r * p, dklen=dklen)

    def hash(self, password: str) -> str:
        """A fresh salted hash of ``password``."""
        prm = self.params
        salt = secrets.token_bytes(prm.salt_bytes)
        digest = self._derive(password, salt, prm.n, prm.r, prm.p, prm.dklen)
        return f"scrypt${prm.n}${prm.r}${prm.p}${_b64(salt)}${_b64(digest)}"

    def verify(self, password: str, encoded: str | None) -> bool:
        """True when ``password`` matches; ``None`` (unknown user) costs the same and fails."""
        target = encoded or self._dummy
        try:
            scheme, n, r, p, salt, digest = target.split("$")
            expected = _unb64(digest)
            actual = self._derive(password, _unb64(salt), int(n), int(r), int(p), len(expected))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(actual, expected) and encoded is not None and scheme == "scrypt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that is malformed, badly signed or expired."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: subject (account id), role and expiry (POSIX seconds)."""

    subject: str
    role: Role
    expires_at: int

    @property
    def expires(self) -> datetime:
        """Expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token and its claims."""

    token: str
    claims: TokenClaims


class TokenSigner:
    """Issues and verifies HMAC-SHA256 bearer tokens with a key that never leaves the server."""

    def __init__(self, key: str | bytes, clock: Clock = time.time) -> None:
        self._key = key.encode() if isinstance(key, str) else key
        if len(self._key) < 16:
            raise ValueError("token key too short")
        self.clock = clock

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, subject: str, role: Role | str, ttl_s: int) -> IssuedToken:
        """A token for ``subject`` valid ``ttl_s`` seconds."""
        if not subject or "|" in subject:
            raise ValueError("subject must be non-empty and contain no '|'")
        claims = TokenClaims(subject, Role(role), int(self.clock()) + int(ttl_s))
        payload = f"v1|{claims.subject}|{claims.role.value}|{claims.expires_at}".encode()
        return IssuedToken(f"{_b64(payload)}.{_b64(self._sign(payload))}", claims)

    def verify(self, token: str) -> TokenClaims:
        """The claims of a genuine, unexpired token; TokenError otherwise."""
        try:
            body, signature = token.split(".")
            payload = _unb64(body)
            good = hmac.compare_digest(self._sign(payload), _unb64(signature))
        except (ValueError, TypeError) as exc:
            raise TokenError("malformed token") from exc
        if not good:
            raise TokenError("bad signature")
        version, subject, role, expires = payload.decode().split("|")
        if version != "v1":
            raise TokenError("unknown token version")
        claims = TokenClaims(subject, Role(role), int(expires))
        if claims.expires_at <= self.clock():
            raise TokenError("token expired")
        return claims
