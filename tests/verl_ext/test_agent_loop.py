"""The dynamic agent loop, driven by a scripted Sender through verl's real AgentLoopBase
token builder: turn structure, loss masks, truncation, Receiver failure mid-game."""

import asyncio
import math

import pytest
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, _agent_loop_registry
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput

from persuasion_rl.game import parse_receiver_reply, sender_opening_messages
from persuasion_rl.game.engine import GameAborted
from persuasion_rl.game.turn import ReceiverTurn
from persuasion_rl.receivers import factory
from persuasion_rl.receivers.settings import ReceiverSettings, ReceiverSpecError
from persuasion_rl.verl_ext.agent_loop import AGENT_NAME, PersuasionAgentLoop, loop_receiver
from persuasion_rl.verl_ext.agent_loop_manager import ServedReceiverError, router_address, with_receiver_endpoint
from tests.conftest import LoopbackServer
from tests.receivers.faulty_server import scripted_app

CLAIM = "Cities should make public buses free to ride."
PRIOR = "<score>3</score>\n<opinion>I am unsure.</opinion>\n<thinking>t</thinking>\n<question>What does it cost?</question>"


class ScriptedServer:
    """verl's server manager as the loop sees it: token ids in, TokenOutput out."""

    def __init__(self, tokenizer, replies, close=True):
        self.tokenizer, self.replies, self.close, self.calls = tokenizer, list(replies), close, []

    async def generate(self, request_id, prompt_ids, sampling_params, **kwargs):
        self.calls.append((list(prompt_ids), dict(sampling_params)))
        ids = self.tokenizer.encode(self.replies[len(self.calls) - 1], add_special_tokens=False)
        if self.close:
            ids.append(self.tokenizer.convert_tokens_to_ids("<|im_end|>"))
        ids = ids[: sampling_params["max_tokens"]]
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def make_loop(tiny_assets, server, response_length=400, **persuasion):
    section = {"setting": "dynamic", "platform": "cpu", "sender_word_limit": 250, "receiver_word_limit": 250, "scoring_mode": "expected",
               "top_logprobs": 20, "missing_argument": "raw", "missing_argument_penalty": -1.0, "parse_failure": "fail",
               "parse_retries": 0, "rounds": 3, "receiver": {"kind": "tiny_cpu", "path": str(tiny_assets.receiver), "name": "tiny"},
               **persuasion}
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 1024, "response_length": response_length}},
                               "persuasion": section, "reward": {}, "data": {}})
    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.sender)
    loop = PersuasionAgentLoop(trainer_config=DictConfigWrap(config), server_manager=server, tokenizer=tokenizer, processor=None,
                               dataset_cls=RLHFDataset, data_config=DictConfigWrap(OmegaConf.create({})), hf_model_type="qwen2")
    return loop, tokenizer


def play(tiny_assets, server, prepare=None, **kwargs):
    """Build the loop inside the running event loop (verl binds it at construction), run one game."""
    raw_prompt = sender_opening_messages(CLAIM, parse_receiver_reply(PRIOR).transcript_message)
    extra = {"claim": CLAIM, "prior_score": 3, "prior_expected_score": 3.0, "prior_reply": PRIOR}

    async def go():
        loop, tokenizer = make_loop(tiny_assets, server, **kwargs)
        if prepare:
            prepare(loop)
        return await loop.run({"temperature": 1.0}, raw_prompt=raw_prompt, extra_info=extra)

    return asyncio.run(go())


ARGUMENTS = [f"<argument>Reason {i}: free buses cut traffic.</argument>" for i in (1, 2, 3)]


def test_registered_under_its_agent_name():
    assert _agent_loop_registry[AGENT_NAME]["_target_"] == "persuasion_rl.verl_ext.agent_loop.PersuasionAgentLoop"


def test_three_rounds_sender_tokens_trained_receiver_tokens_masked(tiny_assets):
    server = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS)
    tokenizer = server.tokenizer
    output = play(tiny_assets, server)
    mask, ids, logprobs = output.response_mask, output.response_ids, output.response_logprobs
    assert len(mask) == len(ids) == len(logprobs)
    # the trained tokens are exactly the Sender's three generations, in order
    trained = [t for t, m in zip(ids, mask) if m == 1]
    expected = []
    for reply in ARGUMENTS:
        expected += tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert trained == expected
    # every trained token carries its rollout log-prob; every context token 0
    assert all(lp == -0.5 for lp, m in zip(logprobs, mask) if m == 1)
    assert all(lp == 0.0 for lp, m in zip(logprobs, mask) if m == 0)
    # the untrained tokens are the Receiver's turns, each once, rounds 2 and 3
    context = tokenizer.decode([t for t, m in zip(ids, mask) if m == 0])
    assert context.count("Round 2") == 1 and context.count("Round 3") == 1 and 'Receiver: """' in context
    assert "Reason 1" not in context  # the Sender's text is never re-rendered as context
    assert mask[-1] == 1  # the reward sits on a Sender token
    info = output.extra_fields["reward_extra_info"]
    assert info["turns_completed"] == 3.0 and info["truncated"] == 0.0
    assert output.reward_score == pytest.approx(info["gain_round_3"]) == pytest.approx(info["receiver_score"] - 3.0)
    assert len(output.extra_fields["turn_scores"]) == 3
    # each Sender call saw the whole conversation so far
    assert [len(p) for p, _ in server.calls] == sorted(len(p) for p, _ in server.calls)


