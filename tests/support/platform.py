"""The running platform as tests see it (started by ``tests/e2e/conftest.py``).

``Platform`` is ``cluster.harness.LocalPlatform``: the same launcher the benchmarks use
(``url``, ``username``/``password`` of the first demo player, ``operator_token``, ``env``,
``home``, ``state()``, ``inplay(...)``, ``pids()``), and ``api(platform)`` a client of it.
"""

from __future__ import annotations

from pathlib import Path

from cluster.api_client import ApiClient
from cluster.harness import LocalPlatform

ROOT = Path(__file__).resolve().parents[2]

Platform = LocalPlatform


def api(platform: Platform, timeout_s: float = 30.0) -> ApiClient:
    """A client of the platform's HTTP API (close it, or use it as a context manager)."""
    return ApiClient(platform.url, timeout_s=timeout_s)
