"""The real API app over real services (a valkey-server from the fixtures), for tests."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from actors.event_actor import ActorConfig
from domain.identity import Argon2Params, PasswordHasher
from serve_apps.services import ApiConfig, ApiServices
from storage.wallet import WalletConfig

TOKEN_KEY = "k" * 32


def token_key_file() -> str:
    """A file holding ``TOKEN_KEY`` (mode 0600), as a home's secrets hold the real one: what
    Serve replicas are given (``ApiConfig.token_key_file``) instead of the key."""
    path = Path(tempfile.gettempdir()) / f"inplay-test-token-key-{os.getuid()}"
    if not path.exists() or path.read_text() != TOKEN_KEY:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(TOKEN_KEY)
    return str(path)


def api_services(redis_url: str, **changes: object) -> ApiServices:
    """The services of one API replica; a cheap password hash, a generous rate limit."""
    config = ApiConfig(redis_url=redis_url, actor=ActorConfig(redis_url=redis_url),
                       wallet=WalletConfig(rate_limit_per_s=1000, rate_limit_burst=1000),
                       kyc_provider="manual")
    svc = ApiServices.build(replace(config, **changes), TOKEN_KEY)  # type: ignore[arg-type]
    svc.accounts.accounts.hasher = PasswordHasher(Argon2Params(time_cost=1, memory_kib=1024))
    return svc
