"""Throttling ``POST /v1/sessions`` against password guessing, per account name and per
client address, in Redis (``login_throttle.lua``: one atomic step per counter).

Every attempt is counted before the password is checked (so a burst of parallel guesses is
throttled as a sequence would be); a successful login forgets its name's count and gives its
address the attempt back, so only failures add up. Past ``name_free`` counted attempts, a name
must wait ``base_s``, doubling with each further attempt up to ``name_cap_s``: a stranger can
delay a player's login by at most that cap, never lock the account. An address gets
``address_free`` attempts before the same backoff (up to ``address_cap_s``) applies to
everything it tries. Names are counted whether or not an account exists, so the answers
never say which do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from domain.clock import Clock, ms
from domain.errors import RateLimited
from storage.keys import login_address_key, login_name_key
from storage.scripts import SCRIPTS, ScriptRunner

_THROTTLE = SCRIPTS["login_throttle"]


@dataclass(frozen=True)
class LoginThrottleConfig:
    """How many login attempts go through before backing off, and how far it backs off."""

    name_free: int = 5
    name_cap_s: float = 30.0
    address_free: int = 50
    address_cap_s: float = 300.0
    base_s: float = 1.0
    # a count is forgotten this long after its last counted attempt
    window_s: float = 15 * 60.0


class LoginThrottle:
    """The two counters of a login: its account name's and its address's."""

    def __init__(self, client: aioredis.Redis, config: LoginThrottleConfig | None = None,
                 clock: Clock = time.time) -> None:
        self.config = config or LoginThrottleConfig()
        self.clock = clock
        self.scripts = ScriptRunner(client)

    def _call(self, key: str, op: str, free: int, cap_s: float) -> tuple[list[str], list[object]]:
        cfg = self.config
        return _THROTTLE.call({"state": key}, {
            "now": ms(self.clock()), "op": op, "free": free, "base_ms": ms(cfg.base_s),
            "cap_ms": ms(cap_s), "window_ms": ms(cfg.window_s)})

    async def attempt(self, username: str, address: str) -> None:
        """Count a login attempt; RateLimited (``retry_after_s``) if it must wait first
        (a refused attempt counts for neither). An unknown address (``""``: a proxy in front
        that did not say whose request it is) counts only for the name: counted as one
        address, everyone's logins would share one budget, and anyone could spend it."""
        cfg = self.config
        name = login_name_key(username or "")
        calls = [self._call(name, "attempt", cfg.name_free, cfg.name_cap_s)]
        if address:
            addr = login_address_key(address)
            calls.append(self._call(addr, "attempt", cfg.address_free, cfg.address_cap_s))
        waits = [int(w) for w in await self.scripts.run_many(_THROTTLE, calls)]
        name_wait, addr_wait = waits[0], waits[1] if address else 0
        if not name_wait and not addr_wait:
            return
        # the one that let it through gives the attempt back
        counted = [(name, name_wait)] + ([(addr, addr_wait)] if address else [])
        refunds = [self._call(key, "refund", 0, 0) for key, wait in counted if not wait]
        if refunds:
            await self.scripts.run_many(_THROTTLE, refunds)
        raise RateLimited("too many login attempts; try again later",
                          retry_after_s=max(name_wait, addr_wait) / 1000)

    async def succeeded(self, username: str, address: str) -> None:
        """A login went through: its name starts afresh, its address gets the attempt back."""
        calls = [self._call(login_name_key(username or ""), "forget", 0, 0)]
        if address:
            calls.append(self._call(login_address_key(address), "refund", 0, 0))
        await self.scripts.run_many(_THROTTLE, calls)
