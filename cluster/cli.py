"""The ``inplay`` command: up, down, status, token create, token revoke, test.

``inplay up [--demo] [--detach]`` starts the embedded Redis (unless ``REDIS_URL`` is set), a
Ray head on ``INPLAY_RAY_PORT`` (never 6379), the saga sweeper and the Serve apps, prints
where everything is, and stays in the foreground until Ctrl-C (or returns once healthy with
``--detach``). Everything listens on loopback unless configured otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from cluster.config import Settings, load_settings


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- up / down / status


def cmd_up(args: argparse.Namespace) -> int:
    from cluster import local
    from cluster.processes import allocator_of

    settings = load_settings()
    state = local.RunState.load(settings)
    if state is not None and _reachable(state.http_url):
        _say(f"inplay is already running for {settings.home} at {state.http_url}")
        return 1
    busy = local.busy_ports(settings)
    if busy:
        _say(f"cannot start: port(s) {busy} already in use (set INPLAY_HTTP_PORT, "
             "INPLAY_RAY_PORT, INPLAY_RAY_DASHBOARD_PORT, INPLAY_FEED_PORT)")
        return 1
    local.apply_serve_env()
    _say(f"inplay home: {settings.home}")
    redis_url, redis_pid, embedded = local.start_redis(settings)
    _say("redis: " + ("embedded valkey-server (AOF appendfsync "
                      f"{settings.redis_appendfsync}, {allocator_of(redis_pid)}), "
                      f"pid {redis_pid}" if embedded and redis_pid else "external (REDIS_URL)"))
    settings = settings.model_copy(update={"redis_url": redis_url})
    address, session = settings.ray_address or "", ""
    if not address:
        local.ensure_ray_token(settings)
        address, session = local.start_ray_head(settings)
    http_url = f"http://{settings.http_host}:{settings.http_port}"
    dashboard = f"http://{settings.ray_dashboard_host}:{settings.ray_dashboard_port}"
    state = local.RunState(redis_url, redis_pid, embedded, address, session, http_url, dashboard,
                           feed_target=settings.feed_target)
    state.save(settings)
    try:
        _deploy(settings, address, http_url, demo=args.demo)
    except Exception as exc:
        _say(f"inplay up failed: {exc}")
        _teardown(settings, state)
        return 1
    _say(f"\nAPI        {http_url}\nAPI docs   {http_url}/docs\n"
         f"web page   {http_url}/\nRay dash   {dashboard}\n"
         f"feed gRPC  {settings.feed_target}  (inplay.feed.v1.Feed; metadata application: "
         "feed, authorization: Bearer <inplay token create --role feed NAME>)\n"
         f"partner    {settings.feed_target}  (gRPC inplay.partner.v1.Partner; metadata "
         "application: partner, authorization: Bearer <a player token>)\n")
    if args.detach:
        _say("running in the background; stop with: inplay down")
        return 0
    _say("press Ctrl-C to stop")
    _wait_for_signal()
    _teardown(settings, state)
    return 0


def _deploy(settings: Settings, address: str, http_url: str, demo: bool) -> None:
    import ray
    from ray import serve

    from cluster import local
    from cluster.deploy import (
        MEDIA_APP,
        MEDIA_ROUTE,
        ODDS_APP,
        application,
        feed_application,
        feed_grpc_options,
        media_application,
        odds_application,
        partner_application,
        start_services,
    )
    from serve_apps.feed import FEED_APP, FEED_ROUTE
    from serve_apps.partner import PARTNER_APP, PARTNER_ROUTE

    ray.init(address=address, namespace="inplay", log_to_driver=False)
    start_services(settings)
    # gRPC on the feed's port: HAProxy listens there (on http_host) for the feed application
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port},
                grpc_options=feed_grpc_options(settings))
    # the replicas read the token key from this home's secrets themselves: it is never a
    # deployment argument (Serve's config and dashboard show those)
    serve.run(application(settings), name="inplay", route_prefix="/",
              blocking=False)
    # event reads and the odds stream: HAProxy sends /v1/events/... here (longest prefix)
    serve.run(odds_application(settings), name=ODDS_APP,
              route_prefix="/v1/events", blocking=False)
    # WHIP/WHEP and HLS: HAProxy sends /v1/media/... here, never to the bets' replicas
    serve.run(media_application(settings), name=MEDIA_APP,
              route_prefix=MEDIA_ROUTE, blocking=False)
    # feed ingest over gRPC (the route prefix only puts it among HAProxy's backends)
    serve.run(feed_application(settings), name=FEED_APP, route_prefix=FEED_ROUTE,
              blocking=False)
    # the partner API over gRPC, on the same port (serve_apps/partner.py)
    serve.run(partner_application(settings), name=PARTNER_APP,
              route_prefix=PARTNER_ROUTE, blocking=False)
    health = local.wait_healthy(http_url)
    _say(f"healthy: {health['checks']}")
    if demo:
        _seed_demo(settings, address, http_url)


def _seed_demo(settings: Settings, address: str, http_url: str) -> None:
    from cluster import demo, local

    operator_token = _issue_token(settings, "operator", "demo-operator")
    publisher_token = _issue_token(settings, "publisher", "demo-publisher")
    passwords = {name: demo_password(settings, name) for name in demo.DEMO_PLAYERS}
    feed_token = _issue_token(settings, "feed", demo.DEMO_PROVIDER)
    creds = demo.seed(http_url, operator_token, publisher_token, passwords)
    demo.start_demo_actors(http_url, settings.media_region)
    # the league is a feed provider like any other: its own program over the public APIs
    subprocess.run([sys.executable, "-m", "simulations.league", "start", "--api", http_url,
                    "--feed", settings.feed_target, "--speed", str(settings.demo_speed),
                    "--pre-match", str(settings.demo_pre_match_s)], check=True,
                   stdout=subprocess.DEVNULL,
                   env={**os.environ, **local.loopback_env(settings), "RAY_ADDRESS": address,
                        "INPLAY_OPERATOR_TOKEN": operator_token,
                        "INPLAY_FEED_TOKEN": feed_token})
    event_id = demo.wait_for_match(http_url)
    _say(f"\ndemo match: {event_id}   ({http_url}/ follows the match in play)")
    for name, password in creds.players:
        _say(f"player: {name} / {password}")
    _say(f"operator token: {operator_token}")


def demo_password(settings: Settings, name: str) -> str:
    """A demo player's password: a secret of this home, generated once, the same every `up`."""
    return f"{name}-{settings.secret(f'demo_{name}_password', 6)}"


