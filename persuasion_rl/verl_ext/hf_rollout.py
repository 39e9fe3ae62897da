"""An "hf" rollout backend for verl: transformers ``generate()`` behind verl's replica API.

verl 0.9.1 serves rollouts through vLLM, SGLang or TensorRT-LLM only (its
``hf_rollout.py`` is dead code), none of which runs here. Its replica registry accepts a
new backend, which takes three pieces:

* :class:`HFRolloutServer`, a Ray actor (no CPU reservation: it shares the trainer's
  bundle like vLLM's server does) holding the model. ``generate`` is verl's token-in /
  token-out call: concurrent requests are micro-batched into one ``generate()``, the
  per-request ``max_tokens`` is honoured and log-probabilities come from the logits the
  sampler drew from (temperature applied, no top-k/top-p), as verl's actor computes
  them. It also serves HTTP: for the reward model the project's OpenAI-compatible
  Receiver app (``persuasion_rl.receivers.server``), which verl's reward router proxies
  to and the reward function reaches through ``reward_router_address``.
* :class:`HFReplica`, the ``RolloutReplica`` that starts one server per replica.
* :class:`HFServerAdapter`, the worker-side ``BaseRollout`` through which the trainer
  pushes new weights after each update (every rank gathers the full tensors, because
  ``DTensor.full_tensor()`` is collective; the replica's first rank sends them).

Registration happens in :mod:`persuasion_rl.verl_ext.bootstrap`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Optional

import ray
import torch

from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from persuasion_rl.receivers.batching import MicroBatcher

from .bootstrap import ROLLOUT_NAME  # noqa: F401  (the name this backend is registered under)

logger = logging.getLogger(__name__)

SERVER_PREFIX = "hf_"


def server_actor_name(replica_rank: int, node_rank: int = 0, is_reward_model: bool = False, suffix: str = "") -> str:
    """The Ray name of a replica's server. The reward model's servers need their own
    names: both replicas count ranks from 0 (verl's vLLM servers do the same)."""
    kind = "server_reward" if is_reward_model else "server"
    return f"{SERVER_PREFIX}{kind}_{replica_rank}_{node_rank}{suffix}"


# ---------------------------------------------------------------------------------------
# token-in / token-out generation
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingKey:
    """Requests sharing these are generated in one batch."""

    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    ignore_eos: bool

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class TokenRequest:
    prompt_ids: tuple[int, ...]
    max_tokens: int


@dataclass(frozen=True)
class TokenResult:
    token_ids: list[int]
    log_probs: list[float]
    finished: bool  # ended on an end-of-sequence token (else: cut at max_tokens)


def sampling_key(sampling_params: dict[str, Any]) -> SamplingKey:
    top_k = int(sampling_params.get("top_k", -1) or -1)
    return SamplingKey(
        temperature=float(sampling_params.get("temperature", 1.0)),
        top_p=float(sampling_params.get("top_p", 1.0)),
        top_k=top_k,
        repetition_penalty=float(sampling_params.get("repetition_penalty", 1.0) or 1.0),
        ignore_eos=bool(sampling_params.get("ignore_eos", False)),
    )


class TokenGenerator:
    """Batched transformers generation with per-request token limits and log-probs."""

    def __init__(self, model, pad_token_id: int, eos_token_ids: list[int]):
        self.model = model
        self.pad_token_id = pad_token_id
        self.eos_token_ids = eos_token_ids
        self.lock = threading.Lock()  # generation and weight loading never overlap

    def generate(self, key: SamplingKey, requests: list[TokenRequest]) -> list[TokenResult]:
        from transformers import GenerationConfig

        width = max(len(r.prompt_ids) for r in requests)
        # left padding: every prompt ends at the same column, where generation starts
        input_ids = torch.full((len(requests), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, request in enumerate(requests):
            input_ids[row, width - len(request.prompt_ids):] = torch.tensor(request.prompt_ids)
            attention_mask[row, width - len(request.prompt_ids):] = 1
        config = GenerationConfig(
            max_new_tokens=max(r.max_tokens for r in requests),
            do_sample=not key.greedy,
            temperature=None if key.greedy else key.temperature,
            top_p=None if key.greedy or key.top_p >= 1.0 else key.top_p,
            top_k=None if key.greedy or key.top_k <= 0 else key.top_k,
            repetition_penalty=None if key.repetition_penalty == 1.0 else key.repetition_penalty,
            eos_token_id=None if key.ignore_eos else self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        with self.lock, torch.inference_mode():
            output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        new_tokens = output.sequences[:, width:]
        # (steps, batch, vocab): raw logits, scaled as the sampler saw them
        logits = torch.stack(output.logits, dim=0).float()
        if not key.greedy:
            logits = logits / key.temperature
        chosen = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.T.unsqueeze(-1)).squeeze(-1).T
        return [self._cut(new_tokens[i], chosen[i], r.max_tokens, key.ignore_eos) for i, r in enumerate(requests)]

    def _cut(self, tokens: torch.Tensor, log_probs: torch.Tensor, max_tokens: int, ignore_eos: bool) -> TokenResult:
        ids = tokens[:max_tokens].tolist()
        finished = False
        if not ignore_eos:
            for position, token in enumerate(ids):
                if token in self.eos_token_ids:
                    ids, finished = ids[: position + 1], True  # vLLM keeps the EOS token too
                    break
        return TokenResult(ids, log_probs[: len(ids)].tolist(), finished)

    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> None:
        with self.lock, torch.no_grad():
            result = self.model.load_state_dict(named_tensors, strict=False)
        tied = set(getattr(self.model, "_tied_weights_keys", None) or []) | {"lm_head.weight"}
        missing = [k for k in result.missing_keys if k not in tied]
        if missing or result.unexpected_keys:
            raise RuntimeError(f"weight update does not match the rollout model: missing {missing[:5]}, "
                               f"unexpected {result.unexpected_keys[:5]}")


# ---------------------------------------------------------------------------------------
# the server actor
# ---------------------------------------------------------------------------------------


def _health_app():
    from fastapi import FastAPI

    app = FastAPI(title="persuasion-rl hf rollout")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


class HFRolloutServer:
    """One rollout (or reward-model) server. Created by :class:`HFReplica` as a Ray actor."""

    def __init__(self, config, model_config, replica_rank: int, is_reward_model: bool = False):
        self.config = config
        self.model_config = model_config
        self.replica_rank = replica_rank
        self.is_reward_model = is_reward_model
        self.global_steps: Optional[int] = None
        self.generator: Optional[TokenGenerator] = None
        self.batcher: Optional[MicroBatcher] = None
        self.address: Optional[tuple[str, int]] = None
        self._http_task: Optional[asyncio.Task] = None
        threads = os.environ.get("PERSUASION_RL_ROLLOUT_THREADS")
        if threads:
            torch.set_num_threads(int(threads))

    def _model_path(self) -> str:
        return getattr(self.model_config, "local_path", None) or self.model_config.path

    def _load_generator(self) -> TokenGenerator:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = self._model_path()
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=self.model_config.trust_remote_code)
        dtype = getattr(torch, str(self.config.dtype)) if self.config.dtype else torch.float32
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa",
                                                     trust_remote_code=self.model_config.trust_remote_code).eval()
        eos = model.generation_config.eos_token_id
        eos_ids = sorted({*(eos if isinstance(eos, list) else [eos] if eos is not None else []), tokenizer.eos_token_id} - {None})
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
        return TokenGenerator(model, pad, eos_ids)

    def _http_app(self):
        if not self.is_reward_model:
            # the policy is reached token-in/token-out through Ray; HTTP only reports health
            return _health_app()
        from persuasion_rl.receivers.server import create_app
        from persuasion_rl.receivers.transformers_backend import TransformersChatModel

        # served under its path, as verl's vLLM replicas serve the reward model (served_model_name unset)
        path = self._model_path()
        chat_model = TransformersChatModel(path, device="cpu", max_batch_size=max(1, self.config.max_num_seqs), name=str(path))
        return create_app(chat_model)

    async def launch_server(self) -> tuple[str, int]:
        from verl.workers.rollout.utils import run_uvicorn

        if not self.is_reward_model:
            self.generator = await asyncio.to_thread(self._load_generator)
            self.batcher = MicroBatcher(self._run_batch, max_batch=max(1, min(self.config.max_num_seqs, 256)))
        app = await asyncio.to_thread(self._http_app)
        host = ray.util.get_node_ip_address().strip("[]")
        port, self._http_task = await run_uvicorn(app, None, host)
        self.address = (host, port)
        logger.info("hf %s server %d listening on %s:%d", "reward" if self.is_reward_model else "rollout",
                    self.replica_rank, host, port)
        return self.address

    def get_server_address(self) -> tuple[str, int]:
        return self.address

    def _run_batch(self, key: SamplingKey, requests: list[TokenRequest]) -> list[TokenResult]:
        return self.generator.generate(key, requests)

    def _max_tokens(self, prompt_len: int, sampling_params: dict[str, Any]) -> int:
        room = self.config.max_model_len - prompt_len if self.config.max_model_len else None
        default = min(self.config.response_length, self.config.prompt_length + self.config.response_length - prompt_len)
        requested = sampling_params.get("max_tokens", sampling_params.get("max_new_tokens", default))
        limit = min(int(requested), room) if room is not None else int(requested)
        if limit < 1:
            raise ValueError(f"prompt of {prompt_len} tokens leaves no room to generate (max_model_len "
                             f"{self.config.max_model_len}, prompt_length {self.config.prompt_length})")
        return limit

    async def generate(self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str,
                       image_data=None, video_data=None, **kwargs) -> TokenOutput:
        if image_data or video_data:
            raise NotImplementedError("the hf rollout is text-only")
        if self.generator is None:
            raise RuntimeError("this hf server holds no policy model (it serves the reward model)")
        prompt_ids = [int(t) for t in prompt_ids]
        request = TokenRequest(tuple(prompt_ids), self._max_tokens(len(prompt_ids), sampling_params))
        result: TokenResult = await self.batcher.submit(sampling_key(sampling_params), request)
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: Optional[int] = None) -> None:
        await asyncio.to_thread(self.generator.load_weights, named_tensors)
        if global_steps is not None:
            self.global_steps = global_steps

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # The hooks verl's replica and checkpoint manager call. There is no KV cache to free
    # between steps and nothing to offload on a CPU, so they do nothing.
    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        return None

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False) -> dict[str, Any]:
        # generation batches are short and uninterruptible; nothing is ever left to abort
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict[str, Any]:
        return {"aborted": False, "request_id": request_id}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **kwargs) -> None:
        return None

    async def stop_profile(self) -> None:
        return None


