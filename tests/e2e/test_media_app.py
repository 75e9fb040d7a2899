"""Video off the bet path on the running platform: everything under ``/v1/media`` is answered
by the ``media`` application's own replicas, and every media process runs at a lower CPU
priority than the bet path's."""

from __future__ import annotations

import os
import time

import httpx

from cluster.processes import cmdline
from media.sfu import MediaSettings
from tests.e2e.test_web_page import listing
from tests.support.platform import Platform


def _nice(pid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        return None


def _by_title(platform: Platform) -> dict[str, list[int]]:
    """Ray worker process titles (``ray::ServeReplica:media:media``, ...) → pids."""
    found: dict[str, list[int]] = {}
    for pid in platform.pids():
        command = cmdline(pid)
        if command.startswith("ray::"):
            found.setdefault(command.split()[0], []).append(pid)
    return found


def test_media_routes_have_their_own_replicas_at_a_lower_priority(platform: Platform) -> None:
    auth = {"Authorization": f"Bearer {platform.operator_token}"}

    def live_event() -> str | None:
        """A demo event whose video is live, by the media application's own stats."""
        for event in listing(platform):
            if event["event_id"].startswith("e2e-"):
                continue
            answer = httpx.get(f"{platform.url}/v1/media/{event['event_id']}/stats",
                               headers=auth, timeout=10)
            assert answer.status_code == 200, answer.text
            if answer.json()["live"]:
                return str(event["event_id"])
        return None

    # the demo's publisher follows the match in play (or the next): its video goes live
    # within a minute or two of the platform starting
    deadline = time.monotonic() + 180
    while (event_id := live_event()) is None and time.monotonic() < deadline:
        time.sleep(2)
    assert event_id, "no demo event's video went live"
    refused = httpx.get(f"{platform.url}/v1/media/{event_id}/hls/nope.txt", headers=auth,
                        timeout=10)
    assert refused.status_code == 404 and refused.json()["code"] == "MEDIA_FILE_NOT_FOUND"
    assert refused.headers["content-type"] == "application/problem+json"

    titles = _by_title(platform)
    media = titles.get("ray::ServeReplica:media:media", [])
    bets = titles.get("ray::ServeReplica:inplay:api", [])
    assert media, f"no replica of the media application: {sorted(titles)}"
    assert bets, f"no replica of the bets' application: {sorted(titles)}"
    assert not set(media) & set(bets)
    nice = MediaSettings().cpu_nice
    assert all(_nice(p) == nice for p in media), [(_nice(p), p) for p in media]
    for title in ("ray::RegionMediaActor", "ray::MediaRelayActor", "ray::DemoPublisher"):
        for pid in titles.get(title, []):
            assert _nice(pid) == nice, (title, pid, _nice(pid))
    assert titles.get("ray::RegionMediaActor"), sorted(titles)
    # the bet path keeps the default priority
    for title in ("ray::ServeReplica:inplay:api", "ray::EventActor"):
        for pid in titles.get(title, []):
            assert _nice(pid) == 0, (title, pid, _nice(pid))
