"""The sections of ``simulations.bench_http`` (run that module: its docstring says what).

- ``plan``: durations and sizes of a run, the aims, and small plumbing shared by the sections;
- ``measure``: the load generators as the sections drive them, CPU metering, Redis counters;
- ``baselines``: section 1 (plain uvicorn hello) and section 2 (naive Serve);
- ``real``: section 3, the real platform (started by ``cluster.harness.LocalPlatform``,
  driven through ``cluster.api_client``);
- ``profile``: py-spy of the busiest processes;
- ``report``: the summary, the ratios against the aims, and the printed table.
"""
