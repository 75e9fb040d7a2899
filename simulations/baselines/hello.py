"""The HTTP ceiling: a plain FastAPI hello endpoint, served by one uvicorn worker.

    .venv/bin/uvicorn simulations.baselines.hello:app --port PORT --workers 1 --no-access-log
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
