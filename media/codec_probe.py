"""Counts codec work done by aiortc in this process, to prove the SFU never transcodes."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiortc.codecs import h264, opus, vpx

# (class, method) pairs whose call means a frame was decoded or encoded.
_CODEC_WORK: tuple[tuple[type, str], ...] = (
    (h264.H264Decoder, "decode"),
    (h264.H264Encoder, "encode"),
    (vpx.Vp8Decoder, "decode"),
    (vpx.Vp8Encoder, "encode"),
    (opus.OpusDecoder, "decode"),
    (opus.OpusEncoder, "encode"),
)

codec_calls: Counter[str] = Counter()
_installed = False


def _counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        codec_calls[name] += 1
        return method(*args, **kwargs)

    return wrapper


def install() -> Counter[str]:
    """Wrap aiortc's codec entry points (once per process); returns the live counter."""
    global _installed
    if not _installed:
        for cls, method in _CODEC_WORK:
            setattr(cls, method, _counting(f"{cls.__name__}.{method}", getattr(cls, method)))
        _installed = True
    return codec_calls


def total() -> int:
    """Frames decoded or encoded by aiortc in this process since install()."""
    return sum(codec_calls.values())
