"""Accounts against a real valkey-server: registration, login, KYC, limits, exclusion."""

from __future__ import annotations

from decimal import Decimal

import argon2
import pytest
import redis.asyncio as aioredis

from domain.clock import ManualClock
from domain.errors import (
    BadCredentials,
    InvalidAmount,
    Underage,
    UnknownAccount,
    UsernameTaken,
    ValidationFailed,
)
from domain.identity import (
    Argon2Params,
    KycStatus,
    PasswordHasher,
    Role,
    ScryptParams,
    TokenSigner,
    scrypt_hash,
)
from serve_apps.views import account_body
from storage.accounts import Accounts, AccountsConfig, SimulatedKycProvider
from storage.keys import acct_key

FAST_HASH = PasswordHasher(Argon2Params(time_cost=1, memory_kib=1024))


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


CONFIG = AccountsConfig(cooling_off_s=3 * 86_400)


@pytest.fixture()
def accounts(client: aioredis.Redis, clock: ManualClock) -> Accounts:
    return Accounts(client, CONFIG, clock, hasher=FAST_HASH)


async def test_register_and_get(accounts: Accounts) -> None:
    acct = await accounts.register("alice", "s3cret-pass", "au", "1990-02-28")
    assert acct.jurisdiction == "AU" and acct.kyc_status is KycStatus.PENDING
    assert acct.role is Role.PLAYER and acct.is_open
    again = await accounts.get(acct.account_id)
    assert again == acct
    body = account_body(again)
    assert body["kyc_status"] == "pending" and body["limits"]["stake_max"]["value"] is None
    with pytest.raises(UnknownAccount):
        await accounts.get("nope")


async def test_usernames_are_unique(accounts: Accounts) -> None:
    await accounts.register("bob", "s3cret-pass", "GB", "1980-01-01")
    with pytest.raises(UsernameTaken):
        await accounts.register("BOB", "other-pass", "GB", "1980-01-01")


async def test_only_adults_register(accounts: Accounts) -> None:
    # the clock reads 2026-01-01: born 2008-01-02 is one day short of 18
    with pytest.raises(Underage) as info:
        await accounts.register("kid", "s3cret-pass", "GB", "2008-01-02")
    assert info.value.code == "UNDERAGE"
    assert (await accounts.register("adult", "s3cret-pass", "GB", "2008-01-01")).is_open


