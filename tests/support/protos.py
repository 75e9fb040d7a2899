"""The generated gRPC stubs committed next to a ``.proto`` are what protoc makes of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def assert_stubs_current(proto: Path, tmp_path: Path) -> None:
    """Run grpc_tools.protoc on ``proto`` (relative to the repo root) in ``tmp_path`` and
    compare the ``_pb2.py``, ``_pb2.pyi`` and ``_pb2_grpc.py`` it makes with the committed
    ones, byte for byte."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev extra) makes the stubs")
    (tmp_path / proto).parent.mkdir(parents=True)
    shutil.copy(ROOT / proto, tmp_path / proto)
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
         "--pyi_out=.", "--grpc_python_out=.", str(proto)],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
        name = proto.stem + suffix
        made = (tmp_path / proto.parent / name).read_bytes()
        committed = (ROOT / proto.parent / name).read_bytes()
        assert made == committed, (
            f"{proto.parent / name} is stale: regenerate it (see the .proto's header)")
