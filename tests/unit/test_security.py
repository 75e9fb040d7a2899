"""Password hashing and bearer tokens: pure, no Redis."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cluster.config import Settings
from domain.clock import ManualClock
from domain.identity import (
    Argon2Params,
    PasswordHasher,
    Role,
    ScryptParams,
    TokenError,
    TokenSigner,
    scrypt_hash,
)

KEY = "k" * 32


FAST = Argon2Params(time_cost=1, memory_kib=1024)


def test_password_hash_round_trip_with_per_password_salt() -> None:
    hasher = PasswordHasher(FAST)
    a, b = hasher.hash("hunter22"), hasher.hash("hunter22")
    assert a != b and a.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert hasher.verify("hunter22", a) and hasher.verify("hunter22", b)
    assert not hasher.verify("hunter23", a)
    assert not hasher.verify("hunter22", None)
    assert not hasher.verify("hunter22", "garbage")
    assert not hasher.verify("hunter22", a[:-4])
    assert not hasher.needs_rehash(a)


def test_default_params_are_owasps_argon2id() -> None:
    hasher = PasswordHasher()
    prm = hasher.params
    assert (prm.memory_kib, prm.time_cost, prm.parallelism) == (19 * 1024, 2, 1)
    encoded = hasher.hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify("correct horse", encoded)
    # a hash made with cheaper parameters still verifies, and asks to be replaced
    cheap = PasswordHasher(FAST).hash("correct horse")
    assert hasher.verify("correct horse", cheap) and hasher.needs_rehash(cheap)


def test_scrypt_hashes_of_the_earlier_scheme_still_verify_and_ask_for_a_rehash() -> None:
    hasher = PasswordHasher(FAST)
    old = scrypt_hash("pw-123456", ScryptParams(n=2**8))
    assert old.startswith("scrypt$256$8$1$")
    assert hasher.verify("pw-123456", old) and hasher.needs_rehash(old)
    assert not hasher.verify("pw-1234567", old)
    # costs out of any sane range are refused, not computed
    assert not hasher.verify("pw-123456", old.replace("scrypt$256$", "scrypt$1073741824$"))


def test_token_round_trip_and_expiry() -> None:
    clock = ManualClock(1_000.0)
    signer = TokenSigner(KEY, clock)
    issued = signer.issue("acct1", Role.OPERATOR, 60)
    claims = signer.verify(issued.token)
    assert (claims.subject, claims.role, claims.expires_at) == ("acct1", Role.OPERATOR, 1_060)
    clock.advance(59)
    signer.verify(issued.token)
    clock.advance(1)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(issued.token)


def test_tampered_or_foreign_tokens_are_refused() -> None:
    signer = TokenSigner(KEY, ManualClock())
    token = signer.issue("acct1", "player", 60).token
    body, sig = token.split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(body + "==").replace(b"player", b"operator")).rstrip(b"=")
    for bad in (f"{forged.decode()}.{sig}", token[:-2] + "AA", "nodot", "a.b.c", ""):
        with pytest.raises(TokenError):
            signer.verify(bad)
    with pytest.raises(TokenError, match="signature"):
        TokenSigner("z" * 32, ManualClock()).verify(token)


def test_subject_cannot_smuggle_fields_and_short_keys_are_refused() -> None:
    signer = TokenSigner(KEY)
    with pytest.raises(ValueError):
        signer.issue("a|operator", "player", 60)
    with pytest.raises(ValueError):
        TokenSigner("short")


def test_signer_key_comes_from_the_home_secret(tmp_path: Path) -> None:
    cfg = Settings(home=tmp_path)
    token = TokenSigner(cfg.secret("token_key")).issue("acct9", "publisher", 60).token
    assert TokenSigner(cfg.secret("token_key")).verify(token).role is Role.PUBLISHER
    assert (tmp_path / "secrets" / "token_key").stat().st_mode & 0o777 == 0o600
    other = Settings(home=tmp_path / "other")
    with pytest.raises(TokenError):
        TokenSigner(other.secret("token_key")).verify(token)
