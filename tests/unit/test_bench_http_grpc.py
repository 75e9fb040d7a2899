"""bench_http's gRPC section reports bets as the HTTP generators report requests."""

from __future__ import annotations

from simulations.httpbench.grpc_bets import result_of
from simulations.httpbench.report import summarize


def test_a_grpc_run_counts_bets_by_their_http_status() -> None:
    found = {"duration_s": 2.0, "statuses": {"201": 300, "409": 20, "202": 4},
             "codes": {"PRICE_CHANGED": 20}, "errors": {"Unavailable": 20},
             "latencies": [float(i) for i in range(1, 101)], "cpu_s": 0.5}
    result = result_of(found, calls=32, batch=20)
    assert result.requests == 324 and result.rate(201) == 150.0
    assert result.codes == {"PRICE_CHANGED": 20} and result.errors == {"Unavailable": 20}
    assert result.latency_ms["p50"] == 50.0 and result.latency_ms["p99"] == 99.0
    assert result.generator_cores == 0.25 and result.connections == 32


def test_the_summary_states_the_withdrawn_aim_no_more_and_the_new_ones() -> None:
    results = {"real": {
        "best_closed": {"accepted_per_s": 1500.0},
        "serve_hello": {"ok_per_s": 3000.0},
        "open_loop": {"ok_per_s": 1000.0, "latency_ms": {"p99": 40.0, "p99.9": 200.0}},
        "grpc": {"vs_http_best": 1.2}}}
    summary = summarize(results)
    aims = summary["aims"]
    assert aims["real/serve_hello>=0.75"] == {"value": 0.5, "met": False}
    assert aims["p99_at_1000/s<=50ms"]["met"] is True
    assert aims["p99.9_at_1000/s<=150ms"] == {"value": 200.0, "met": False}
    assert "real/hello>=0.40" not in aims
    assert summary["grpc_over_http"] == 1.2
