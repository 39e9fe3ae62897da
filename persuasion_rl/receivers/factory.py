"""Build a Receiver backend from a short spec, for the CLI and configs.

``hf:PATH`` (or a bare local path) loads a transformers model in this process;
``openai:BASE_URL#MODEL`` (or ``http://...#MODEL``) talks to an OpenAI-compatible server;
``tiny`` builds/uses the project's tiny Receiver.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import ChatBackend
from .openai_backend import OpenAIChatModel, RetryPolicy


class BackendSpecError(ValueError):
    pass


def make_backend(spec: str, retry: RetryPolicy = RetryPolicy(), api_key_env: str = "OPENAI_API_KEY") -> ChatBackend:
    if spec == "tiny":
        from persuasion_rl.assets.tiny import build_tiny_models

        spec = f"hf:{build_tiny_models().receiver}"
    if spec.startswith(("openai:", "http://", "https://")):
        url = spec.removeprefix("openai:")
        base_url, _, model = url.partition("#")
        if not model:
            raise BackendSpecError(f"endpoint spec {spec!r} needs the model name after '#', e.g. http://host:8000/v1#my-model")
        return OpenAIChatModel(base_url, model, api_key=os.environ.get(api_key_env), retry=retry)
    path = spec.removeprefix("hf:")
    if not Path(path).exists():
        raise BackendSpecError(
            f"Receiver {spec!r}: no such local model directory. Give a path (hf:/path/to/model), "
            "an endpoint (openai:http://host:port/v1#model) or 'tiny'. Models are not downloaded here."
        )
    from .transformers_backend import TransformersChatModel

    return TransformersChatModel(path)
