"""Who is calling: roles, password hashing and stateless signed bearer tokens (pure: no I/O).

Passwords: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), a per-password random
salt, in the standard PHC string format, which names its parameters: they can be raised later
without breaking stored hashes. Hashes of the earlier scheme (scrypt) still verify and are
replaced at the next successful login (``PasswordHasher.needs_rehash``).

Tokens: ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` with the payload
``v2|<key id>|<token id>|<subject>|<role>|<issued at s>|<expiry s>``, accepted only in that one
canonical encoding; a token id or a subject can be revoked (``Revoked``). Verification is one
HMAC and a constant-time compare; it says who the caller is, not whether they may bet now —
the wallet's scripts check exclusion and closure on every reserve, so a token of an excluded
account stops betting at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import argon2

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
class Argon2Params:
    """argon2id cost. The defaults are OWASP's password storage recommendation: 19 MiB of
    memory, 2 passes, one lane (≈ 50-90 ms per hash on one core)."""

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost (memory = 128 · n · r bytes): how passwords were hashed before argon2id.
    Such hashes still verify, and are replaced at the next successful login."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    dklen: int = 32
    salt_bytes: int = 16


ARGON2_PREFIX = "$argon2id$"


class PasswordHasher:
    """argon2id hashing, encoded in the PHC string format
    (``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``); stored hashes of the earlier scheme,
    ``scrypt$n$r$p$salt$hash`` (base64url parts), still verify (``needs_rehash`` says they
    should be replaced)."""

    def __init__(self, params: Argon2Params | None = None) -> None:
        self.params = params or Argon2Params()
        prm = self.params
        self._argon2 = argon2.PasswordHasher(
            time_cost=prm.time_cost, memory_cost=prm.memory_kib, parallelism=prm.parallelism,
            hash_len=prm.hash_len, salt_len=prm.salt_len, type=argon2.Type.ID)
        # a real hash to check unknown users against, so they cost the same time
        self._dummy = self.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A fresh salted argon2id hash of ``password`` (PHC string)."""
        return self._argon2.hash(password)

    def verify(self, password: str, encoded: str | None) -> bool:
        """True when ``password`` matches ``encoded`` (argon2id or the older scrypt);
        ``None`` (unknown user) costs one argon2id check with the current parameters and
        fails."""
        if encoded is None:
            self._check_argon2(password, self._dummy)
            return False
        if encoded.startswith(ARGON2_PREFIX):
            return self._check_argon2(password, encoded)
        if encoded.startswith("scrypt$"):
            return _check_scrypt(password, encoded)
        return False

    def _check_argon2(self, password: str, encoded: str) -> bool:
        try:
            return bool(self._argon2.verify(encoded, password))
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError,
                ValueError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True for a hash that is not argon2id with this hasher's parameters (an scrypt hash
        of the earlier scheme, or weaker argon2id parameters): replace it after a login."""
        if not encoded.startswith(ARGON2_PREFIX):
            return True
        try:
            return self._argon2.check_needs_rehash(encoded)
        except (argon2.exceptions.InvalidHashError, ValueError):
            return True


def scrypt_hash(password: str, params: ScryptParams | None = None) -> str:
    """An scrypt hash in the earlier encoding (what accounts made before argon2id; for
    migrations and their tests)."""
    prm = params or ScryptParams()
    salt = secrets.token_bytes(prm.salt_bytes)
    digest = _scrypt(password, salt, prm.n, prm.r, prm.p, prm.dklen)
    return f"scrypt${prm.n}${prm.r}${prm.p}${_b64(salt)}${_b64(digest)}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r * p, dklen=dklen)


def _check_scrypt(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        expected = _unb64(digest)
        if scheme != "scrypt" or not 1 < int(n) <= 2**20 or not 0 < int(r) * int(p) <= 64:
            return False
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that is malformed, badly signed, expired or revoked."""


