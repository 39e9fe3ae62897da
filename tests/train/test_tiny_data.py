"""The tiny recipes' verl parquet files."""

from __future__ import annotations

import pyarrow.parquet as pq

from persuasion_rl.game import PromptConfig, parse_receiver_reply, sender_opening_messages
from persuasion_rl.train.tiny_data import TinyDataSpec, build_tiny_data, tiny_path


def test_rows_quote_a_real_prior_and_carry_what_the_reward_needs(tiny_assets):
    paths = build_tiny_data(TinyDataSpec())
    train, val = (pq.read_table(paths[k]).to_pylist() for k in ("train", "val"))
    assert len(train) == 28 and len(val) == 4
    assert {r["extra_info"]["claim_id"] for r in train}.isdisjoint(r["extra_info"]["claim_id"] for r in val)
    for row in train + val:
        info = row["extra_info"]
        assert row["data_source"] == "tiny" and row["agent_name"] == "single_turn_agent"
        assert row["reward_model"] == {"style": "model", "ground_truth": info["claim"]}
        reply = parse_receiver_reply(info["prior_reply"])
        assert reply.ok and info["prior_score"] == reply.score  # parsed from the tiny Receiver's own <score>
        assert row["prompt"] == sender_opening_messages(info["claim"], reply.transcript_message, PromptConfig())
    assert [r["extra_info"]["index"] for r in train] == list(range(28))


def test_built_once_then_reused(tiny_assets):
    paths = build_tiny_data(TinyDataSpec())
    stamps = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    assert build_tiny_data(TinyDataSpec()) == paths
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == stamps


def test_paths_follow_the_prompt_settings():
    path = tiny_path("train", "dynamic", 100, 50)
    assert f"/rl2-dynamic-s100-r50-paper-v1-{TinyDataSpec('dynamic', 100, 50).prompt_digest()}/train.parquet" in path
    assert tiny_path("sender").endswith("/sender")


def test_the_data_folder_follows_the_sender_prompt_text(monkeypatch):
    """Rows carry the Sender's prompt: a prompt edited under the same version name must not
    reuse rows built from the old text."""
    from persuasion_rl.game import prompts

    small = TinyDataSpec("static", 40, 250, "small-v1")
    before = small.folder_name
    assert before != TinyDataSpec("static", 40, 250).folder_name and "small-v1" in before
    edited = prompts.SenderPrompt(**{**prompts.SENDER_PROMPTS["small-v1"].__dict__, "first_turn": "Argue: {claim} ({word_limit} words)"})
    monkeypatch.setitem(prompts.SENDER_PROMPTS, "small-v1", edited)
    assert small.folder_name != before


def test_priors_come_through_the_prior_cache_and_match_the_built_rows(tiny_assets, tmp_path):
    import pytest

    from persuasion_rl.receivers.prior_cache import PriorCache
    from persuasion_rl.train.tiny_data import tiny_priors

    train = pq.read_table(build_tiny_data(TinyDataSpec())["train"]).to_pylist()[:3]
    claims = [row["extra_info"]["claim"] for row in train]
    cache = tmp_path / "priors.jsonl"
    first = tiny_priors(tiny_assets.receiver, claims, 250, cache)
    assert len(PriorCache(cache)) == 3 and tiny_priors(tiny_assets.receiver, claims, 250, cache) == first
    for row, (reply, expected) in zip(train, first):
        assert reply == row["extra_info"]["prior_reply"]
        assert expected == pytest.approx(row["extra_info"]["prior_expected_score"], abs=1e-3)
