"""The pure parts of bench_http's load-shedding curve (``simulations/httpbench/shedding.py``)
and the open-loop generator's per-status timing and ``Retry-After`` count it relies on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulations.httpbench.shedding import (
    LEVELS,
    ShedPlan,
    Step,
    curve_checks,
    curve_medians,
    money_check,
    open_connections,
    png_path,
    rate_plan,
    report_lines,
    run_curve,
    segment_record,
    shed_plan,
    shedding_png,
    write_curve,
)
from simulations.loadgen import RunResult, Target, _py_run
from simulations.plotting import BLUE, RED
from tests.support.cdp import decode_png


def result(statuses: dict[str, int], codes: dict[str, int] | None = None,
           retry_after: dict[str, int] | None = None, errors: dict[str, int] | None = None,
           p99: float = 40.0, duration_s: float = 8.4) -> RunResult:
    return RunResult(
        tool="python-asyncio", mode="open", duration_s=duration_s, connections=512,
        target_rate=1000.0, requests=sum(statuses.values()), statuses=statuses,
        codes=codes or {}, errors=errors or {}, latency_ms={"p99": 900.0},
        generator_cpu_s=1.2, generator_workers=2, dispatch_late_ms={"p99": 1.5},
        latency_by_status_ms={"201": {"p50": 8.0, "p99": p99, "p99.9": p99 * 1.5},
                              "503": {"p50": 1000.0, "p99": 1100.0}},
        retry_after=retry_after or {})


def level(percent: int, offered: float, accepted: float, overloaded: float,
          p99: float = 40.0) -> dict[str, Any]:
    rec = segment_record(Step(percent, offered), 1.0, result(
        {"201": int(accepted), **({"503": int(overloaded)} if overloaded else {})},
        codes={"OVERLOADED": int(overloaded)} if overloaded else {},
        retry_after={"503": int(overloaded)} if overloaded else {}, p99=p99))
    return rec


def test_the_rates_are_shares_of_the_capacity_lowest_first() -> None:
    plan = rate_plan(1234.0, LEVELS)
    assert [(s.percent, s.rate) for s in plan] == [
        (25, 310.0), (50, 620.0), (75, 930.0), (100, 1230.0), (125, 1540.0), (150, 1850.0),
        (200, 2470.0)]
    assert [(s.percent, s.rate) for s in rate_plan(8.0, (200, 25, 25))] == [(25, 10.0),
                                                                            (200, 20.0)]


def test_an_open_loop_has_a_connection_for_every_request_it_holds() -> None:
    # 2,000 bets/s, each held up to the 1 s queue limit and its service: 4,500 in flight
    assert open_connections(2000.0, 1000.0, cap=6000) == 4500
    assert open_connections(2000.0, 1000.0) == 4000  # under HAProxy's maxconn
    assert open_connections(10.0, 1000.0) == 256


def test_a_segment_counts_accepted_refused_and_everything_else() -> None:
    rec = segment_record(Step(150, 1500.0), 8.0, result(
        {"201": 8000, "503": 4000, "429": 3},
        codes={"OVERLOADED": 3990, "RATE_LIMITED": 3, "UNAVAILABLE": 10},
        retry_after={"503": 3980, "429": 3}, errors={"timeout": 2}),
        cpu={"machine_busy_cores": 1.9, "other_cores": 0.1, "by_process_cores": {}})
    assert rec["offered_per_s"] == pytest.approx(12005 / 8, abs=0.1)
    assert (rec["accepted_per_s"], rec["overloaded_per_s"]) == (1000.0, 498.8)
    assert rec["overloaded_with_retry_after"] == 3980
    assert rec["other"] == {"429": 3, "503 not OVERLOADED": 10, "error timeout": 2}
    assert rec["accepted_latency_ms"] == {"p50": 8.0, "p99": 40.0, "p99.9": 60.0}
    assert rec["drain_s"] == pytest.approx(0.4)
    assert (rec["machine_busy_cores"], rec["other_cores"]) == (1.9, 0.1)


def test_the_checks_pass_on_an_honest_curve_and_say_what_missed() -> None:
    honest = [level(50, 500, 500, 0, p99=20), level(100, 1000, 990, 10, p99=80),
              level(200, 2000, 1100, 900, p99=1300)]
    checks = curve_checks(honest, capacity=1000.0, max_queue_ms=1000.0)
    assert all(c["ok"] for c in checks.values()), checks
    assert "200%: 900/s refused" in checks["sheds_past_capacity"]["value"]
    assert "110% of the capacity" in checks["sheds_past_capacity"]["value"]

    slow = [*honest[:2], level(200, 2000, 1100, 900, p99=2500)]
    assert not curve_checks(slow, 1000.0, 1000.0)["p99_of_accepted_bounded"]["ok"]
    queued = [*honest[:2], level(200, 2000, 2000, 0, p99=900)]  # nothing refused
    assert not curve_checks(queued, 1000.0, 1000.0)["sheds_past_capacity"]["ok"]
    bare = dict(honest[2], overloaded_with_retry_after=850, other={"500": 1})
    checks = curve_checks([*honest[:2], bare], 1000.0, 1000.0)
    assert not checks["overloaded_carry_retry_after"]["ok"]
    assert checks["overloaded_carry_retry_after"]["value"] == (
        "860 of 910 OVERLOADED 503s had Retry-After")
    assert not checks["refusals_are_overloaded_only"]["ok"]


def test_the_money_is_balances_reserved_and_the_books_stakes() -> None:
    wallets = [{"balance": "19990.00", "reserved": "0.00", "held_for_review": "0.00",
                "debt": "0.00"}, {"balance": "19995.00", "reserved": "0.00"}]
    exposure = {"bets_accepted": 15, "markets": [{"stakes_total": "10.00"},
                                                 {"stakes_total": "5.00"}]}
    ok = money_check(wallets, exposure, "20000.00", clients_got_201=15)
    assert ok["ok"] and ok["conserved"] and ok["funded"] == "40000.00"
    # a refused bet that kept its stake reserved: not conserved once the window passed
    held = [dict(wallets[0], balance="19989.00", reserved="1.00"), wallets[1]]
    left = money_check(held, exposure, "20000.00", clients_got_201=15)
    assert left["conserved"] and not left["no_reservation_left"] and not left["ok"]
    # money gone: a stake taken for a bet the book does not hold
    lost = money_check([dict(wallets[0], balance="19989.00"), wallets[1]], exposure,
                       "20000.00", 15)
    assert not lost["conserved"] and not lost["ok"]
    # a client got a 201 the book does not hold
    assert not money_check(wallets, exposure, "20000.00", clients_got_201=16)["ok"]


def test_the_medians_over_runs_per_level() -> None:
    runs = [[level(100, 1000, 950, 50, p99=80), level(200, 2000, 1000, 1000, p99=900)],
            [level(100, 1000, 990, 10, p99=60), level(200, 2000, 1200, 800, p99=1100)],
            [level(100, 1000, 970, 30, p99=70)]]
    table = curve_medians(runs)
    assert [(r["percent"], r["runs"]) for r in table] == [(100.0, 3.0), (200.0, 2.0)]
    assert table[0]["accepted_per_s"] == 970.0 and table[0]["p99"] == 70.0
    assert table[1]["overloaded_per_s"] == 900.0 and table[1]["p99"] == 1000.0


def test_the_plot_is_a_png_with_both_panels(tmp_path: Path) -> None:
    runs = [[level(p, 10 * p, min(10 * p, 1000), max(0, 10 * p - 1000), p99=p * 4.0)
             for p in LEVELS]]
    picture = decode_png(shedding_png(curve_medians(runs), runs, capacity=1000.0))
    assert (picture.width, picture.height) == (900, 900)
    pixels = bytes(picture.rgba)
    for color in (BLUE, RED, (255, 127, 14)):  # accepted, p99, refused
        assert bytes((*color, 255)) in pixels
    assert decode_png(shedding_png([])).width == 900  # "no data"


def test_the_curve_is_written_beside_the_results(tmp_path: Path) -> None:
    assert png_path(Path("simulations/results/http.json")).name == "http_shedding.png"
    assert png_path(Path("/tmp/http_shedding.json")) == Path("/tmp/http_shedding.png")
    curve = [level(p, 10 * p, min(10 * p, 1000), max(0, 10 * p - 1000)) for p in LEVELS]
    shedding = {"capacity_per_s": 1000.0, "levels": curve,
                "plan": ShedPlan().__dict__, "checks": curve_checks(curve, 1000.0, 1000.0)}
    runs: list[dict[str, Any]] = [{"real": {"shedding": shedding}}, {"real": {"error": "x"}}, {}]
    written = write_curve(runs, tmp_path / "trial.json")
    assert written is not None and written["runs"] == 1
    assert Path(written["png"]) == tmp_path / "trial_shedding.png"
    assert decode_png((tmp_path / "trial_shedding.png").read_bytes()).height == 900
    orjson.dumps(written)  # goes into the results JSON as it is
    assert write_curve([{}], tmp_path / "none.json") is None
    lines = report_lines(shedding)
    assert lines[2].split()[:3] == ["25%", "250", "250"]
    assert any(line.startswith("PASS sheds_past_capacity") for line in lines)


def test_the_curve_runs_lowest_first_and_waits_for_the_book_after_each_level() -> None:
    offered: list[tuple[int, float, int]] = []

    def open_loop(step: Step, connections: int) -> tuple[RunResult, dict[str, Any]]:
        offered.append((step.percent, step.rate, connections))
        return result({"201": int(step.rate)}), {"machine_busy_cores": 2.0, "other_cores": 0}

    plan = ShedPlan(levels=(200, 50), segment_s=1.0, pause_s=0.0)
    levels = run_curve(plan, 400.0, open_loop, drained=lambda: 3.0)
    assert offered == [(50, 200.0, 450), (200, 800.0, 1800)]
    assert [(r["percent"], r["accepted_per_s"], r["settled_s"]) for r in levels] == [
        (50, 200.0, 3.0), (200, 800.0, 3.0)]


def test_the_plan_takes_the_platforms_queue_limit_and_sweeper_window() -> None:
    plan = shed_plan("200, 25,50", 6.0, 5.0, {})
    assert plan.levels == (25, 50, 200) and plan.segment_s == 6.0
    assert (plan.max_queue_ms, plan.settle_s) == (1000.0, 11.0)
    tuned = shed_plan("100", 8.0, 5.0, {"INPLAY_BET_MAX_QUEUE_MS": "250",
                                        "INPLAY_SAGA_STALE_S": "3"})
    assert (tuned.max_queue_ms, tuned.settle_s) == (250.0, 4.0)
    with pytest.raises(ValueError):
        shed_plan("0,100", 8.0, 5.0, {})


async def test_the_open_loop_times_each_status_apart_and_sees_retry_after() -> None:
    """Against a tiny server: every other request is refused 503 with Retry-After."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        while await reader.readuntil(b"\r\n\r\n"):
            served += 1
            if served % 2:
                await asyncio.sleep(0.02)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
            else:
                body = b'{"code":"OVERLOADED"}'
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def serve_quietly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                            ) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve_quietly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        out = await _py_run(Target("127.0.0.1", port, "GET", "/"), 0, 1, "open", 16, 100.0,
                            0.4, time.time(), 2.0)
    assert out["statuses"] == {"201": 20, "503": 20}
    assert out["retry_after"] == {"503": 20}
    assert out["codes"] == {"OVERLOADED": 20}
    # each status timed on its own: the 201s (served in 20 ms) never under 20 ms
    assert (len(out["by_status"]["201"]), len(out["by_status"]["503"])) == (20, 20)
    assert min(out["by_status"]["201"]) >= 20.0