TOKEN_VERSION = "v2"
# a token: base64url (no padding) payload, ".", base64url (no padding) HMAC-SHA256 (43 chars)
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,1024}\.[A-Za-z0-9_-]{43}")
TOKEN_ID_RE = re.compile(r"t[0-9a-f]{24}")


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: subject (account id), role, expiry and issue time (POSIX
    seconds), its own id (for revocation) and the id of the key that signed it."""

    subject: str
    role: Role
    expires_at: int
    issued_at: int = 0
    token_id: str = ""
    key_id: str = ""

    @property
    def expires(self) -> datetime:
        """Expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token and its claims."""

    token: str
    claims: TokenClaims


@dataclass(frozen=True)
class Revoked:
    """What is revoked: token ids, and subjects whose tokens issued at or before a time
    (POSIX seconds) are all refused."""

    token_ids: frozenset[str] = frozenset()
    subjects: Mapping[str, int] = field(default_factory=dict)

    def covers(self, claims: TokenClaims) -> bool:
        """True when ``claims`` belong to a revoked token."""
        if claims.token_id in self.token_ids:
            return True
        since = self.subjects.get(claims.subject)
        return since is not None and claims.issued_at <= since


def key_id_of(key: bytes) -> str:
    """A short public name of a signing key (a hash of it; says nothing usable about it)."""
    return hashlib.sha256(b"inplay token key id|" + key).hexdigest()[:8]


class TokenSigner:
    """Issues and verifies HMAC-SHA256 bearer tokens with a key that never leaves the server.

    A token is accepted only in its one canonical encoding: base64url without padding, the
    alphabet only, and the decoded bytes re-encoding to exactly the text received (so a
    changed trailing character, inserted junk or appended ``=`` is refused).
    """

    def __init__(self, key: str | bytes, clock: Clock = time.time) -> None:
        self._key = key.encode() if isinstance(key, str) else key
        if len(self._key) < 16:
            raise ValueError("token key too short")
        self.key_id = key_id_of(self._key)
        self.clock = clock

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, subject: str, role: Role | str, ttl_s: int) -> IssuedToken:
        """A token for ``subject`` valid ``ttl_s`` seconds, with a fresh token id."""
        if not subject or "|" in subject:
            raise ValueError("subject must be non-empty and contain no '|'")
        now = int(self.clock())
        claims = TokenClaims(subject, Role(role), now + int(ttl_s), now,
                             "t" + secrets.token_hex(12), self.key_id)
        payload = "|".join([TOKEN_VERSION, claims.key_id, claims.token_id, claims.subject,
                            claims.role.value, str(claims.issued_at),
                            str(claims.expires_at)]).encode()
        return IssuedToken(f"{_b64(payload)}.{_b64(self._sign(payload))}", claims)

    def verify(self, token: str) -> TokenClaims:
        """The claims of a genuine, unexpired token; TokenError otherwise."""
        if not _TOKEN_RE.fullmatch(token):
            raise TokenError("malformed token")
        body, signature = token.split(".")
        try:
            payload, mac = _canonical_unb64(body), _canonical_unb64(signature)
        except ValueError as exc:
            raise TokenError("malformed token") from exc
        if not hmac.compare_digest(self._sign(payload), mac):
            raise TokenError("bad signature")
        try:
            version, key_id, token_id, subject, role, issued, expires = \
                payload.decode().split("|")
            claims = TokenClaims(subject, Role(role), int(expires), int(issued), token_id,
                                 key_id)
        except ValueError as exc:
            raise TokenError("unknown token version") from exc
        if version != TOKEN_VERSION or key_id != self.key_id:
            raise TokenError("unknown token version")
        if claims.expires_at <= self.clock():
            raise TokenError("token expired")
        return claims


def _canonical_unb64(text: str) -> bytes:
    """base64url without padding, refused unless it is the one encoding of its bytes."""
    data = _unb64(text)
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data
