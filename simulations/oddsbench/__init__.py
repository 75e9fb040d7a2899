"""The parts of ``simulations.bench_odds`` (run that module: its docstring says what).

- ``sse``: the server-sent events line parser and the stream request (pure);
- ``stats``: percentiles, latency from (version, receive time) samples against the publish
  times, medians over runs, the aims (pure);
- ``clients``: the SSE clients: worker processes with asyncio + httptools streams, driven
  from the benchmark's process by ``ClientPool``;
- ``publisher``: odds changes through the real gRPC ingest (``cluster.feed_client``);
- ``measure``: CPU by process over a phase, RSS of the platform's processes, the limits that
  applied (open files, HAProxy's ``maxconn``, the odds deployment's ``max_ongoing_requests``);
- ``plot``: the latency plot as a PNG (numpy + zlib: no plotting library in the venv);
- ``run``: one run against a ``cluster.harness.LocalPlatform``;
- ``report``: the printed tables, PASS/MISS per aim.

Importing any of them starts nothing.
"""