@pytest.mark.parametrize("field,args", [
    ("jurisdiction", ("carol", "s3cret-pass", "XX", "1990-01-01")),
    ("jurisdiction", ("carol", "s3cret-pass", "AUS", "1990-01-01")),
    ("username", ("c", "s3cret-pass", "GB", "1990-01-01")),
    ("password", ("carol", "short", "GB", "1990-01-01")),
    ("date_of_birth", ("carol", "s3cret-pass", "GB", "01/01/1990")),
])
async def test_registration_is_validated(accounts: Accounts, field: str,
                                         args: tuple[str, str, str, str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        await accounts.register(*args)
    assert info.value.facts["field"] == field


class CountingHasher(PasswordHasher):
    """Records the cost parameters of every argon2id check."""

    def __init__(self) -> None:
        self.checked: list[tuple[int, int, int]] = []
        super().__init__()

    def _check_argon2(self, password: str, encoded: str) -> bool:
        prm = argon2.extract_parameters(encoded)
        self.checked.append((prm.memory_cost, prm.time_cost, prm.parallelism))
        return super()._check_argon2(password, encoded)


async def test_login_answers_the_same_for_unknown_user_and_wrong_password(
        client: aioredis.Redis, clock: ManualClock) -> None:
    # the same answer, and the same work: an unknown user is checked against a real hash of
    # the same cost, so its time does not reveal which usernames exist
    hasher = CountingHasher()
    accounts = Accounts(client, CONFIG, clock, hasher=hasher)
    acct = await accounts.register("dave", "s3cret-pass", "GB", "1990-01-01")
    assert (await accounts.authenticate("dave", "s3cret-pass")).account_id == acct.account_id

    async def failure(username: str) -> tuple[str, list[tuple[int, int, int]]]:
        hasher.checked.clear()
        with pytest.raises(BadCredentials) as info:
            await accounts.authenticate(username, "wrong-pass")
        return info.value.detail, list(hasher.checked)

    wrong, unknown = await failure("dave"), await failure("nobody")
    assert wrong[0] == unknown[0]
    default = (hasher.params.memory_kib, hasher.params.time_cost, hasher.params.parallelism)
    assert wrong[1] == unknown[1] == [default]


async def test_new_passwords_are_stored_as_argon2id(accounts: Accounts,
                                                    client: aioredis.Redis) -> None:
    acct = await accounts.register("gina", "s3cret-pass", "GB", "1990-01-01")
    stored = await client.hget(acct_key(acct.account_id, "acct"), "pw")  # type: ignore[misc]
    assert stored.decode().startswith("$argon2id$v=19$m=1024,t=1,p=1$")


async def test_a_stored_scrypt_hash_logs_in_and_is_replaced_by_argon2id(
        accounts: Accounts, client: aioredis.Redis) -> None:
    acct = await accounts.register("hank", "s3cret-pass", "GB", "1990-01-01")
    key = acct_key(acct.account_id, "acct")
    old = scrypt_hash("old-password", ScryptParams(n=2**8))  # as accounts were stored before
    await client.hset(key, "pw", old)  # type: ignore[misc]
    with pytest.raises(BadCredentials):  # a wrong password: refused, the hash left alone
        await accounts.authenticate("hank", "s3cret-pass")
    assert (await client.hget(key, "pw")).decode() == old  # type: ignore[misc]
    assert (await accounts.authenticate("hank", "old-password")).account_id == acct.account_id
    upgraded = (await client.hget(key, "pw")).decode()  # type: ignore[misc]
    assert upgraded.startswith("$argon2id$") and upgraded != old
    # the new hash: the same password logs in, a wrong one still fails
    assert (await accounts.authenticate("hank", "old-password")).account_id == acct.account_id
    assert (await client.hget(key, "pw")).decode() == upgraded  # type: ignore[misc]
    with pytest.raises(BadCredentials):
        await accounts.authenticate("hank", "s3cret-pass")


async def test_tokens_for_accounts(accounts: Accounts, clock: ManualClock) -> None:
    acct = await accounts.register("erin", "s3cret-pass", "GB", "1990-01-01")
    signer = TokenSigner("k" * 32, clock)
    issued = signer.issue(acct.account_id, acct.role, 3600)
    assert signer.verify(issued.token).subject == acct.account_id
    # the same key: another replica verifies it too
    assert TokenSigner("k" * 32, clock).verify(issued.token).role is Role.PLAYER


async def test_simulated_kyc_verifies_after_its_delay(accounts: Accounts, clock: ManualClock
                                                      ) -> None:
    provider = SimulatedKycProvider(delay_s=5, clock=clock)
    ok = await accounts.register("frank", "s3cret-pass", "GB", "1990-01-01")
    bad = await accounts.register("rejectme", "s3cret-pass", "GB", "1990-01-01")
    for acct in (ok, bad):
        await accounts.submit_kyc(acct.account_id, provider)
    assert await accounts.poll_kyc(ok.account_id, provider) is KycStatus.PENDING
    clock.advance(5)
    assert await accounts.poll_kyc(ok.account_id, provider) is KycStatus.VERIFIED
    assert await accounts.run_kyc(bad.account_id, provider) is KycStatus.REJECTED
    history = await accounts.kyc_history(ok.account_id)
    assert history[-1]["by"] == "provider:simulated" and "verified" in history[-1]["reason"]


async def test_operator_kyc_decision_keeps_its_reason(accounts: Accounts) -> None:
    acct = await accounts.register("gina", "s3cret-pass", "GB", "1990-01-01")
    decided = await accounts.decide_kyc(acct.account_id, "rejected", "document expired",
                                        "ops:alice")
    assert decided.kyc_status is KycStatus.REJECTED and decided.kyc_reason == "document expired"
    await accounts.decide_kyc(acct.account_id, "verified", "new passport", "ops:alice")
    reasons = [h["reason"] for h in await accounts.kyc_history(acct.account_id)]
    assert reasons == ["document expired", "new passport"]
    with pytest.raises(ValidationFailed):
        await accounts.decide_kyc(acct.account_id, "verified", "", "ops:alice")


async def test_limit_answers_say_when(accounts: Accounts, clock: ManualClock) -> None:
    acct = await accounts.register("hank", "s3cret-pass", "GB", "1990-01-01")
    changes = await accounts.set_limits(acct.account_id, {"deposit_daily": "50",
                                                          "loss_daily": Decimal("20.00")})
    assert all(c.immediate and c.effective_at == "2026-01-01T00:00:00Z" for c in changes)
    (up,) = await accounts.set_limits(acct.account_id, {"deposit_daily": "80.00"})
    assert not up.immediate and up.effective_at == "2026-01-04T00:00:00Z"
    view = (await accounts.get(acct.account_id)).limits["deposit_daily"]
    assert view.value == Decimal("50.00") and view.pending == Decimal("80.00")
    assert view.pending_effective_at == "2026-01-04T00:00:00Z"
    clock.advance(3 * 86_400)
    assert (await accounts.get(acct.account_id)).limits["deposit_daily"].value == Decimal(80)
    with pytest.raises(ValidationFailed):
        await accounts.set_limits(acct.account_id, {"bet_max": "1"})
    with pytest.raises(InvalidAmount):
        await accounts.set_limits(acct.account_id, {"stake_max": "0.001"})
    with pytest.raises(UnknownAccount):
        await accounts.set_limits("ghost", {"stake_max": "1"})


@pytest.mark.parametrize("period,until", [
    ("3m", "2026-04-01T00:00:00Z"), ("1y", "2027-01-01T00:00:00Z"), ("permanent", None)])
async def test_self_exclusion_periods(accounts: Accounts, period: str, until: str | None
                                      ) -> None:
    acct = await accounts.register("ivy", "s3cret-pass", "GB", "1990-01-01")
    exclusion = await accounts.self_exclude(acct.account_id, period)
    assert exclusion.until_rfc3339 == until
    got = await accounts.get(acct.account_id)
    assert got.excluded_until is not None and got.exclusion_permanent == (until is None)
    with pytest.raises(ValidationFailed):
        await accounts.self_exclude(acct.account_id, "1w")


async def test_principals_log_in_with_their_role(accounts: Accounts) -> None:
    principal = await accounts.create_principal("ops-alice", "operator")
    got = await accounts.authenticate("ops-alice", principal.password)
    assert got.role is Role.OPERATOR and got.kyc_status is KycStatus.NOT_APPLICABLE
    with pytest.raises(ValidationFailed):
        await accounts.create_principal("player-x", "player")


async def test_close_is_recorded(accounts: Accounts) -> None:
    acct = await accounts.register("jack", "s3cret-pass", "GB", "1990-01-01")
    assert not (await accounts.close(acct.account_id)).is_open
    with pytest.raises(UnknownAccount):
        await accounts.close("ghost")
