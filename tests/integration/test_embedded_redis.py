"""The embedded server as `inplay up` starts it: on Ray's bundled jemalloc unless told not to."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import redis

from cluster.config import load_settings
from cluster.local import start_redis
from cluster.processes import allocator_of
from storage.embedded import EmbeddedRedis, bundled_jemalloc


def test_ray_ships_the_allocator_the_server_is_preloaded_with() -> None:
    lib = bundled_jemalloc()
    # a missing library would silently put the server back on glibc malloc (~30% more CPU)
    assert lib is not None, "ray's wheel no longer ships core/libjemalloc.so"
    assert lib.name == "libjemalloc.so" and lib.is_file()


def test_inplay_up_preloads_jemalloc_and_the_setting_turns_it_off(tmp_path: Path) -> None:
    for enabled in (True, False):
        home = tmp_path / f"home-{enabled}"
        settings = load_settings({"INPLAY_HOME": str(home),
                                  "INPLAY_REDIS_JEMALLOC": "1" if enabled else "0"})
        url, pid, embedded = start_redis(settings)
        assert embedded and pid is not None
        client = redis.Redis.from_url(url)
        try:
            # the server works on that allocator: a script, a stream, a sorted set
            assert client.eval("return redis.call('INCRBY', KEYS[1], 5)", 1, "k") == 5
            client.xadd("s", {"a": "1"})
            client.zadd("z", {"m": 1.0})
            assert allocator_of(pid) == ("jemalloc" if enabled else "libc malloc")
        finally:
            client.shutdown(nosave=True)
            client.close()


def test_a_preloaded_server_keeps_what_it_confirmed_across_kill_9(own_redis: EmbeddedRedis
                                                                   ) -> None:
    assert own_redis.preload is not None and own_redis.process is not None
    assert allocator_of(own_redis.process.pid) == "jemalloc"
    client = redis.Redis.from_url(own_redis.url)
    for i in range(200):
        client.hincrby("acct", "cents", i)
    client.close()
    own_redis.kill()
    own_redis.restart()
    client = redis.Redis.from_url(own_redis.url)
    assert int(cast(bytes | None, client.hget("acct", "cents")) or 0) == sum(range(200))
    client.close()


def test_jemalloc_goes_ahead_of_the_callers_own_preload_which_is_kept(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    theirs = str(tmp_path / "libnothing.so")
    lib = bundled_jemalloc()
    unset = EmbeddedRedis(data_dir=tmp_path, password="x")
    assert "LD_PRELOAD" not in unset.environment({"PATH": "/bin"})
    preloaded = EmbeddedRedis(data_dir=tmp_path, password="x", preload=lib)
    assert preloaded.environment({"LD_PRELOAD": theirs})["LD_PRELOAD"] == f"{lib} {theirs}"
    assert preloaded.environment({})["LD_PRELOAD"] == str(lib)
    # ld.so reports and skips a library it cannot find; ours is still loaded
    monkeypatch.setenv("LD_PRELOAD", theirs)
    server = EmbeddedRedis(data_dir=tmp_path / "redis", password="pw-" + tmp_path.name[-8:],
                           preload=bundled_jemalloc()).start()
    try:
        assert server.process is not None
        assert allocator_of(server.process.pid) == "jemalloc"
    finally:
        server.stop()
