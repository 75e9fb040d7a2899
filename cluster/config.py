"""One typed settings object for inplay.

Sources, later ones win: built-in defaults → a TOML file (``INPLAY_CONFIG`` or
``$INPLAY_HOME/config.toml``) → environment variables (``INPLAY_<FIELD>``, plus the bare
``REDIS_URL``). ``INPLAY_HOME`` (default ``~/.inplay``) holds the data, logs and generated
secrets of one local installation; two homes never share anything.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the builders import lazily: the CLI must start fast
    from actors.event_actor import ActorConfig
    from actors.saga import SagaConfig
    from actors.settlement import SettlementConfig
    from actors.sweeper import SweeperConfig
    from serve_apps.feed import FeedConfig
    from serve_apps.partner import PartnerConfig
    from serve_apps.services import ApiConfig
    from storage.accounts import AccountsConfig
    from storage.wallet import WalletConfig


class Settings(BaseModel):
    """Every knob inplay reads, with safe defaults for one machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(default_factory=lambda: Path.home() / ".inplay")
    redis_url: str | None = None
    redis_appendfsync: Literal["always", "everysec"] = "always"
    # the embedded server runs on the jemalloc that Ray's wheel ships (LD_PRELOAD); the bundled
    # binary's glibc malloc cost about a quarter of its CPU under bet load
    redis_jemalloc: bool = True
    # replicas that must acknowledge a journal write (Redis WAIT) on a replicated deployment
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=100, ge=1)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    # feed ingest: Serve's gRPC port (on http_host: loopback by default), where providers
    # publish (inplay.feed.v1.Feed, serve_apps/feed.py), and the ingest's replicas
    feed_port: int = Field(default=50051, ge=1, le=65535)
    feed_replicas: int = Field(default=1, ge=1)
    # the partner API (inplay.partner.v1.Partner, serve_apps/partner.py), on the same gRPC
    # port: its replicas, and how often an open StreamBets looks for bet changes in Redis
    partner_replicas: int = Field(default=1, ge=1)
    partner_stream_poll_s: float = Field(default=0.25, ge=0.05, le=10)
    ray_port: int = Field(default=26380, ge=1, le=65535)
    ray_dashboard_host: str = "127.0.0.1"
    ray_dashboard_port: int = Field(default=8265, ge=1, le=65535)
    # the head `inplay up` starts keeps Ray's own servers (GCS, raylet, agents, workers) on
    # loopback; otherwise `ray start` turns --node-ip-address=127.0.0.1 into the machine's
    # address and they listen on every interface. False lets other nodes join this head.
    ray_loopback_only: bool = True
    ray_address: str | None = None
    namespace: str = "inplay"

    snapshot_every: int = Field(default=5000, ge=1)
    commit_batch_max: int = Field(default=1024, ge=1)
    default_in_play_delay_s: float = Field(default=5.0, ge=0)
    default_max_liability: Decimal = Decimal("100000.00")
    default_max_stake: Decimal = Decimal("10000.00")
    default_max_payout: Decimal = Decimal("250000.00")

    token_ttl_s: int = Field(default=12 * 3600, ge=60)
    cooling_off_s: int = Field(default=7 * 24 * 3600, ge=0)
    idempotency_ttl_s: int = Field(default=7 * 24 * 3600, ge=24 * 3600)
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    rate_limit_burst: int = Field(default=40, ge=1)
    # POST /v1/sessions against password guessing: attempts an account name (whether or not
    # it exists) and an address get before a backoff (1 s, doubling per attempt, capped)
    login_free_attempts: int = Field(default=5, ge=1)
    login_backoff_cap_s: float = Field(default=30.0, gt=0, le=3600)
    login_address_free_attempts: int = Field(default=50, ge=1)
    login_address_backoff_cap_s: float = Field(default=300.0, gt=0, le=86_400)

    # "simulated": a demo identity provider verifies new accounts after kyc_delay_s;
    # "manual": accounts wait in the operator review queue
    kyc_provider: Literal["simulated", "manual"] = "simulated"
    kyc_delay_s: float = Field(default=2.0, ge=0)
    # a reservation older than this with no finished saga is resolved by the sweeper
    saga_stale_s: float = Field(default=10.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    # two replicas use both cores of a laptop; the HTTP stack, not the actor, is what costs
    api_replicas: int = Field(default=2, ge=1)
    media_region: str = "local"
    # odds: the regions with an odds cache (comma-separated; the first serves this machine's
    # API), and how long a feed may be silent before its events' markets are suspended
    odds_regions: str = Field(default="local", pattern=r"^[a-z0-9-]{1,32}(,[a-z0-9-]{1,32})*$")
    feed_timeout_s: float = Field(default=20.0, gt=0, le=600)
    # the demo league: match seconds per second (10: 90 minutes in 9), and how long each
    # match is open for pre-match bets before kick-off
    demo_speed: float = Field(default=10.0, gt=0, le=1000)
    demo_pre_match_s: float = Field(default=45.0, ge=0)
    # the odds application (/v1/events: event reads and the SSE stream): its replicas, the
    # requests each may hold (every open stream holds one), the stream's keep-alive comment
    odds_replicas: int = Field(default=1, ge=1)
    odds_max_ongoing_requests: int = Field(default=10_000, ge=1)
    # the media signalling and HLS routes (/v1/media/...): a deployment of their own, so that
    # video traffic never takes a bet's request slot; an LL-HLS player holds one per reload
    media_replicas: int = Field(default=1, ge=1)
    media_max_ongoing_requests: int = Field(default=2_000, ge=1)
    sse_keepalive_s: float = Field(default=15.0, gt=0, le=300)

    bet_batch_window_ms: float = Field(default=2.0, ge=0)
    # per event and API replica: more batches in flight = lower latency, smaller batches
    bet_batches_in_flight: int = Field(default=2, ge=1)
    bet_batch_max: int = Field(default=256, ge=1)
    # POST /v1/bets answered from ASGI around FastAPI's routing (serve_apps/app.py)
    api_fast_bets: bool = True
    # Serve's per-request watch for a client hanging up (serve_apps/app.py)
    api_watch_disconnects: bool = False
    # HAProxy's per-request metrics: one log datagram per request, parsed in Python by Serve's
    # HAProxyManager (~0.1 ms CPU per request, measured); the replicas' own Serve request
    # metrics stay on either way
    haproxy_request_metrics: bool = False
    bet_max_pending: int = Field(default=4096, ge=1)
    # settlement: how many settlement actors (events are spread over them), bets per round
    # trip, and how often each looks for work a kick did not bring
    settlement_actors: int = Field(default=2, ge=1, le=64)
    settlement_batch: int = Field(default=10_000, ge=1, le=100_000)
    settlement_sweep_s: float = Field(default=2.0, gt=0)
    # cash-out: the book's margin on the value it offers, and how long a quote stands
    cashout_margin: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1)
    cashout_quote_ttl_s: float = Field(default=10.0, gt=0, le=300)
    # a bet waiting longer than this for its batch is refused OVERLOADED (503) — load shedding
    bet_max_queue_ms: float = Field(default=1000, gt=0)

    # ---- what each layer gets (each defines the config it needs; this builds them)

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError("no Redis URL (inplay up passes the embedded one; else REDIS_URL)")
        return self.redis_url

    def actor_config(self) -> ActorConfig:
        from actors.event_actor import ActorConfig
        from domain.cashout import CashoutPolicy

        return ActorConfig(redis_url=self.require_redis_url(),
                           cashout=CashoutPolicy(self.cashout_margin, self.cashout_quote_ttl_s),
                           snapshot_every=self.snapshot_every,
                           commit_batch_max=self.commit_batch_max,
                           wait_replicas=self.redis_wait_replicas,
                           wait_timeout_ms=self.redis_wait_timeout_ms,
                           feed_timeout_s=self.feed_timeout_s,
                           regions=self.regions())

    def regions(self) -> tuple[str, ...]:
        """The odds regions, in order (the first is this machine's)."""
        return tuple(self.odds_regions.split(","))

    def wallet_config(self) -> WalletConfig:
        from storage.wallet import WalletConfig

        return WalletConfig(idempotency_ttl_s=self.idempotency_ttl_s,
                            rate_limit_per_s=self.rate_limit_per_s,
                            rate_limit_burst=self.rate_limit_burst)

    def accounts_config(self) -> AccountsConfig:
        from storage.accounts import AccountsConfig

        return AccountsConfig(cooling_off_s=self.cooling_off_s,
                              decision_ttl_s=self.idempotency_ttl_s)

    def saga_config(self) -> SagaConfig:
        from actors.saga import SagaConfig

        return SagaConfig(window_s=self.bet_batch_window_ms / 1000,
                          batch_max=self.bet_batch_max, max_pending=self.bet_max_pending,
                          max_queue_s=self.bet_max_queue_ms / 1000,
                          max_batches_in_flight=self.bet_batches_in_flight)

    def sweeper_config(self) -> SweeperConfig:
        from actors.sweeper import SweeperConfig

        return SweeperConfig(actor=self.actor_config(), wallet=self.wallet_config(),
                             stale_s=self.saga_stale_s, interval_s=self.sweep_interval_s)

    def settlement_config(self) -> SettlementConfig:
        from actors.settlement import SettlementConfig

        return SettlementConfig(actor=self.actor_config(), wallet=self.wallet_config(),
                                pool_size=self.settlement_actors, batch=self.settlement_batch,
                                sweep_interval_s=self.settlement_sweep_s)

    def api_config(self) -> ApiConfig:
        from serve_apps.services import ApiConfig, MarketDefaults
        from serve_apps.streams import StreamConfig
        from storage.login_throttle import LoginThrottleConfig

        return ApiConfig(
            redis_url=self.require_redis_url(), actor=self.actor_config(),
            wallet=self.wallet_config(), accounts=self.accounts_config(),
            saga=self.saga_config(),
            markets=MarketDefaults(self.default_in_play_delay_s, self.default_max_liability,
                                   self.default_max_stake, self.default_max_payout),
            token_ttl_s=self.token_ttl_s, kyc_provider=self.kyc_provider,
            kyc_delay_s=self.kyc_delay_s, media_region=self.media_region,
            fast_bets=self.api_fast_bets, watch_disconnects=self.api_watch_disconnects,
            settlement_pool=self.settlement_actors,
            streams=StreamConfig(keepalive_s=self.sse_keepalive_s),
            token_key_file=self.token_key_file(),
            login_throttle=LoginThrottleConfig(
                name_free=self.login_free_attempts, name_cap_s=self.login_backoff_cap_s,
                address_free=self.login_address_free_attempts,
                address_cap_s=self.login_address_backoff_cap_s))

    def feed_config(self) -> FeedConfig:
        from serve_apps.feed import FeedConfig

        return FeedConfig(actor=self.actor_config(), replicas=self.feed_replicas,
                          token_key_file=self.token_key_file())

    def partner_config(self) -> PartnerConfig:
        from serve_apps.partner import PartnerConfig

        return PartnerConfig(api=self.api_config(), replicas=self.partner_replicas,
                             poll_s=self.partner_stream_poll_s)

    @property
    def feed_target(self) -> str:
        """Where feed providers connect: ``host:port`` of a gRPC channel."""
        return f"{self.http_host}:{self.feed_port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def secret(self, name: str, nbytes: int = 32, *, hex_digits: bool = False) -> str:
        """A secret of this home, generated on first use and kept (mode 0600).

        ``hex_digits``: generate it as hex (the format Ray's own token generator uses).
        """
        path = self.secret_path(name)
        if path.exists():
            return path.read_text().strip()
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_hex(nbytes) if hex_digits else secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value

    def secret_path(self, name: str) -> Path:
        return self.secrets_dir / name

    def token_key_file(self) -> str:
        """Where the token-signing key is (created on first use). Replicas are given this
        path and read the key themselves: the key is never a deployment argument, which
        Serve's config and dashboard would show."""
        self.secret("token_key")
        return str(self.secret_path("token_key"))


_ENV_PREFIX = "INPLAY_"


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    fields = Settings.model_fields
    out: dict[str, Any] = {}
    for name in fields:
        key = _ENV_PREFIX + name.upper()
        if key in env:
            out[name] = env[key]
    if env.get("REDIS_URL"):
        out["redis_url"] = env["REDIS_URL"]
    return out


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the optional TOML file, the environment, overrides."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    home = Path(env.get("INPLAY_HOME") or overrides.get("home") or Path.home() / ".inplay")
    config_file = Path(env.get("INPLAY_CONFIG") or home / "config.toml")
    if config_file.exists():
        values.update(tomllib.loads(config_file.read_text()))
    values.update(_env_overrides(env))
    values["home"] = home
    values.update(overrides)
    return Settings.model_validate(values)
