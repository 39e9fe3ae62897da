"""A real HTTP server on loopback that misbehaves on a schedule, for failure tests."""

from __future__ import annotations

import asyncio
import math

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response


def scripted_app(script: list[str], score_token: str = "5", reply: str = "") -> tuple[FastAPI, list[str]]:
    """Each request takes the next behaviour from ``script`` (the last one repeats):
    ok | http500 | http400 | slow | empty | malformed | noscore. An ok reply is
    ``<score>N</score>`` then ``reply``. Returns (app, log)."""
    app, log = FastAPI(), []

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        behaviour = script[min(len(log), len(script) - 1)]
        log.append(behaviour)
        if behaviour == "http500":
            return PlainTextResponse("boom", status_code=500)
        if behaviour == "http400":
            return PlainTextResponse("bad request", status_code=400)
        if behaviour == "slow":
            await asyncio.sleep(5)
        if behaviour == "empty":
            return Response(b"", media_type="application/json")
        if behaviour == "malformed":
            return PlainTextResponse("{not json", media_type="application/json")
        if body.get("logprobs"):
            token = "the" if behaviour == "noscore" else score_token
            top = [{"token": token, "logprob": math.log(0.9)}, {"token": "3", "logprob": math.log(0.05)}]
            return {"choices": [{"logprobs": {"content": [{"token": token, "logprob": -0.1, "top_logprobs": top}]}}]}
        text = "I will not answer." if behaviour == "noscore" else f"<score>{score_token}</score>{reply}"
        return {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}

    return app, log
