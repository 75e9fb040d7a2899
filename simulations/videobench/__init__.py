"""The video benchmark's parts (``simulations.bench_video`` is the command): the video's
client processes (``clients``), one run against a private platform (``run``), the pure
figures and aims (``stats``) and the printed tables (``report``)."""
