"""The pure parts of ``simulations.bench_video``: the video a window delivered, CPU groups,
the with/without comparison, the run's figures, medians and the aims (no Ray, no platform)."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.bench_video import options, parse_args, summarize
from simulations.oddsbench.stats import medians
from simulations.videobench.clients import split
from simulations.videobench.stats import (
    aims,
    compare,
    cpu_groups,
    is_media,
    key_figures,
    nice_from_stat,
    open_rate,
    video_window,
)


def _segment(video: bool, bets: float, p99: float, fps: list[int] | None = None,
             media: float = 0.0) -> dict[str, Any]:
    closed: dict[str, Any] = {"ok_per_s": bets,
                              "cpu_groups": {"platform media": media, "video clients": 0.1}}
    if fps is not None:
        closed["video"] = video_window([
            {"role": "viewers", "seconds": 10.0, "cpu_s": 1.0, "frames_per_viewer": fps,
             "latency_ms": [40.0, 60.0]}])
    return {"video": video, "closed": closed,
            "open": {"latency_ms": {"p50": p99 / 4, "p99": p99, "p99.9": p99 * 2}}}


def test_compare_is_mean_with_over_mean_without() -> None:
    segments = [_segment(False, 1000, 100), _segment(True, 900, 150),
                _segment(True, 950, 130), _segment(False, 1100, 120)]
    out = compare(segments)
    assert out["bets_per_s_with"] == 925.0
    assert out["bets_per_s_without"] == 1050.0
    assert out["bets_ratio"] == round(925 / 1050, 3)
    assert out["open_p99_ms_with"] == 140.0
    assert out["open_p99_ms_without"] == 110.0
    assert out["p99_ratio"] == round(140 / 110, 3)
    assert out["p99.9_ratio"] == round(280 / 220, 3)


def test_compare_without_a_side_has_no_ratio() -> None:
    out = compare([_segment(False, 1000, 100)])
    assert out["bets_per_s_with"] is None
    assert out["bets_ratio"] is None
    assert out["p99_ratio"] is None


def test_a_symmetric_order_cancels_a_steady_drift() -> None:
    # the platform gets 10% faster every segment; video changes nothing
    rates = [1000 * 1.1 ** i for i in range(4)]
    segments = [_segment(kind == "B", rate, 100) for kind, rate in zip("ABBA", rates,
                                                                     strict=True)]
    assert compare(segments)["bets_ratio"] == pytest.approx(1.0, abs=0.01)


def test_video_window_reports_each_viewer_and_the_publisher() -> None:
    replies = [
        {"role": "publisher", "seconds": 10.0, "cpu_s": 2.0, "frames_sent": 250},
        {"role": "viewers", "seconds": 10.0, "cpu_s": 3.0, "frames_per_viewer": [250, 240],
         "latency_ms": [30.0, 50.0, 70.0]},
        {"role": "viewers", "seconds": 10.0, "cpu_s": 1.0, "frames_per_viewer": [100, 0],
         "latency_ms": [90.0]},
    ]
    out = video_window(replies)
    assert out["publisher_fps"] == 25.0
    assert out["publisher_cores"] == 0.2
    assert out["viewer_cores"] == 0.4
    assert out["viewers"] == 4
    assert out["viewer_fps"] == {"median": 17.0, "min": 0.0, "max": 25.0, "p10": 0.0}
    assert out["viewers_full_rate"] == 2
    assert out["viewers_without_frames"] == 1
    assert out["delivered_share"] == round(590 / (4 * 25 * 10), 4)
    assert out["glass_to_glass_ms"]["max"] == 90.0


def test_video_window_without_viewers() -> None:
    out = video_window([{"role": "publisher", "seconds": 5.0, "cpu_s": 0.5,
                         "frames_sent": 125}])
    assert out["viewers"] == 0
    assert "viewer_fps" not in out
    assert out["glass_to_glass_ms"] == {}


def test_cpu_groups_put_media_clients_and_the_bet_path_apart() -> None:
    groups = cpu_groups({
        "ray::ServeReplica:inplay:api": 0.9, "haproxy": 0.2, "valkey-server": 0.2,
        "ray::RegionMediaActor": 0.05, "ray::MediaRelayActor": 0.1,
        "ray::ServeReplica:media:media": 0.01, "video publisher": 0.15,
        "video viewers": 0.3, "bet load generator": 0.1, "benchmark (this process)": 0.01})
    assert groups["platform media"] == 0.16
    assert groups["platform (bet path and the rest)"] == 1.3
    assert groups["video clients"] == 0.45
    assert groups["bet load generator"] == 0.1
    assert is_media("ray::MediaRelayActor.__init__()")
    assert not is_media("ray::EventActor")


def test_nice_from_stat_counts_fields_after_the_command() -> None:
    fields = ["S", *[str(n) for n in range(4, 19)], "10", "1", "0"]
    line = "4242 (ray::Media (Relay) Actor) " + " ".join(fields)
    assert nice_from_stat(line) == 10
    assert nice_from_stat("7 (python) " + " ".join([*fields[:16], "-5", "3"])) == -5


def test_open_rate_is_half_the_capacity_at_most_1000() -> None:
    assert open_rate(1294.0) == 650.0
    assert open_rate(3000.0) == 1000.0
    assert open_rate(4.0) == 10.0


def test_split_deals_viewers_over_processes() -> None:
    assert split(["a", "b", "c", "d", "e"], 2) == [("a", "c", "e"), ("b", "d")]
    assert split(["a"], 3) == [("a",)]


def _run(bets: tuple[float, float, float, float], p99: tuple[float, float, float, float],
         fps: list[int]) -> dict[str, Any]:
    segments = [_segment(kind == "B", b, p, fps if kind == "B" else None,
                         0.2 if kind == "B" else 0.0)
                for kind, b, p in zip("ABBA", bets, p99, strict=True)]
    return {"segments": segments, "comparison": compare(segments), "capacity_per_s": 1000.0,
            "open_rate_per_s": 500.0}


def test_key_figures_medians_and_aims() -> None:
    runs = [_run((1000, 950, 950, 1000), (100, 120, 120, 100), [250] * 50),
            _run((1000, 800, 800, 1000), (100, 200, 200, 100), [250] * 49 + [100]),
            _run((1000, 920, 920, 1000), (100, 140, 140, 100), [240] * 50)]
    figures = [key_figures(r) for r in runs]
    assert figures[0]["bets_ratio"] == 0.95
    assert figures[1]["viewer_fps_min_closed"] == 10.0
    assert figures[0]["media_cores_closed"] == 0.2
    table = medians(figures)
    assert table["bets_ratio"] == {"median": 0.92, "runs": [0.95, 0.8, 0.92]}
    assert table["p99_ratio"]["median"] == 1.4
    judged = aims(table)
    verdicts = [v["verdict"] for v in judged.values()]
    assert verdicts == ["PASS", "PASS", "PASS"]
    assert "slowest viewer 24 fps" in list(judged.values())[2]["note"]


def test_aims_miss_and_not_measured() -> None:
    table = medians([{"bets_ratio": 0.5, "p99_ratio": 3.0, "viewer_fps_median_closed": 3.0}])
    assert [v["verdict"] for v in aims(table).values()] == ["MISS", "MISS", "MISS"]
    assert [v["verdict"] for v in aims({}).values()] == ["n/a", "n/a", "n/a"]


def test_summarize_a_failed_run_measures_nothing() -> None:
    summary = summarize([{"meta": {}, "error": "RuntimeError: boom", "notes": []}])
    assert summary["medians"] == {}
    assert all(v["verdict"] == "n/a" for v in summary["aims"].values())


def test_options() -> None:
    quick = options(parse_args(["--quick", "--viewers", "10", "--order", "abba"]))
    assert quick.plan.viewers == 10
    assert quick.plan.order == "ABBA"
    assert quick.plan.closed_s == 6
    assert quick.client_nice == 19
    full = options(parse_args(["--client-nice", "0", "--platform-env", "A=1"]))
    assert full.plan.order == "ABBA"
    assert full.client_nice == 0
    assert full.platform_env == {"A": "1"}
    with pytest.raises(SystemExit):
        options(parse_args(["--order", "AAA"]))