def cmd_demo_password(args: argparse.Namespace) -> int:
    """Print a demo player's password (what `inplay up --demo` printed for it)."""
    from cluster import demo

    if args.name not in demo.DEMO_PLAYERS:
        print(f"inplay demo-password: no demo player {args.name!r} "
              f"(there are {', '.join(demo.DEMO_PLAYERS)})", file=sys.stderr)
        return 2
    _say(demo_password(load_settings(), args.name))
    return 0


def _reachable(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _teardown(settings: Settings, state: Any) -> None:
    from cluster import local

    _say("stopping inplay ...")
    try:
        import ray

        # no serve.shutdown(): it waits up to 30 s for a controller that is about to be
        # stopped anyway; the whole Ray session of this home goes below
        if ray.is_initialized():
            ray.shutdown()
    except Exception as exc:
        _say(f"  ray disconnect: {exc}")
    killed = local.stop_ray(state.ray_session)
    _say(f"  ray: stopped {killed} processes")
    local.stop_redis(state)
    _say("  redis: stopped" if state.redis_embedded else "  redis: external, left running")
    (settings.run_dir / "state.json").unlink(missing_ok=True)


def cmd_down(_: argparse.Namespace) -> int:
    from cluster import local

    settings = load_settings()
    state = local.RunState.load(settings)
    if state is None:
        _say(f"inplay is not running for {settings.home}")
        return 0
    _teardown(settings, state)
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    import httpx

    from cluster import local

    settings = load_settings()
    state = local.RunState.load(settings)
    if state is None:
        _say(f"inplay is not running for {settings.home}")
        return 3
    try:
        response = httpx.get(f"{state.http_url}/healthz", timeout=5)
        _say(f"API {state.http_url}: {response.status_code} {response.text}")
    except httpx.HTTPError as exc:
        _say(f"API {state.http_url}: unreachable ({exc})")
        return 1
    _say(f"Ray {state.ray_address} (dashboard {state.dashboard_url})")
    _say(f"Redis {'embedded' if state.redis_embedded else 'external'}")
    if state.feed_target:
        _say(f"feed (gRPC) {state.feed_target}")
    return 0 if response.status_code == 200 else 1


# ---------------------------------------------------------------- tokens


def _redis_url(settings: Settings) -> str:
    from cluster import local

    if settings.redis_url:
        return settings.redis_url
    state = local.RunState.load(settings)
    if state is None:
        raise SystemExit("inplay is not running (start it with: inplay up), and no REDIS_URL")
    return state.redis_url


def _issue_token(settings: Settings, role: str, name: str) -> str:
    """Create (or reuse) the principal NAME with ROLE and sign a token for it."""
    return _issue(settings, role, name).token


def _issue(settings: Settings, role: str, name: str) -> Any:
    """Create (or reuse) the principal NAME with ROLE; a new token for it (IssuedToken)."""
    from domain.errors import UsernameTaken
    from domain.identity import TokenSigner
    from storage.accounts import Accounts
    from storage.redis_client import async_client

    async def principal_id() -> str:
        client = async_client(_redis_url(settings))
        accounts = Accounts(client, settings.accounts_config())
        try:
            return (await accounts.create_principal(name, role)).account_id
        except UsernameTaken:
            account_id = await accounts.account_id_of(name)
            if account_id is None:
                raise
            existing = await accounts.get(account_id)
            if existing.role.value != role:
                raise SystemExit(f"{name} exists with role {existing.role.value}") from None
            return existing.account_id
        finally:
            await client.aclose()

    account_id = asyncio.run(principal_id())
    signer = TokenSigner(settings.secret("token_key"))
    return signer.issue(account_id, role, settings.token_ttl_s)


def cmd_token(args: argparse.Namespace) -> int:
    from domain.errors import DomainError

    settings = load_settings()
    try:
        issued = _issue(settings, args.role, args.name)
    except DomainError as exc:  # e.g. a name that is not a valid username
        print(f"inplay token create: {exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    _say(f"{args.role} token for {args.name} (valid {settings.token_ttl_s}s, "
         f"token id {issued.claims.token_id}):")
    _say(issued.token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke one token (by its token id) or every token of a subject issued until now (an
    account id, or a principal's or player's name). Every replica refuses it within
    ``storage.revocations.REFRESH_S``."""
    from domain.identity import TOKEN_ID_RE
    from storage.keys import acct_key, username_key
    from storage.redis_client import sync_client
    from storage.revocations import REFRESH_S, Revocations

    settings = load_settings()
    target = (args.target or "").strip()
    client = sync_client(_redis_url(settings), socket_timeout=10)
    try:
        store = Revocations(client)
        if TOKEN_ID_RE.fullmatch(target):
            # kept as long as any token could still be valid
            store.revoke_token(target, settings.token_ttl_s)
            _say(f"token {target} revoked (every replica refuses it within {REFRESH_S:g}s)")
            return 0
        subject = target if target and client.exists(acct_key(target, "acct")) else None
        if subject is None and target:
            found = client.get(username_key(target))
            subject = found.decode() if isinstance(found, bytes) else found
        if not subject:
            print(f"inplay token revoke: UNKNOWN_ACCOUNT: {target!r} is neither a token id "
                  "(t + 24 hex digits) nor an account id or name", file=sys.stderr)
            return 2
        store.revoke_subject(subject)
        _say(f"every token of {subject} issued until now revoked (every replica refuses them "
             f"within {REFRESH_S:g}s; new logins get new tokens)")
        return 0
    finally:
        client.close()


# ---------------------------------------------------------------- tests


def cmd_test(args: argparse.Namespace) -> int:
    """ruff, the layer contract, mypy, then the pytest suite (all of it: what CI runs)."""
    root = Path(__file__).resolve().parent.parent
    bin_dir = Path(sys.executable).parent
    steps = [
        [str(bin_dir / "ruff"), "check", "."],
        # the layer contract of pyproject.toml [tool.importlinter]: imports only go down
        [str(bin_dir / "lint-imports")],
        [str(bin_dir / "mypy"), "."],  # every package, the tests and the benchmarks
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
    ]
    for step in steps:
        _say("$ " + " ".join(step))
        result = subprocess.run(step, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
        if result.returncode != 0:
            return result.returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inplay", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the platform (Redis, Ray, Serve)")
    up.add_argument("--demo", action="store_true", help="seed a demo event, players, video")
    up.add_argument("--detach", action="store_true", help="return once healthy")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop this home's platform").set_defaults(func=cmd_down)
    sub.add_parser("status", help="is it healthy?").set_defaults(func=cmd_status)
    token = sub.add_parser("token", help="credentials for operators, publishers and feeds")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a principal and print its token")
    create.add_argument("--role", choices=("operator", "publisher", "feed"), required=True)
    create.add_argument("name")
    create.set_defaults(func=cmd_token)
    revoke = token_sub.add_parser(
        "revoke", help="revoke a token (its token id) or every token of an account so far")
    revoke.add_argument("target", help="a token id (t...), an account id or an account name")
    revoke.set_defaults(func=cmd_token_revoke)
    password = sub.add_parser("demo-password", help="a demo player's password (for scripts)")
    password.add_argument("name", help="demo1, demo2 or demo3")
    password.set_defaults(func=cmd_demo_password)
    test = sub.add_parser("test", help="ruff, the layer contract, mypy and the test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