def test_response_budget_truncates_and_ends_on_a_sender_token(tiny_assets):
    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.sender)
    first = len(tokenizer.encode(ARGUMENTS[0], add_special_tokens=False)) + 1
    server = ScriptedServer(tokenizer, ARGUMENTS)
    output = play(tiny_assets, server, response_length=first + 20)  # no room for the Receiver's turn
    info = output.extra_fields["reward_extra_info"]
    assert info["truncated"] == 1.0 and info["turns_completed"] == 1.0
    assert output.response_mask == [1] * first and len(server.calls) == 1
    assert output.reward_score == pytest.approx(info["gain_round_1"])


def test_sender_turn_cut_at_its_limit_is_closed_untrained(tiny_assets):
    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.sender)
    server = ScriptedServer(tokenizer, ARGUMENTS, close=False)  # no end-of-turn token
    output = play(tiny_assets, server)
    ids, mask = output.response_ids, output.response_mask
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    closers = [i for i, t in enumerate(ids) if t == end]
    assert closers and all(mask[i] == 0 for i in closers)
    # each cut turn is closed before the next user turn
    assert tokenizer.decode(ids).count("<|im_end|>\n<|im_start|>user") == 2


def unreadable_reply(monkeypatch, at: int, calls: list):
    """A ``prepare`` hook: the loop's Receiver answers its ``at``-th call with no readable score."""
    def prepare(loop):
        real_turn = loop.receiver.turn

        async def scripted(messages, need_reply):
            calls.append(1)
            if len(calls) == at:
                return ReceiverTurn(None, None, error="no readable score")
            return await real_turn(messages, need_reply)

        monkeypatch.setattr(loop.receiver, "turn", scripted)

    return prepare


def test_receiver_failure_mid_game_fails_loudly(tiny_assets, monkeypatch):
    server = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS)
    with pytest.raises(GameAborted, match="round 2"):
        play(tiny_assets, server, prepare=unreadable_reply(monkeypatch, 2, []))


def test_under_skip_a_receiver_failure_mid_game_leaves_the_sample_out_of_the_update(tiny_assets, monkeypatch):
    """parse_failure=skip: no number that could pass for a reward, receiver_ok 0 for
    verl_ext/unscored.py; a scored game says receiver_ok 1 (every sample carries the column)."""
    server = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS)
    output = play(tiny_assets, server, prepare=unreadable_reply(monkeypatch, 2, []), parse_failure="skip")
    info = output.extra_fields["reward_extra_info"]
    assert math.isnan(output.reward_score) and info["receiver_ok"] == 0.0 and math.isnan(info["score"])
    assert math.isnan(info["gain"]) and math.isnan(info["receiver_score"])
    scored = play(tiny_assets, ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS), parse_failure="skip")
    assert scored.extra_fields["reward_extra_info"]["receiver_ok"] == 1.0 and not math.isnan(scored.reward_score)
    # the Receiver never asked (a first reply without an argument, penalised): NaN, a real reward, as the static reward says
    tagless = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ["no tags here"] * 3)
    penalised = play(tiny_assets, tagless, parse_failure="skip", missing_argument="penalty")
    assert math.isnan(penalised.extra_fields["reward_extra_info"]["receiver_ok"]) and penalised.reward_score == -1.0


def _reward(enable: bool, **kwargs) -> OmegaConf:
    return OmegaConf.create({"reward": {"reward_model": {"enable": enable, "model_path": "/models/r"},
                                        "custom_reward_function": {"reward_kwargs": kwargs}},
                             "persuasion": {"receiver": {"kind": "vllm"}}})


def test_unreachable_receiver_kind_is_a_clear_error():
    with pytest.raises(ReceiverSpecError, match="receiver=openai"):
        factory.make_backend(loop_receiver(ReceiverSettings("vllm"), _reward(False)))


