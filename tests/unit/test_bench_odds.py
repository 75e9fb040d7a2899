"""simulations.bench_odds: its pure parts (the SSE parser, percentiles, latency matching,
the figures, medians and aims, the plot) and its client (against a tiny SSE server of this
test's own: chunked HTTP/1.1, as HAProxy and uvicorn answer). Nothing here starts a platform.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from simulations import bench_odds
from simulations.oddsbench.clients import ClientPool, Worker
from simulations.oddsbench.plot import latency_png
from simulations.oddsbench.report import plot_points
from simulations.oddsbench.sse import SseMessage, SseParser, stream_request
from simulations.oddsbench.stats import (
    aims,
    delivery,
    key_figures,
    match,
    medians,
    nearest_rank,
    summary_ms,
)
from tests.support.cdp import decode_png

STREAM = (b"retry: 1000\n\n"
          b"event: snapshot\nid: 7\ndata: {\"version\": 7}\n\n"
          b": keep-alive\n\n"
          b"event: odds\nid: 8\ndata: {\"version\": 8, \"market_id\": \"m\"}\n\n"
          b"event: status\nid: 9\ndata: {\"version\": 9}\n\n"
          b"event: odds\nid: 10\ndata: {\"version\": 10}\n\n")


def messages(parser: SseParser, chunks: list[bytes]) -> list[SseMessage]:
    return [m for chunk in chunks for m in parser.feed(chunk)]


# ------------------------------------------------------------------ the SSE parser


def test_parser_reads_the_odds_stream_contract() -> None:
    parser = SseParser()
    got = parser.feed(STREAM)
    assert [(m.event, m.id) for m in got] == [("snapshot", 7), ("odds", 8), ("status", 9),
                                              ("odds", 10)]
    assert got[1].data == b"{\"version\": 8, \"market_id\": \"m\"}"
    assert parser.retry_ms == 1000
    assert parser.comments == 1
    assert parser.pending == 0


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 64])
def test_parser_gives_the_same_messages_however_the_bytes_are_cut(size: int) -> None:
    whole = SseParser().feed(STREAM)
    parser = SseParser()
    cut = messages(parser, [STREAM[i:i + size] for i in range(0, len(STREAM), size)])
    assert cut == whole
    assert parser.comments == 1


@pytest.mark.parametrize("size", [1, 2, 3, 64])
def test_parser_takes_crlf_and_cr_line_endings(size: int) -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    cr = STREAM.replace(b"\n", b"\r")
    for variant in (crlf, cr):
        parser = SseParser()
        got = messages(parser, [variant[i:i + size] for i in range(0, len(variant), size)])
        assert [(m.event, m.id) for m in got] == [("snapshot", 7), ("odds", 8),
                                                  ("status", 9), ("odds", 10)]


def test_parser_follows_the_format_rules() -> None:
    parser = SseParser()
    got = parser.feed(b"data: a\ndata:b\n\n"  # no event: "message"; two data lines joined
                      b"id: 5\n\n"  # no data: nothing dispatched, but the id is kept
                      b"event: odds\ndata: x\n\n"  # the last id goes on
                      b"event: odds\nid: abc\ndata: y\n\n"  # not a number: no id
                      b"event: odds\nid: 12\ndata: z")  # not finished yet
    assert got == [SseMessage("message", None, b"a\nb"), SseMessage("odds", 5, b"x"),
                   SseMessage("odds", None, b"y")]
    assert parser.pending > 0
    assert parser.feed(b"\n\n") == [SseMessage("odds", 12, b"z")]


def test_stream_request_is_a_plain_get() -> None:
    raw = stream_request("127.0.0.1", 8000, "/v1/events/e1/stream", last_event_id=41)
    assert raw.startswith(b"GET /v1/events/e1/stream HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"Accept: text/event-stream\r\n" in raw and b"Last-Event-ID: 41\r\n" in raw
    assert raw.endswith(b"\r\n\r\n")


# ------------------------------------------------------------------ percentiles, matching


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 … 1, unsorted on purpose
    got = summary_ms(values)
    assert got["count"] == 100
    assert (got["p50"], got["p90"], got["p99"], got["p99.9"]) == (50, 90, 99, 100)
    assert (got["min"], got["max"], got["mean"]) == (1, 100, 50.5)
    assert nearest_rank([3.0], 99) == 3.0
    assert summary_ms([]) == {}
    with pytest.raises(ValueError):
        nearest_rank([], 50)


def test_match_gives_receive_minus_publish_time_per_sample() -> None:
    published = {10: 100.0, 11: 100.1, 12: 100.2}
    ids = np.array([10, 10, 11, 12, 99, 12], dtype=np.int64)
    received = np.array([100.005, 100.050, 100.110, 100.230, 100.3, 100.1995],
                        dtype=np.float64)
    got = match(ids, received, published)
    assert np.allclose(np.sort(got.latency_ms), [-0.5, 5.0, 10.0, 30.0, 50.0])
    assert got.unmatched == 1  # id 99 was never published
    assert got.too_early == 1  # received before its publish: reported, never hidden
    empty = match(np.zeros(0, dtype=np.int64), np.zeros(0), published)
    assert empty.latency_ms.size == 0 and empty.unmatched == 0


def test_delivery_counts_what_every_stream_got() -> None:
    got = delivery(10, [10, 10, 7, 0], duration_s=2.0)
    assert got["expected"] == 40 and got["delivered"] == 27
    assert got["delivered_share"] == 0.675
    assert got["streams_complete"] == 2
    assert got["per_stream_per_s"] == {"p50": 3.5, "min": 0.0, "max": 5.0}
    assert got["published_per_s"] == 5.0


# ------------------------------------------------------------------ figures, medians, aims


def fake_run(p99_1000: float, kb: float, held: int, ratio: float) -> dict[str, object]:
    def level(n: int, p99: float, ramp_max: bool = False) -> dict[str, object]:
        return {"n": n, "target": n, "ramp_max": ramp_max,
                "memory": {"kb_per_stream": kb},
                "latency": {"latency_ms": {"p50": p99 / 4, "p99": p99}, "client_cores": 0.2},
                "flat_out": {"delivery": {"per_stream_per_s": {"p50": 400.0},
                                          "published_per_s": 410.0}}}

    return {"levels": [level(1000, p99_1000), level(5000, p99_1000 * 3),
                       level(held, p99_1000 * 9, ramp_max=True)],
            "ramp": {"held": held},
            "bets": {"ratio": ratio, "with_per_s": 900.0 * ratio, "without_per_s": 900.0,
                     "streams": 1000, "with": {}}}


def test_key_figures_medians_and_aims() -> None:
    runs = [fake_run(80, 30, 12500, 0.95), fake_run(120, 40, 10000, 0.85),
            fake_run(90, 60, 15000, 0.92)]
    figures = [key_figures(r) for r in runs]
    assert figures[0]["p99_ms_at_1000"] == 80 and figures[0]["p99_ms_at_max"] == 720
    assert figures[0]["n_at_max"] == 12500 and figures[0]["max_streams_held"] == 12500
    assert figures[0]["sustained_updates_per_s_at_1000"] == 400
    table = medians(figures)
    assert table["p99_ms_at_1000"] == {"median": 90.0, "runs": [80.0, 120.0, 90.0]}
    verdicts = {name.split()[0] + name.split()[1]: aim["verdict"]
                for name, aim in aims(table, 1000, 5000).items()}
    assert verdicts == {"p99<=": "PASS", ">=5,000": "PASS", "<=50": "PASS", "bets/swith": "PASS"}
    worse = medians([key_figures(fake_run(150, 70, 4000, 0.5))])
    got = aims(worse, 1000, 5000)
    assert [a["verdict"] for a in got.values()] == ["MISS"] * 4
    assert all(a["value"] is not None for a in got.values())


def test_aims_not_measured_are_na_and_a_smaller_run_says_so() -> None:
    quick = {"levels": [{"n": 200, "target": 200, "memory": {"kb_per_stream": 12.0},
                         "latency": {"latency_ms": {"p50": 3.0, "p99": 9.0}}}],
             "bets": {"ratio": 0.97, "with_per_s": 970.0, "without_per_s": 1000.0}}
    got = aims(medians([key_figures(quick)]), bets_streams=200, largest_n=200)
    by_start = {name.split()[0]: aim for name, aim in got.items()}
    assert by_start["p99"]["verdict"] == "n/a"
    assert by_start[">="]["verdict"] == "n/a"
    assert by_start["<="]["verdict"] == "PASS" and by_start["<="]["note"] == "at 200 streams"
    assert by_start["bets/s"]["verdict"] == "PASS"
    assert "200 streams" in by_start["bets/s"]["note"]


def test_the_plot_is_a_png_with_both_lines() -> None:
    runs = [fake_run(80, 30, 12500, 0.95), fake_run(120, 40, 10000, 0.85)]
    table = medians([key_figures(r) for r in runs])
    points, each = plot_points(runs, table)
    assert [p[0] for p in points] == [1000.0, 5000.0, 11250.0]
    assert len(each) == 6
    picture = decode_png(latency_png(points, each))
    assert (picture.width, picture.height) == (900, 560)
    pixels = bytes(picture.rgba)
    assert bytes((31, 119, 180, 255)) in pixels  # the p50 line's blue
    assert bytes((214, 39, 40, 255)) in pixels  # the p99 line's red


def test_the_module_imports_and_parses_without_starting_anything() -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    args = bench_odds.parse_args(["--quick"])
    opts = bench_odds.options(args)
    assert opts.plan.levels == (200,) and not opts.plan.ramp
    path, plot = bench_odds.result_paths(args)
    assert path.name == "odds_quick.json" and plot.name == "odds_quick_latency.png"
    full = bench_odds.options(bench_odds.parse_args(["--max-streams", "9000"]))
    assert full.plan.levels == (1000, 5000) and full.plan.max_streams == 9000
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before


def test_limits_let_the_streams_through_but_never_stop_haproxy_from_starting() -> None:
    from simulations.oddsbench.run import FULL, QUICK, haproxy_maxconn_allowed, limits_env

    # HAProxy 2.8 refused maxconn 9000 under a 20,000 hard limit (it wanted 22,537 fds:
    # 2.5 per connection, with its pipes)
    assert haproxy_maxconn_allowed(20_000) == 7_800
    assert 2.5 * haproxy_maxconn_allowed(20_000) + 37 <= 20_000
    env = limits_env(FULL, default_limits=False, nofile_hard=20_000)
    assert env == {"RAY_SERVE_HAPROXY_MAXCONN": "7800",
                   "INPLAY_ODDS_MAX_ONGOING_REQUESTS": str(FULL.max_streams + 1024)}
    roomy = limits_env(FULL, default_limits=False, nofile_hard=1_048_576)
    assert roomy["RAY_SERVE_HAPROXY_MAXCONN"] == str(FULL.max_streams + 4096)
    assert limits_env(QUICK, default_limits=True, nofile_hard=20_000) == {}


def test_bet_segments_are_reported_in_the_order_they_ran() -> None:
    from simulations.oddsbench.run import _in_order

    assert _in_order("ABBA", ["b1", "b2"], ["a1", "a2"]) == ["a1", "b1", "b2", "a2"]
    assert _in_order("aba", ["b1"], ["a1", "a2"]) == ["a1", "b1", "a2"]


# ------------------------------------------------------------------ the client


class SseServer:
    """A tiny SSE server in a thread of its own: chunked answers, a snapshot first; paths with
    ``/503`` are refused, with ``/hang`` never answered."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(self.loop):  # the streams still being served
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0.05))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        if path.startswith(b"/hang"):
            await asyncio.sleep(3600)
        if path.startswith(b"/503"):
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        writer.write(self.chunk(b"retry: 1000\n\nevent: snapshot\nid: 1\ndata: {}\n\n"))
        self.writers.append(writer)
        await writer.drain()

    @staticmethod
    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def start(self) -> SseServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def call(self, fn: object, *args: object) -> None:
        done = threading.Event()

        def run() -> None:
            fn(*args)  # type: ignore[operator]
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)

    def send(self, data: bytes, split: int = 0) -> None:
        """To every open stream; ``split``: cut into chunks of that size (one message
        across several chunks)."""
        def write() -> None:
            for w in self.writers:
                if split:
                    for i in range(0, len(data), split):
                        w.write(self.chunk(data[i:i + split]))
                else:
                    w.write(self.chunk(data))

        self.call(write)

    def end_one(self) -> None:
        def end() -> None:
            writer = self.writers.pop()
            writer.write(b"0\r\n\r\n")
            writer.close()

        self.call(end)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture()
