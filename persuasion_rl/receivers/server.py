"""An OpenAI-compatible HTTP server for a local transformers model.

It is what ``persuasion-rl receiver serve`` runs, what verl's reward loop reaches on a
CPU machine (the "hf" rollout replica of the reward model mounts this app), and what
the tests start on loopback. It implements the subset the Receiver uses, with vLLM's
extensions: ``continue_final_message`` / ``add_generation_prompt`` for an assistant
prefill and ``include_stop_str_in_output``. Log-probabilities are served for one-token
requests (``max_tokens=1``), which is all expected scoring needs; anything else it
cannot do is refused with HTTP 400 and a reason rather than answered approximately.

It refuses what vLLM refuses, with vLLM's status and message, so that a test passing
against it does not hide a request vLLM would reject: a model name it does not serve
(404) and more ``top_logprobs`` than ``max_logprobs`` (400; vLLM's default cap is 20).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from .base import GenerationParams
from .transformers_backend import TransformersChatModel

logger = logging.getLogger(__name__)


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown OpenAI fields are ignored, as vLLM does

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    include_stop_str_in_output: bool = False

    def params(self) -> GenerationParams:
        if self.n != 1:
            raise HTTPException(400, "this server returns one choice per request (n=1)")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return GenerationParams(self.max_completion_tokens or self.max_tokens or 256, self.temperature, self.top_p, stop, self.seed)


class ChatRequest(_Request):
    messages: list[dict]
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=1000)
    continue_final_message: bool = False
    add_generation_prompt: bool = True


class CompletionRequest(_Request):
    prompt: str
    logprobs: int | None = Field(default=None, ge=0, le=1000)


def _strip_stop(text: str, params: GenerationParams, keep: bool) -> str:
    if keep:
        return text
    for stop in params.stop:
        if text.endswith(stop):
            return text[: -len(stop)]
    return text


def _render_chat(model: TransformersChatModel, request: ChatRequest) -> str:
    messages = request.messages
    if request.continue_final_message:
        if not messages or messages[-1].get("role") != "assistant":
            raise HTTPException(400, "continue_final_message needs a final assistant message")
        return model.render(messages[:-1], prefill=messages[-1].get("content", ""))
    if not request.add_generation_prompt:
        return model.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    return model.render(messages)


VLLM_MAX_LOGPROBS = 20  # vLLM's default --max-logprobs


class VLLMError(Exception):
    """Answered as vLLM's OpenAI server answers a request it refuses."""

    def __init__(self, status: int, message: str, kind: str):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _check_like_vllm(model: TransformersChatModel, requested_model: str | None, top_logprobs: int, max_logprobs: int) -> None:
    if requested_model is not None and requested_model != model.name:
        # vllm/entrypoints/serve/engine/serving.py (vLLM 0.31): _check_model
        raise VLLMError(404, f"The model `{requested_model}` does not exist.", "NotFoundError")
    if top_logprobs > max_logprobs:
        # vllm/sampling_params.py (vLLM 0.31): SamplingParams.verify, sample logprobs
        raise VLLMError(400, f"Requested sample logprobs of {top_logprobs}, which is greater than max allowed: {max_logprobs} "
                        f"(parameter=logprobs, value={top_logprobs})", "BadRequestError")


def create_app(model: TransformersChatModel, max_logprobs: int = VLLM_MAX_LOGPROBS) -> FastAPI:
    app = FastAPI(title=f"persuasion-rl Receiver: {model.name}")
    app.state.requests = 0  # completion requests received: shows who really scored a run

    @app.exception_handler(VLLMError)
    async def refused(_: Request, error: VLLMError) -> JSONResponse:
        return JSONResponse(status_code=error.status,
                            content={"error": {"message": error.message, "type": error.kind, "param": None, "code": error.status}})

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": model.name, "requests": app.state.requests}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model.name, "object": "model", "owned_by": "persuasion-rl"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: ChatRequest, connection: Request) -> dict:
        app.state.requests += 1
        return await _unless_disconnected(connection, _chat(model, request, max_logprobs))

    @app.post("/v1/completions")
    async def completions(request: CompletionRequest, connection: Request) -> dict:
        app.state.requests += 1
        return await _unless_disconnected(connection, _completion(model, request, max_logprobs))

    return app


