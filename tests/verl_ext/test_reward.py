"""The reward function, called exactly the way verl 0.9.1's reward loop calls it."""

import asyncio
import math

import pytest

from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.receivers import factory
from persuasion_rl.verl_ext.reward import compute_score
from tests.conftest import LoopbackServer
from tests.receivers.faulty_server import scripted_app

CLAIM = "Cities should make public buses free to ride."
PRIOR = "<score>3</score>\n<opinion>I am unsure.</opinion>\n<thinking>t</thinking>\n<question>What does it cost?</question>"
EXTRA = {"claim": CLAIM, "prior_score": 3, "prior_expected_score": 3.25, "prior_reply": PRIOR, "index": 0}
SENDER = "<opinion>yes</opinion><thinking>cost</thinking><argument>Free buses cut traffic and cost little.</argument>"


def call(address, solution=SENDER, **kwargs):
    """verl: compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...,
    reward_router_address=..., reward_model_tokenizer=..., **reward_kwargs)."""
    return asyncio.run(compute_score(data_source="tiny", solution_str=solution, ground_truth=CLAIM, extra_info=dict(EXTRA),
                                     reward_router_address=address, reward_model_tokenizer=None,
                                     receiver_model="tiny-receiver", **kwargs))


@pytest.fixture(autouse=True)
def fresh_clients():
    factory.clear_cache()
    yield
    factory.clear_cache()


def test_gain_from_the_tiny_receiver_in_both_modes(tiny_receiver_server):
    for mode, prior in (("expected", 3.25), ("sample", 3.0)):  # the prior measured in the same mode
        result = call(tiny_receiver_server.address, scoring_mode=mode)
        assert result["receiver_ok"] == 1.0 and result["argument_missing"] == 0.0
        assert result["prior_score"] == prior
        assert result["score"] == pytest.approx(result["receiver_score"] - prior)
        assert 1.0 <= result["receiver_score"] <= 7.0
        assert result["argument_words"] == 7.0