def sse_server() -> Iterator[SseServer]:
    server = SseServer().start()
    yield server
    server.stop()


def odds(version: int) -> bytes:
    return b"event: odds\nid: %d\ndata: {\"version\": %d}\n\n" % (version, version)


async def wait_until(check: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_worker_opens_streams_and_times_each_odds_message(sse_server: SseServer) -> None:
    worker = Worker("127.0.0.1", sse_server.port, "/v1/events/e/stream")
    got = await worker.open(5, concurrency=2, timeout_s=5)
    assert got["opened"] == 5 and got["open"] == 5 and not got["failed"]
    await worker.record()
    t0 = time.monotonic()
    sse_server.send(odds(2) + b": keep-alive\n\n" + odds(3))
    sse_server.send(odds(4), split=3)  # one message over several chunks
    sse_server.send(b"event: status\nid: 5\ndata: {}\n\nevent: snapshot\nid: 6\ndata: {}\n\n")
    await wait_until(lambda: len(worker.ids) == 15)
    sse_server.send(odds(7))
    await wait_until(lambda: len(worker.ids) == 20)
    out = await worker.collect()
    ids = np.frombuffer(out["ids"], dtype=np.int64)
    times = np.frombuffer(out["times"], dtype=np.float64)
    assert sorted(ids.tolist()) == sorted([2, 3, 4, 7] * 5)
    assert np.all(times >= t0) and np.all(times <= time.monotonic())
    assert np.frombuffer(out["per_stream"], dtype=np.int64).tolist() == [4] * 5
    assert out["resnapped"] == 5  # the second snapshot, on every stream
    assert out["keepalives"] == 5 and out["regressions"] == 0
    sse_server.end_one()
    await wait_until(lambda: len(worker.streams) == 4)
    assert worker.ended == {"the server ended the stream": 1}
    assert (await worker.close()) == {"closed": 4, "open": 0}


async def test_worker_reports_why_streams_did_not_open(sse_server: SseServer) -> None:
    refused = Worker("127.0.0.1", sse_server.port, "/503")
    got = await refused.open(3, timeout_s=5)
    assert got["opened"] == 0 and got["failed"] == {"HTTP 503": 3}
    hung = Worker("127.0.0.1", sse_server.port, "/hang")
    got = await hung.open(2, timeout_s=0.3)
    assert got["failed"] == {"timeout: no snapshot within 0.3s": 2}
    given_up = await refused.open(10, concurrency=1, timeout_s=5, give_up_after=2)
    assert given_up["failed"] == {"HTTP 503": 2} and given_up["untried"] == 8
    closed = Worker("127.0.0.1", 1, "/")  # nothing listens on port 1
    got = await closed.open(1, timeout_s=5)
    assert [reason.split(":")[0] for reason in got["failed"]] == ["ECONNREFUSED"]


def test_pool_spreads_streams_over_processes_and_collects_them(sse_server: SseServer) -> None:
    with ClientPool("127.0.0.1", sse_server.port, "/v1/events/e/stream", workers=2,
                    nofile=4096) as pool:
        assert len(pool.pids) == 2 and os.getpid() not in pool.pids
        got = pool.open(7, concurrency=4, timeout_s=5)
        assert got["opened"] == 7 and got["open"] == 7
        assert pool.record() == 7
        sse_server.send(odds(2) + odds(3))
        deadline = time.monotonic() + 20
        while pool.status()["recorded"] < 14 and time.monotonic() < deadline:
            time.sleep(0.05)
        collected = pool.collect()
        assert collected.ids.size == 14
        assert sorted(set(collected.ids.tolist())) == [2, 3]
        assert collected.per_stream.tolist() == [2] * 7 and collected.open == 7
        assert collected.cpu_s >= 0 and collected.rss > 0
        assert pool.status()["nofile"][0] >= 4096
        assert pool.close_streams(keep=3) == 3
        assert pool.close_streams(keep=0) == 0
