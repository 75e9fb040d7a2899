"""Revoked bearer tokens: written by ``inplay token revoke``, read by every replica.

Tokens are stateless (``domain.identity.TokenSigner``), so a revocation is a list every
replica checks: token ids (kept until the longest-lived token they could name has expired)
and subjects (every token of the subject issued at or before the revocation). A replica keeps
a copy and reads it again when it is older than ``refresh_s`` (one round trip, on the request
that finds it stale), so a revocation takes effect on every replica within ``refresh_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from domain.identity import Revoked, TokenClaims
from storage.keys import REVOKED_SUBJECTS, REVOKED_TOKENS

log = logging.getLogger(__name__)

# how stale a replica's copy of the revocations may get (the propagation delay)
REFRESH_S = 1.0


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Revocations:
    """The revocation lists in Redis (synchronous client: the CLI, and the replicas' cache)."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.redis, self.clock = client, clock

    def revoke_token(self, token_id: str, keep_s: int) -> None:
        """Refuse the token ``token_id`` from now on (remembered ``keep_s`` seconds: at least
        the lifetime of the tokens issued)."""
        self.redis.zadd(REVOKED_TOKENS, {token_id: int(self.clock()) + int(keep_s)})

    def revoke_subject(self, subject: str) -> int:
        """Refuse every token of ``subject`` issued until now; the revocation time (s)."""
        now = int(self.clock())
        self.redis.hset(REVOKED_SUBJECTS, subject, str(now))
        return now

    def load(self) -> Revoked:
        """What is revoked now (token ids past their keeping time are dropped)."""
        now = int(self.clock())
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(REVOKED_TOKENS, "-inf", now)
            pipe.zrange(REVOKED_TOKENS, 0, -1)
            pipe.hgetall(REVOKED_SUBJECTS)
            _, ids, subjects = pipe.execute()
        return Revoked(frozenset(_s(i) for i in ids),
                       {_s(k): int(v) for k, v in subjects.items()})


class RevocationCache:
    """A replica's copy of the revocations, read again when older than ``refresh_s``.

    A failed read keeps the copy it has (and tries again after ``refresh_s``): Redis being
    unreachable does not turn every request away here; the wallet refuses money moves then
    anyway.
    """

    def __init__(self, store: Revocations, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.refresh_s, self.clock = store, refresh_s, clock
        self._current = Revoked()
        self._loaded_at: float | None = None

    def revoked(self, claims: TokenClaims) -> bool:
        """True when the token with ``claims`` is revoked (as of at most ``refresh_s`` ago)."""
        now = self.clock()
        if self._loaded_at is None or now - self._loaded_at >= self.refresh_s:
            self._loaded_at = now
            try:
                self._current = self.store.load()
            except (redis.RedisError, OSError) as exc:
                log.warning("could not read the token revocations: %s", exc)
        return self._current.covers(claims)