def test_the_function_is_what_verl_loads(tmp_path):
    """verl loads it with ``pkg://`` (a normal import: one module, one client cache per
    process) and wraps it with reward_kwargs; it must stay async and take those kwargs."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    import inspect

    config = OmegaConf.create({"reward": {"custom_reward_function": {
        "path": "pkg://persuasion_rl.verl_ext.reward", "name": "compute_score", "reward_kwargs": {"scoring_modee": "x"}}}})
    fn = get_custom_reward_fn(config)
    assert inspect.iscoroutinefunction(fn)
    with pytest.raises(TypeError, match="scoring_modee"):  # the kwargs really reach the function
        asyncio.run(fn(data_source="tiny", solution_str=SENDER, ground_truth=CLAIM, extra_info=dict(EXTRA)))


def test_missing_argument_policies(tiny_receiver_server):
    no_argument = "<opinion>yes</opinion> buses are good"
    penalised = call(tiny_receiver_server.address, solution=no_argument, missing_argument="penalty", missing_argument_penalty=-2.0)
    assert penalised["score"] == -2.0 and penalised["argument_missing"] == 1.0 and math.isnan(penalised["receiver_score"])
    raw = call(tiny_receiver_server.address, solution=no_argument, missing_argument="raw")
    assert raw["argument_missing"] == 1.0 and raw["receiver_ok"] == 1.0
    with pytest.raises(ValueError, match="no <argument>"):
        call(tiny_receiver_server.address, solution=no_argument, missing_argument="fail")


def test_bad_settings_and_rows_are_clear_errors(tiny_receiver_server):
    with pytest.raises(TypeError, match="unknown reward_kwargs"):
        call(tiny_receiver_server.address, scoring_modee="expected")
    with pytest.raises(ValueError, match="missing_argument"):
        call(tiny_receiver_server.address, missing_argument="zero")
    with pytest.raises(ValueError, match="prior_reply"):
        asyncio.run(compute_score("tiny", SENDER, CLAIM, {"claim": CLAIM, "prior_score": 3, "prior_expected_score": 3.2},
                                  reward_router_address=tiny_receiver_server.address))
    # rows whose priors were sampled cannot feed an expected-mode reward: never mix the two
    with pytest.raises(ValueError, match="data priors --mode expected"):
        asyncio.run(compute_score("tiny", SENDER, CLAIM, {"claim": CLAIM, "prior_score": 3, "prior_reply": PRIOR},
                                  reward_router_address=tiny_receiver_server.address, scoring_mode="expected"))


@pytest.mark.parametrize("script, retries", [(["http500", "ok"], 1), (["malformed", "empty", "ok"], 2), (["slow", "ok"], 1)])
def test_transient_failures_are_retried_then_scored(script, retries):
    app, log = scripted_app(script)
    with LoopbackServer(app) as server:
        result = call(server.address, timeout_s=1.0, max_retries=3)
    assert result["receiver_score"] == pytest.approx(5.0, abs=0.5) and log == script
    stats = factory.cached_backends()[0].stats
    assert stats.retries == retries and stats.errors == 0
    assert stats.timeouts == script.count("slow")


@pytest.mark.parametrize("script, message", [
    (["http500"], "failed after 3 attempts"),
    (["http400"], "rejected the request"),
    (["noscore"], "unreadable after 3 tries"),
])
def test_persistent_failures_raise_and_are_counted_never_scored(script, message):
    app, _ = scripted_app(script)
    with LoopbackServer(app) as server, pytest.raises(ReceiverError, match=message):
        call(server.address, max_retries=2, parse_retries=2)
    stats = factory.cached_backends()[0].stats
    assert stats.errors >= (0 if script == ["noscore"] else 1)


def test_refused_connection_is_retried_then_raised():
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ReceiverError, match="ConnectError"):
        call(f"127.0.0.1:{port}", max_retries=1)


def test_each_sample_reports_its_own_retries_and_timeouts():
    """Two rewards computed concurrently through one client: each sees only its own retries."""
    app, log = scripted_app(["http500", "ok", "ok"])
    with LoopbackServer(app) as server:
        async def both():
            first = asyncio.create_task(compute_score("tiny", SENDER, CLAIM, dict(EXTRA), reward_router_address=server.address,
                                                      receiver_model="m", max_retries=2))
            await asyncio.sleep(0.05)  # the first call fails once, then retries after its backoff
            second = asyncio.create_task(compute_score("tiny", SENDER, CLAIM, dict(EXTRA), reward_router_address=server.address,
                                                       receiver_model="m", max_retries=2))
            return await first, await second

        first, second = asyncio.run(both())
    assert first["receiver_retries"] == 1.0 and second["receiver_retries"] == 0.0
    assert first["receiver_timeouts"] == second["receiver_timeouts"] == 0.0


@pytest.mark.parametrize("script", [["noscore"], ["http500"]])
def test_skip_policy_flags_the_sample_and_never_scores_it(script):
    """parse_failure=skip: no raise, a NaN score (nothing that could pass for a reward),
    receiver_ok = 0 for the trainer to leave the sample out, and the failed calls counted."""
    app, _ = scripted_app(script)
    with LoopbackServer(app) as server:
        result = call(server.address, max_retries=1, parse_retries=1, parse_failure="skip")
    assert result["receiver_ok"] == 0.0
    assert all(math.isnan(result[k]) for k in ("score", "gain", "receiver_score"))
    assert result["receiver_errors"] == (1.0 if script == ["http500"] else 0.0)
    assert result["receiver_retries"] == (1.0 if script == ["http500"] else 0.0)
    assert result["receiver_parse_retries"] == (1.0 if script == ["noscore"] else 0.0)


def test_a_rejected_request_fails_even_under_the_skip_policy():
    """A 4xx (an unknown model name, too many top_logprobs) is a configuration error that every
    sample would hit: skipping it would train on nothing, so it raises whatever the policy."""
    app, log = scripted_app(["http400", "ok"])
    with LoopbackServer(app) as server, pytest.raises(ReceiverError, match="rejected the request: HTTP 400"):
        call(server.address, max_retries=2, parse_retries=2, parse_failure="skip")
    assert log == ["http400"]  # asked once: not retried


def test_every_outcome_returns_the_same_columns(tiny_receiver_server):
    """verl builds the extra-info columns from the first sample's keys."""
    app, _ = scripted_app(["noscore"])
    with LoopbackServer(app) as server:
        skipped = call(server.address, parse_retries=0, parse_failure="skip")
    scored = call(tiny_receiver_server.address)
    penalised = call(tiny_receiver_server.address, solution="no argument here", missing_argument="penalty")
    assert set(skipped) == set(scored) == set(penalised)
    assert math.isnan(penalised["receiver_ok"])  # not asked: not a skip