# ---------------------------------------------------------------------------------------
# the replica and the worker-side adapter
# ---------------------------------------------------------------------------------------


class HFReplica(RolloutReplica):
    """One server per replica, placed on the node of the replica's first worker."""

    def __init__(self, replica_rank, config, model_config, gpus_per_node: int = 8, is_reward_model: bool = False,
                 is_teacher_model: bool = False, name_suffix: str = ""):
        super().__init__(replica_rank, config, model_config, gpus_per_node, is_reward_model, is_teacher_model, name_suffix)
        if self.world_size != 1:
            raise ValueError(
                f"the hf rollout runs one process per replica; set tensor/data/pipeline parallel sizes to 1 "
                f"(got world size {self.world_size}); use vllm for parallel rollouts"
            )
        self.server_class = ray.remote(HFRolloutServer)

    async def launch_servers(self) -> None:
        node_id = await self.workers[0].__ray_call__.remote(lambda worker: ray.get_runtime_context().get_node_id())
        name = server_actor_name(self.replica_rank, 0, self.is_reward_model, self.name_suffix)
        server = self.server_class.options(
            scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
            name=name,
            num_cpus=0,
            max_concurrency=self.max_concurrency,
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank,
                 is_reward_model=self.is_reward_model)
        host, port = await server.launch_server.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HFServerAdapter(BaseRollout):
    """Trainer-side end of the weight sync (verl's ``update_weights`` in naive mode)."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, **kwargs):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", 0))
        # one server per replica (see HFReplica): trainer rank r feeds replica r
        self.replica_rank = rank if replica_rank == -1 else replica_rank
        self.is_leader_rank = True
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(self, weights, wire_format: str = "named_tensors", global_steps: Optional[int] = None, **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout takes full named tensors, not {wire_format!r}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("the hf rollout loads full weights only: set actor_rollout_ref.model.lora.merge=true")
        # Drain the generator on every rank: it all-gathers each DTensor shard.
        named = {name: tensor.detach().to("cpu").contiguous() for name, tensor in weights}
        await self._server_handle().update_weights.remote(named, global_steps)
