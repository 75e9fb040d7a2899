"""Password hashing and bearer tokens: pure, no Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from cluster.config import Settings
from domain.clock import ManualClock
from domain.identity import (
    TOKEN_ID_RE,
    Argon2Params,
    PasswordHasher,
    Revoked,
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


def test_a_token_names_its_key_its_id_and_when_it_was_issued() -> None:
    clock = ManualClock(1_000.0)
    signer = TokenSigner(KEY, clock)
    issued = signer.issue("acct1", Role.PLAYER, 60)
    claims = signer.verify(issued.token)
    assert claims == issued.claims
    assert (claims.issued_at, claims.expires_at, claims.key_id) == (1_000, 1_060, signer.key_id)
    assert TOKEN_ID_RE.fullmatch(claims.token_id)
    assert signer.issue("acct1", Role.PLAYER, 60).claims.token_id != claims.token_id
    assert KEY not in signer.key_id and TokenSigner("z" * 32).key_id != signer.key_id
    payload = base64.urlsafe_b64decode(issued.token.split(".")[0] + "==").decode()
    assert payload == f"v2|{signer.key_id}|{claims.token_id}|acct1|player|1000|1060"


def _same_bytes_other_text(text: str) -> str | None:
    """``text`` with its last character changed so that it decodes to the same bytes (the
    unused low bits of a base64 character), if there is such a change."""
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        other = text[:-1] + char
        if other != text and base64.urlsafe_b64decode(other + "=" * (-len(other) % 4)) \
                == decoded:
            return other
    return None


def test_only_the_one_canonical_encoding_of_a_token_is_accepted() -> None:
    signer = TokenSigner(KEY, ManualClock())
    token = signer.issue("acct1", "player", 60).token
    body, sig = token.split(".")
    signer.verify(token)
    equivalent_sig = _same_bytes_other_text(sig)
    assert equivalent_sig is not None  # 32 bytes in 43 characters: 2 bits are unused
    variants = {
        "altered trailing signature character": f"{body}.{equivalent_sig}",
        "'!!' inserted in the signature": f"{body}.{sig[:10]}!!{sig[10:]}",
        "'!!' inserted in the payload": f"{body[:5]}!!{body[5:]}.{sig}",
        "'==' appended": f"{token}==",
        "'=' appended": f"{token}=",
        "padding on the payload": f"{body}{'=' * (-len(body) % 4) or '='}.{sig}",
        "standard base64 alphabet": token.replace("-", "+").replace("_", "/")
        if "-" in token or "_" in token else f"{token}+",
        "whitespace inside": f"{body}.{sig[:20]} {sig[20:]}",
        "a newline after": f"{token}\n",
    }
    equivalent_body = _same_bytes_other_text(body)
    if equivalent_body is not None:
        variants["altered trailing payload character"] = f"{equivalent_body}.{sig}"
    for name, bad in variants.items():
        assert bad != token, name
        with pytest.raises(TokenError, match="malformed"):
            signer.verify(bad)


def test_tokens_of_the_earlier_format_are_refused() -> None:
    payload = b"v1|acct1|operator|9999999999"
    mac = hmac.new(KEY.encode(), payload, hashlib.sha256).digest()
    old = f"{_b64(payload)}.{_b64(mac)}"
    with pytest.raises(TokenError, match="version"):
        TokenSigner(KEY).verify(old)


def test_revoked_covers_a_token_id_and_a_subjects_earlier_tokens() -> None:
    clock = ManualClock(1_000.0)
    signer = TokenSigner(KEY, clock)
    first = signer.issue("acct1", "player", 600).claims
    clock.advance(10)
    later = signer.issue("acct1", "player", 600).claims
    other = signer.issue("acct2", "player", 600).claims
    assert not Revoked().covers(first)
    by_id = Revoked(token_ids=frozenset({first.token_id}))
    assert by_id.covers(first) and not by_id.covers(later) and not by_id.covers(other)
    by_subject = Revoked(subjects={"acct1": 1_005})
    assert by_subject.covers(first) and not by_subject.covers(later)
    assert not by_subject.covers(other)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