async def _unless_disconnected(connection: Request, work: Coroutine[Any, Any, dict], poll_s: float = 0.5) -> dict:
    """Runs ``work`` and cancels it if the client hangs up first, as vLLM aborts the
    request of a client that disconnected. A client that timed out retries; its
    abandoned request would otherwise still take a place in a batch, so that on a busy
    CPU server every retry lengthens the queue that made the client time out."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=poll_s)
        if done:
            return task.result()
        if await connection.is_disconnected():
            task.cancel()
            logger.info("client disconnected: its request is dropped")
            raise HTTPException(499, "client closed the request")


async def _chat(model: TransformersChatModel, request: ChatRequest, max_logprobs: int) -> dict:
    _check_like_vllm(model, request.model, request.top_logprobs if request.logprobs else 0, max_logprobs)
    params = request.params()
    prompt = _render_chat(model, request)
    if request.logprobs:
        return await _one_token_with_logprobs(model, prompt, params, max(request.top_logprobs, 1), chat=True)
    generation = await _generate(model, prompt, params)
    message = {"role": "assistant", "content": _strip_stop(generation.text, params, request.include_stop_str_in_output)}
    return _response("chat.completion", model.name, {"message": message, "finish_reason": generation.finish_reason}, generation.completion_tokens)


async def _completion(model: TransformersChatModel, request: CompletionRequest, max_logprobs: int) -> dict:
    _check_like_vllm(model, request.model, request.logprobs or 0, max_logprobs)
    params = request.params()
    if request.logprobs is not None:
        return await _one_token_with_logprobs(model, request.prompt, params, max(request.logprobs, 1), chat=False)
    generation = await _generate(model, request.prompt, params)
    text = _strip_stop(generation.text, params, request.include_stop_str_in_output)
    return _response("text_completion", model.name, {"text": text, "finish_reason": generation.finish_reason}, generation.completion_tokens)


async def _generate(model: TransformersChatModel, prompt: str, params: GenerationParams):
    try:
        return await model.complete(prompt, params)
    except Exception as error:  # surfaced to the client as a retryable server error
        logger.exception("generation failed")
        raise HTTPException(500, f"generation failed: {type(error).__name__}: {error}") from error


async def _one_token_with_logprobs(model: TransformersChatModel, prompt: str, params: GenerationParams, top_k: int, chat: bool) -> dict:
    if params.max_tokens != 1:
        raise HTTPException(400, "logprobs are served for max_tokens=1 requests only")
    try:
        top = await model.prompt_top_logprobs(prompt, top_k)
    except Exception as error:
        logger.exception("logprob pass failed")
        raise HTTPException(500, f"logprob pass failed: {type(error).__name__}: {error}") from error
    best_token, best_logprob = max(top.items(), key=lambda item: item[1])
    if chat:
        content = [{"token": best_token, "logprob": best_logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()]}]
        choice = {"message": {"role": "assistant", "content": best_token}, "logprobs": {"content": content}, "finish_reason": "length"}
        return _response("chat.completion", model.name, choice, 1)
    logprobs = {"tokens": [best_token], "token_logprobs": [best_logprob], "top_logprobs": [top]}
    return _response("text_completion", model.name, {"text": best_token, "logprobs": logprobs, "finish_reason": "length"}, 1)


def _response(kind: str, model_name: str, choice: dict, completion_tokens: int) -> dict:
    return {
        "id": f"cmpl-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model_name,
        "choices": [{"index": 0, **choice}],
        "usage": {"completion_tokens": completion_tokens},
    }


def serve(model_path: str, host: str = "127.0.0.1", port: int = 8000, name: str | None = None, device: str | None = None,
          max_logprobs: int = VLLM_MAX_LOGPROBS) -> None:
    import uvicorn

    model = TransformersChatModel(model_path, device=device, name=name)
    logger.info("serving %s at http://%s:%d/v1", model.name, host, port)
    uvicorn.run(create_app(model, max_logprobs), host=host, port=port, log_level="warning")
