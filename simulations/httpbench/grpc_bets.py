"""Bets over the partner gRPC API, closed loop, as a ``loadgen.RunResult`` (section 3).

``grpc_closed`` runs in a process of its own (like the HTTP load generators, so its CPU is
its own and measured): ``clients`` partner channels (``cluster.partner_client``, one player
token each, round robin over the benchmark's players), each keeping ``in_flight``
``PlaceBets`` calls of ``batch`` bets going for ``duration_s``; every bet has its own
idempotency key. A bet counts as its HTTP twin would: ``"201"`` accepted, ``"202"`` pending,
a refusal by its HTTP status (its code counted too); a call that fails whole counts its bets
under ``errors``. Latency is per call (a call answers all its bets at once).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from simulations.loadgen import RunResult, percentiles


@dataclass(frozen=True)
class GrpcTarget:
    """What to place: where, as whom, which selections at which prices."""

    target: str  # Serve's gRPC address (host:port)
    tokens: tuple[str, ...]
    event_id: str
    prices: tuple[tuple[str, str, str], ...]  # (market, selection, price)
    stake: str
    key_prefix: str


async def _run(t: GrpcTarget, clients: int, in_flight: int, batch: int,
               duration_s: float) -> dict[str, Any]:
    from cluster.partner_client import PartnerClient
    from serve_apps.partner_proto import inplay_partner_pb2 as pb
    from serve_apps.partner_proto.convert import bet_request

    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    numbers = itertools.count()
    choices = itertools.cycle(t.prices)
    end = time.monotonic() + duration_s

    async def loop(partner: PartnerClient) -> None:
        while time.monotonic() < end:
            bets = []
            for _ in range(batch):
                market, selection, price = next(choices)
                bets.append(bet_request(f"{t.key_prefix}{next(numbers)}", t.event_id, market,
                                        selection, t.stake, price, "any"))
            started = time.monotonic()
            try:
                reply = await partner.send(pb.PlaceBetsRequest(bets=bets))
            except Exception as exc:  # a whole call refused or lost
                errors[type(exc).__name__] += len(bets)
                continue
            latencies.append((time.monotonic() - started) * 1000)
            for result in reply.results:
                if result.HasField("bet"):
                    statuses["201" if result.bet.status == "accepted" else "202"] += 1
                else:
                    statuses[str(result.refusal.status)] += 1
                    codes[result.refusal.code] += 1

    partners = [PartnerClient(t.target, token) for token, _ in
                zip(itertools.cycle(t.tokens), range(clients), strict=False)]
    started = time.monotonic()
    try:
        await asyncio.gather(*(loop(p) for p in partners for _ in range(in_flight)))
    finally:
        for partner in partners:
            await partner.close()
    return {"duration_s": time.monotonic() - started, "statuses": dict(statuses),
            "codes": dict(codes), "errors": dict(errors), "latencies": latencies}


def _worker(conn: Any, t: GrpcTarget, clients: int, in_flight: int, batch: int,
            duration_s: float) -> None:
    found = asyncio.run(_run(t, clients, in_flight, batch, duration_s))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found["cpu_s"] = usage.ru_utime + usage.ru_stime
    conn.send(found)


def grpc_closed(t: GrpcTarget, clients: int = 8, in_flight: int = 4, batch: int = 20,
                duration_s: float = 10.0) -> RunResult:
    """One closed-loop run in a subprocess; see the module docstring."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(child, t, clients, in_flight, batch, duration_s))
    proc.start()
    found = parent.recv()
    proc.join(30)
    return result_of(found, clients * in_flight, batch)


def result_of(found: dict[str, Any], calls: int, batch: int) -> RunResult:
    """The worker's counts as the HTTP generators report theirs (per bet, per call latency)."""
    statuses = {k: int(v) for k, v in found["statuses"].items()}
    return RunResult(tool=f"grpc PlaceBets ×{batch}", mode="closed",
                     duration_s=float(found["duration_s"]), connections=calls,
                     target_rate=None, requests=sum(statuses.values()), statuses=statuses,
                     codes=dict(found["codes"]), errors=dict(found["errors"]),
                     latency_ms=percentiles(list(found["latencies"])),
                     generator_cpu_s=float(found.get("cpu_s", 0.0)), generator_workers=1)
