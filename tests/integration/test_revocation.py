"""Token revocation against a real valkey-server: what ``inplay token revoke`` writes, and
every replica's authenticator refusing it once its copy is refreshed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from domain import errors
from domain.clock import ManualClock
from domain.identity import Role, TokenSigner
from serve_apps.services import Authenticator
from storage.keys import REVOKED_TOKENS
from storage.revocations import RevocationCache, Revocations

KEY = "r" * 32


@pytest.fixture()
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class Replica:
    """One replica's authenticator, with a clock of its own for its cache."""

    def __init__(self, client: redis.Redis, wall: ManualClock) -> None:
        self.mono = ManualClock(0.0)
        self.auth = Authenticator(TokenSigner(KEY, wall), 600,
                                  RevocationCache(Revocations(client, wall), 1.0, self.mono))

    def accepts(self, token: str) -> bool:
        try:
            self.auth.principal(f"Bearer {token}")
        except errors.Unauthenticated:
            return False
        return True


def test_a_revoked_token_id_is_refused_by_every_replica_within_the_refresh(
        sync_redis: redis.Redis) -> None:
    wall = ManualClock()
    replicas = [Replica(sync_redis, wall), Replica(sync_redis, wall)]
    signer = TokenSigner(KEY, wall)
    issued, other = signer.issue("a1", Role.PLAYER, 600), signer.issue("a1", Role.PLAYER, 600)
    assert all(r.accepts(issued.token) for r in replicas)
    Revocations(sync_redis, wall).revoke_token(issued.claims.token_id, 600)
    # each replica's copy is at most refresh_s old: after that, refused everywhere
    for replica in replicas:
        replica.mono.advance(1.0)
        assert not replica.accepts(issued.token)
        assert replica.accepts(other.token)  # the same subject's other token is not
    with pytest.raises(errors.Unauthenticated, match="revoked"):
        replicas[0].auth.principal(f"Bearer {issued.token}")


def test_revoking_a_subject_refuses_its_tokens_so_far_not_later_ones(
        sync_redis: redis.Redis) -> None:
    wall = ManualClock()
    replica = Replica(sync_redis, wall)
    signer = TokenSigner(KEY, wall)
    before = signer.issue("a2", Role.OPERATOR, 600).token
    bystander = signer.issue("a3", Role.OPERATOR, 600).token
    wall.advance(5)
    Revocations(sync_redis, wall).revoke_subject("a2")
    wall.advance(1)
    after = signer.issue("a2", Role.OPERATOR, 600).token
    replica.mono.advance(1.0)
    assert not replica.accepts(before)
    assert replica.accepts(after) and replica.accepts(bystander)


def test_revoked_ids_are_forgotten_once_no_token_could_still_be_valid(
        sync_redis: redis.Redis) -> None:
    wall = ManualClock()
    store = Revocations(sync_redis, wall)
    store.revoke_token("t" + "0" * 24, 60)
    assert "t" + "0" * 24 in store.load().token_ids
    wall.advance(61)
    assert "t" + "0" * 24 not in store.load().token_ids
    assert sync_redis.zscore(REVOKED_TOKENS, "t" + "0" * 24) is None


def test_an_unreachable_redis_keeps_the_copy_it_has() -> None:
    wall = ManualClock()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    replica = Replica(dead, wall)
    token = TokenSigner(KEY, wall).issue("a4", Role.PLAYER, 600).token
    assert replica.accepts(token)
