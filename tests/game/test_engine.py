"""The one game engine: turn structure, transcripts, policies, trajectories."""

import asyncio

import pytest

from persuasion_rl.game import PromptConfig, parse_receiver_reply
from persuasion_rl.game.engine import Game, GameAborted, GameConfig, play_game
from persuasion_rl.game.turn import ReceiverTurn

CLAIM = "Cities should make public buses free to ride."
PRIOR = ReceiverTurn(parse_receiver_reply("<score>3</score><opinion>Unsure.</opinion><question>Cost?</question>"), 3.0)


def scripted(replies):
    """A Sender and a Receiver that answer from lists and record what they were shown."""
    seen = {"sender": [], "receiver": []}
    sender_replies, receiver_scores = iter(replies), iter([4.0, 5.5, 6.0])

    async def sender(messages):
        seen["sender"].append(messages)
        return next(sender_replies)

    async def receiver(messages, need_reply):
        seen["receiver"].append((messages, need_reply))
        score = next(receiver_scores)
        text = f"<score>{int(score)}</score><opinion>Now {score}.</opinion><question>Q{score}?</question>"
        return ReceiverTurn(parse_receiver_reply(text) if need_reply else None, score)

    return sender, receiver, seen


def argument(i):
    return f"<opinion>o</opinion><thinking>t</thinking><argument>Argument {i}.</argument>"


def test_dynamic_game_turn_structure_and_trajectory():
    sender, receiver, seen = scripted([argument(1), argument(2), argument(3)])
    game = asyncio.run(play_game(Game(CLAIM, PRIOR, GameConfig(PromptConfig(setting="dynamic"))), sender, receiver, final_reply=False))
    assert game.finished and game.score_trajectory == [4.0, 5.5, 6.0]
    assert game.reward == 3.0 and game.gain_per_round() == [1.0, 2.5, 3.0]
    # the Sender's chat grows: opening (4 messages), then assistant + user per round
    assert [len(m) for m in seen["sender"]] == [4, 6, 8]
    third = seen["sender"][2]
    assert third[4] == {"role": "assistant", "content": argument(1)}
    assert third[5]["content"].startswith('Here is the current transcript of the persuasion:\n<transcript>\nRound 2\n\nReceiver: """Now 4.0.\nQ4.0?""""')
    assert third[7]["content"].count("Round 3") == 1 and "Round 2" not in third[7]["content"]
    # the Receiver sees every round, then the header of the round it answers
    final_prompt = seen["receiver"][2][0][0]["content"]
    for i in (1, 2, 3):
        assert f'Sender: """Argument {i}."""' in final_prompt
    assert "Round 4\n</transcript>" in final_prompt
    # replies are generated only where the Sender reads them
    assert [need for _, need in seen["receiver"]] == [True, True, False]
    record = game.record(game_id="g1")
    assert record["ok"] and record["gain"] == 3.0 and len(record["rounds"]) == 3 and record["setting"] == "dynamic"


def test_static_game_is_one_round():
    sender, receiver, seen = scripted([argument(1)])
    game = asyncio.run(play_game(Game(CLAIM, PRIOR), sender, receiver))
    assert len(game.rounds) == 1 and game.reward == 1.0 and len(seen["receiver"]) == 1
    with pytest.raises(ValueError):
        GameConfig(PromptConfig(setting="static"), rounds=3)


def test_missing_argument_policies():
    for policy, expect_rounds, reward in (("penalty", 1, -2.0), ("raw", 3, 3.0)):
        sender, receiver, _ = scripted(["no tags here", argument(2), argument(3)])
        config = GameConfig(PromptConfig(setting="dynamic"), missing_argument=policy, missing_argument_penalty=-2.0)
        game = asyncio.run(play_game(Game(CLAIM, PRIOR, config), sender, receiver))
        assert len(game.rounds) == expect_rounds and game.reward == reward
    sender, receiver, _ = scripted(["no tags here"])
    with pytest.raises(GameAborted):
        asyncio.run(play_game(Game(CLAIM, PRIOR, GameConfig(missing_argument="fail")), sender, receiver))


def test_receiver_failure_mid_game_aborts_loudly():
    sender, _, _ = scripted([argument(1), argument(2), argument(3)])
    calls = []

    async def failing_receiver(messages, need_reply):
        calls.append(1)
        if len(calls) == 2:
            return ReceiverTurn(None, None, error="HTTP 500 after retries")
        return ReceiverTurn(parse_receiver_reply("<score>4</score><opinion>o</opinion><question>q</question>"), 4.0)

    game = Game(CLAIM, PRIOR, GameConfig(PromptConfig(setting="dynamic")))
    with pytest.raises(GameAborted, match="round 2: HTTP 500"):
        asyncio.run(play_game(game, sender, failing_receiver))
    assert game.score_trajectory == [4.0] and not game.finished


def test_moves_out_of_turn_are_refused():
    game = Game(CLAIM, PRIOR)
    with pytest.raises(RuntimeError):
        game.add_receiver(ReceiverTurn(None, 4.0))
    game.add_sender(argument(1))
    with pytest.raises(RuntimeError):
        game.add_sender(argument(2))


def test_dynamic_game_with_tiny_models(tiny_assets, tiny_receiver_model):
    """Real models on both sides: the tiny Sender (raw policy: it writes no tags) and the
    tiny Receiver, three rounds, per-round expected scores."""
    from persuasion_rl.receivers import GenerationParams, Receiver
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    sender_model = TransformersChatModel(tiny_assets.sender)
    receiver = Receiver(tiny_receiver_model)

    async def sender(messages):
        return (await sender_model.generate(messages, GenerationParams(max_tokens=24, temperature=1.0, seed=0))).text

    async def run():
        prior = await receiver.prior(CLAIM)
        game = Game(CLAIM, prior, GameConfig(PromptConfig(setting="dynamic"), missing_argument="raw"))
        return await play_game(game, sender, receiver.turn)

    game = asyncio.run(run())
    assert game.finished and len(game.score_trajectory) == 3
    assert all(1.0 <= s <= 7.0 for s in game.score_trajectory)
    assert game.record()["rounds"][2]["receiver"]["raw"]  # final reply kept for the transcript
