"""Media processes lower their own CPU priority, every thread of them (Linux keeps a nice
value per thread), so that on a shared machine the scheduler serves the bet path first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice is Linux's")
def test_every_thread_of_the_process_gets_the_lower_priority() -> None:
    script = textwrap.dedent("""
        import os, threading, time
        from media.actors import lower_cpu_priority
        stop = threading.Event()
        early = threading.Thread(target=stop.wait)  # running before: must be lowered too
        early.start()
        print(lower_cpu_priority(7))
        later_nice = []
        later = threading.Thread(target=lambda: later_nice.append(
            os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        later.start(); later.join()
        tids = [int(t) for t in os.listdir("/proc/self/task")]
        print(sorted({os.getpriority(os.PRIO_PROCESS, t) for t in tids}), later_nice[0])
        print(lower_cpu_priority(3))  # never raised back
        stop.set(); early.join()
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split("\n")
    assert out[0] == "7"
    assert out[1] == "[7] 7"
    assert out[2] == "7"
