"""The local transformers backend and the OpenAI-compatible path against a real server."""

import asyncio

import pytest

from persuasion_rl.game import Transcript
from persuasion_rl.receivers import Receiver, ScoringConfig, ScoringMode
from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.receivers.openai_backend import OpenAIChatModel
from persuasion_rl.receivers.prior_cache import PriorCache

CLAIM = "Museums should be free for everyone."
TRANSCRIPT = Transcript().with_receiver("I am neutral.\nWhy?").with_sender("Free entry brings schools and families in.")


def test_local_backend_full_reply_and_both_modes(tiny_receiver_model):
    async def run():
        sample = Receiver(tiny_receiver_model, scoring=ScoringConfig(mode="sample"))
        expected = Receiver(tiny_receiver_model, scoring=ScoringConfig(mode="expected"))
        return await sample.reply(CLAIM, TRANSCRIPT), await sample.score(CLAIM, TRANSCRIPT), await expected.score(CLAIM, TRANSCRIPT)

    reply, sampled, exp = asyncio.run(run())
    assert reply.ok  # the primed tiny Receiver puts its score first (the rest of its text is noise)
    assert sampled.ok and sampled.reply.raw.endswith("</score>")  # stopped right after the score
    assert exp.ok and 1.0 <= exp.score <= 7.0
    assert sum(exp.distribution.values()) == pytest.approx(1.0) and exp.digit_mass > 0.5


def test_concurrent_calls_are_batched_and_match_single_calls(tiny_receiver_model):
    prompts = [[{"role": "user", "content": f"Claim {i}: buses."}] for i in range(6)]

    async def run():
        singles = [await tiny_receiver_model.next_token_logprobs(p, "<score>", 5) for p in prompts]
        together = await asyncio.gather(*(tiny_receiver_model.next_token_logprobs(p, "<score>", 5) for p in prompts))
        return singles, together

    singles, together = asyncio.run(run())
    for one, batched in zip(singles, together):
        assert one.keys() == batched.keys()
        for token in one:  # left padding must not change the result
            assert batched[token] == pytest.approx(one[token], abs=1e-4)


def test_openai_client_against_loopback_server_matches_local(tiny_receiver_model, tiny_receiver_server):
    client = OpenAIChatModel(tiny_receiver_server.address, "tiny-receiver")
    local = Receiver(tiny_receiver_model)
    remote = Receiver(client)

    async def run():
        return await local.score(CLAIM, TRANSCRIPT), await remote.score(CLAIM, TRANSCRIPT), await remote.reply(CLAIM, TRANSCRIPT)

    local_score, remote_score, remote_reply = asyncio.run(run())
    assert remote_score.score == pytest.approx(local_score.score, abs=1e-4)
    assert remote_reply.ok
    assert client.stats.errors == 0 and client.stats.requests == 2


def test_sample_mode_over_http_keeps_the_stop_string(tiny_receiver_server):
    client = OpenAIChatModel(tiny_receiver_server.address, "tiny-receiver")
    receiver = Receiver(client, scoring=ScoringConfig(mode=ScoringMode.SAMPLE))
    result = asyncio.run(receiver.score(CLAIM, TRANSCRIPT))
    assert result.ok and result.reply.raw.endswith("</score>")


def test_server_refuses_what_it_cannot_do(tiny_receiver_server):
    import httpx

    url = f"http://{tiny_receiver_server.address}/v1/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 5, "max_tokens": 4}
    assert httpx.post(url, json=body).status_code == 400
    assert httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}], "n": 2}).status_code == 400


def test_prior_cache_computes_once_and_survives_reload(tiny_receiver_model, tmp_path):
    receiver = Receiver(tiny_receiver_model)
    cache = PriorCache(tmp_path / "priors.jsonl")
    first = asyncio.run(cache.get_or_compute(receiver, CLAIM))
    assert first.opens_game and first.mode_score is not None and first.reply.transcript_message
    with (tmp_path / "priors.jsonl").open("a") as handle:
        handle.write('{"truncated": ')  # a crash mid-write
    reloaded = PriorCache(tmp_path / "priors.jsonl")
    assert len(reloaded) == 1
    again = reloaded.get(receiver, CLAIM)
    assert again.mode_score == first.mode_score and again.reply.raw == first.reply.raw
    other = Receiver(tiny_receiver_model, scoring=ScoringConfig(mode="sample"))
    assert reloaded.get(other, CLAIM) is None  # another scoring mode is another prior


def test_server_refuses_what_vllm_refuses_with_vllms_answer(tiny_receiver_server):
    """An unknown model name (404) and more top_logprobs than max_logprobs (400, default 20),
    with vLLM 0.31's messages (tests/verl_ext/test_vllm_cpu.py compares with real vLLM)."""
    import httpx

    url = f"http://{tiny_receiver_server.address}/v1/chat/completions"
    body = {"model": "tiny-receiver", "messages": [{"role": "user", "content": "hi"}], "logprobs": True, "max_tokens": 1}
    too_many = httpx.post(url, json={**body, "top_logprobs": 50}, timeout=60)
    assert too_many.status_code == 400
    assert too_many.json()["error"]["message"] == ("Requested sample logprobs of 50, which is greater than max allowed: 20 "
                                                   "(parameter=logprobs, value=50)")
    unknown = httpx.post(url, json={**body, "model": "llama", "top_logprobs": 5}, timeout=60)
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "The model `llama` does not exist."
    assert httpx.post(url, json={**body, "top_logprobs": 20}, timeout=60).status_code == 200
    client = OpenAIChatModel(tiny_receiver_server.address, "llama")
    with pytest.raises(ReceiverError, match="HTTP 404"):  # refused, not retried as transient
        asyncio.run(client.next_token_logprobs([{"role": "user", "content": "hi"}], "<score>", 5))
    assert client.stats.retries == 0


def test_a_bfloat16_folder_computes_in_float32_on_the_cpu(tiny_assets, tmp_path):
    """verl's merger exports bfloat16; played in bfloat16 on the CPU, a trained Sender would
    carry rounding its float32 base model does not (issue 12's held-out comparison)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    folder = tmp_path / "bf16"
    shutil.copytree(tiny_assets.sender, folder)
    AutoModelForCausalLM.from_pretrained(tiny_assets.sender, dtype=torch.bfloat16).save_pretrained(folder)
    assert TransformersChatModel(folder, device="cpu").model.dtype == torch.float32
    assert TransformersChatModel(folder, device="cpu", dtype="bfloat16").model.dtype == torch.bfloat16