def test_a_local_receiver_defaults_to_the_reward_models_path():
    assert loop_receiver(ReceiverSettings("tiny_cpu"), _reward(False)).path == "/models/r"
    assert loop_receiver(ReceiverSettings("tiny_cpu", path="/mine"), _reward(False)).path == "/mine"
    assert loop_receiver(ReceiverSettings("openai", endpoint="http://h/v1", name="m"), _reward(False)).path is None


def test_a_receiver_verl_serves_is_asked_at_its_router_under_its_served_name():
    trainers = _reward(True)
    config = with_receiver_endpoint(trainers, "10.0.0.1:4321")
    served = loop_receiver(ReceiverSettings("vllm", endpoint=config.persuasion.receiver.endpoint), config)
    assert (served.kind, served.endpoint, served.name) == ("openai", "http://10.0.0.1:4321/v1", "/models/r")
    renamed = with_receiver_endpoint(_reward(True, receiver_model="/abs/r"), "h:1")
    assert loop_receiver(ReceiverSettings("tiny_cpu", endpoint="http://h:1/v1"), renamed).name == "/abs/r"
    assert trainers.persuasion.receiver.get("endpoint") is None  # the trainer's own config is not changed
    # served, but no address handed over (another agent-loop manager): one clear error, not a local load
    with pytest.raises(ReceiverSpecError, match="agent_loop_manager_class=persuasion_rl.verl_ext.agent_loop_manager"):
        loop_receiver(ReceiverSettings("tiny_cpu"), _reward(True))


def test_the_guard_knows_the_served_receivers_control_tokens(tiny_assets):
    """A Receiver reached over HTTP has no tokenizer at hand; the one verl serves is read from
    its path, as verl gives the static reward its reward_model_tokenizer."""
    from persuasion_rl.game.guard import tokenizer_control_tokens
    from persuasion_rl.verl_ext.agent_loop import receiver_control_tokens

    config = _reward(True)
    config.reward.reward_model.model_path = str(tiny_assets.receiver)
    remote = factory.make_backend(ReceiverSettings("openai", endpoint="http://127.0.0.1:9/v1", name="m"))
    tokens = receiver_control_tokens(remote, config)
    assert "<|im_end|>" in tokens and tokens == tokenizer_control_tokens(AutoTokenizer.from_pretrained(tiny_assets.receiver))
    assert receiver_control_tokens(remote, _reward(False)) == frozenset()  # an external endpoint: the common formats only


def test_the_router_address_needs_the_reward_workers_verl_streams_rewards_through():
    with pytest.raises(ServedReceiverError, match="enable_resource_pool=true"):
        router_address(None)


def test_the_loop_plays_the_validated_settings(tiny_assets):
    """Read once, by PersuasionSettings: no second default for rounds or turn tokens."""
    loop, _ = make_loop(tiny_assets, None, rounds=2, sender_turn_tokens=7)
    assert loop.game_config.rounds == 2 and loop.sender_turn_tokens == 7
    with pytest.raises(ValueError, match="unknown persuasion"):
        make_loop(tiny_assets, None, roundz=2)


def test_parse_retries_are_counted(tiny_assets, monkeypatch):
    """An unreadable Receiver score is re-asked (a fresh sample) and the re-ask is counted,
    so persuasion/parse_failure_rate is true in dynamic runs."""
    server = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS)
    calls = []
    output = play(tiny_assets, server, prepare=unreadable_reply(monkeypatch, 1, calls), parse_retries=2)
    info = output.extra_fields["reward_extra_info"]
    assert info["receiver_parse_retries"] == 1.0 and len(calls) == 4  # round 1 asked twice, rounds 2-3 once
    assert info["turns_completed"] == 3.0


def test_transport_retries_and_timeouts_are_counted(tiny_assets):
    """An openai Receiver that fails with HTTP 500 once and times out once: both retried by
    the client, and counted in the sample's extra info (receiver/retries|timeouts)."""
    app, log = scripted_app(["http500", "ok", "slow", "ok"], reply="<opinion>Maybe.</opinion><question>Who pays?</question>")
    server = ScriptedServer(AutoTokenizer.from_pretrained(tiny_assets.sender), ARGUMENTS)
    factory.clear_cache()
    try:
        with LoopbackServer(app) as receiver_server:
            receiver = {"kind": "openai", "endpoint": f"http://{receiver_server.address}/v1", "name": "m",
                        "timeout_s": 1.0, "max_retries": 3}
            output = play(tiny_assets, server, receiver=receiver, scoring_mode="sample", rounds=2)
    finally:
        factory.clear_cache()
    info = output.extra_fields["reward_extra_info"]
    assert log == ["http500", "ok", "slow", "ok"]
    assert info["receiver_retries"] == 2.0 and info["receiver_timeouts"] == 1.0 and info["receiver_errors"] == 0.0
    assert info["receiver_parse_retries"] == 0.0 and info["turns_completed"] == 2.0
