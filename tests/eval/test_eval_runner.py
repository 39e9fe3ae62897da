"""The evaluation's bookkeeping with scripted models: failures recorded and never scored,
resuming, replaying, the transcript schema, bad input named by file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persuasion_rl.annotate.transcripts import load_games
from persuasion_rl.eval.inputs import EvalClaim, load_claims, parse_count
from persuasion_rl.eval.records import EvalInputError, TranscriptStore, load_results
from persuasion_rl.eval.runner import EvalConfig, ReceiverModel, SenderModel, run_eval
from persuasion_rl.receivers import Receiver

from .scripted import ScriptedReceiver, ScriptedSender

CLAIMS = [
    EvalClaim("c-ok", "Buses should be free, likely.", "anthropic"),
    EvalClaim("c-tagless", "A tagless Sender cannot argue this.", "anthropic"),
    EvalClaim("c-flaky", "A flaky endpoint serves this claim.", "cmv"),
    EvalClaim("c-mute", "The Receiver goes mute on this claim.", "cmv"),
]


def models(sender: ScriptedSender | None = None):
    return SenderModel("scripted-sender", sender or ScriptedSender(), "scripted", 1_000), [
        ReceiverModel("scripted-receiver", Receiver(ScriptedReceiver()), "scripted")]


def run(tmp_path: Path, sender: ScriptedSender | None = None, **options):
    config = EvalConfig(tmp_path / "out", progress=False, n_boot=200, **options)
    s, receivers = models(sender)
    return run_eval(CLAIMS, s, receivers, config), config.out_dir / "transcripts.jsonl"


def by_claim(path: Path, setting: str = "static") -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["claim_id"]: r for r in records if r["setting"] == setting}


def test_failures_are_recorded_and_never_scored(tmp_path: Path) -> None:
    report, path = run(tmp_path, ScriptedSender(fail_times=99))
    assert report.played == 8 and report.failures == {"sender_parse": 2, "backend": 2, "receiver_parse": 2}
    games = by_claim(path, "dynamic")
    assert games["c-ok"]["ok"] and games["c-ok"]["gain"] == pytest.approx(1.8)  # expected scores: 4.9 - 3.1
    for claim_id, kind in (("c-tagless", "sender_parse"), ("c-flaky", "backend"), ("c-mute", "receiver_parse")):
        game = games[claim_id]
        assert not game["ok"] and game["gain"] is None and game["final_score"] is None
        assert game["failure"] == kind and game["errors"]
    assert "HTTP 503" in games["c-flaky"]["errors"][0]
    assert games["c-ok"]["prior_confidence"]["p_yes"] == pytest.approx(0.8)
    # every record, failed or not, follows the annotation platform's schema
    assert len(load_games(path)) == 8
    long_csv = (tmp_path / "out" / "results_long.csv").read_text()
    assert "failures_sender_parse" in long_csv
    markdown = (tmp_path / "out" / "results.md").read_text()
    # one finished claim per setting: means without intervals; failed games counted per cell
    assert "| 1.80 f=1 | 1.80 f=1 | n/a f=2 | n/a f=2 | 1.80 f=3 | 1.80 f=3 |" in markdown
    runs = (tmp_path / "out" / "runs.jsonl").read_text().splitlines()
    assert json.loads(runs[-1])["failures"] == {"sender_parse": 2, "backend": 2, "receiver_parse": 2}


def test_rerun_skips_finished_games_and_replays_call_failures(tmp_path: Path) -> None:
    sender = ScriptedSender(fail_times=2)  # both settings' first calls fail, then the endpoint recovers
    run(tmp_path, sender)
    calls = len(sender.calls)
    report, path = run(tmp_path, sender)
    assert report.skipped == 6 and report.replayed == 2 and report.played == 2 and not report.failures
    assert len(sender.calls) - calls == 1 + 3  # the static and dynamic c-flaky games only
    games = load_games(path)  # no game twice in the file
    assert len(games) == 8 and by_claim(path)["c-flaky"]["ok"]
    again, _ = run(tmp_path, sender)
    assert again.played == 0 and again.skipped == 8
    replay, _ = run(tmp_path, sender, retry_failed=True)
    assert replay.replayed == 4 and replay.played == 4  # the parse failures, on request


def test_resume_after_an_interruption(tmp_path: Path) -> None:
    _, path = run(tmp_path, settings=("static",))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])  # killed mid-write
    report, _ = run(tmp_path, settings=("static",))
    assert report.skipped == 2 and report.played == 2
    assert len(load_games(path)) == 4


def test_samples_are_separate_games(tmp_path: Path) -> None:
    report, path = run(tmp_path, samples=3, settings=("static",))
    assert report.planned == 12
    results = load_results([path])
    assert sorted({r.sample for r in results}) == [0, 1, 2] and len({r.key.game_id for r in results}) == 12


def test_bad_transcripts_name_file_line_and_field(tmp_path: Path) -> None:
    _, path = run(tmp_path, settings=("static",))
    lines = path.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["gain"] = "high"
    path.write_text("\n".join([lines[0], json.dumps(broken), *lines[2:]]) + "\n")
    with pytest.raises(EvalInputError, match=r"transcripts.jsonl line 2: field 'gain': expected a number or null"):
        load_results([path])
    with pytest.raises(EvalInputError, match="line 2: field 'gain'"):
        TranscriptStore(path)
    path.write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(EvalInputError, match="line 2: not valid JSON"):
        load_results([path])
    with pytest.raises(EvalInputError, match="no such file"):
        load_results([tmp_path / "missing.jsonl"])


def test_claims_files(tmp_path: Path, eval_claims: Path) -> None:
    claims = load_claims(eval_claims)
    assert [c.corpus for c in claims] == ["anthropic", "anthropic", "cmv", "cmv"]
    jsonl = tmp_path / "claims.jsonl"
    jsonl.write_text('{"id": "a", "claim": "X is good.", "source": "cmv"}\n{"id": "b", "claim": " "}\n')
    with pytest.raises(EvalInputError, match="claims.jsonl line 2: field 'claim'"):
        load_claims(jsonl)
    jsonl.write_text('{"id": "a", "claim": "X."}\n{"id": "a", "claim": "Y."}\n')
    with pytest.raises(EvalInputError, match="repeated claim ids"):
        load_claims(jsonl)


def test_parameter_counts() -> None:
    assert parse_count("8B") == 8_000_000_000 and parse_count("350m") == 350_000_000 and parse_count("1.5e9") == 1_500_000_000
    with pytest.raises(ValueError):
        parse_count("big")


def test_a_sender_that_never_argues_is_flagged_early_and_stops_at_its_argument(tmp_path: Path, caplog) -> None:
    """issue 15.4: every game failed sender_parse after minutes at 1,024 Sender tokens, with no hint."""
    seen = []

    class Recording(ScriptedSender):
        async def generate(self, messages, params, prefill=""):
            seen.append(params)
            return await super().generate(messages, params, prefill)

    claims = [EvalClaim(f"t{i}", f"A tagless claim number {i}.", "anthropic") for i in range(6)]
    s, receivers = models(Recording())
    with caplog.at_level("WARNING"):
        run_eval(claims, s, receivers, EvalConfig(tmp_path / "out", settings=("static",), progress=False, n_boot=100))
    assert "the first 5 games all failed sender_parse" in caplog.text and "persuasion-rl show" in caplog.text
    assert seen and all(p.stop == ("</argument>",) for p in seen)


def test_a_rerun_with_other_settings_plays_new_games(tmp_path: Path, caplog) -> None:
    """issue 15.1: a rerun with another --missing-argument or token limit printed "already
    done" and the old table. Games are keyed by a hash of every setting."""
    first, path = run(tmp_path)
    assert first.played == 8
    same, _ = run(tmp_path)
    assert same.played == same.replayed == 1 and same.skipped == 7  # only the call failure is replayed
    with caplog.at_level("WARNING"):
        other, _ = run(tmp_path, missing_argument="raw")
    assert other.played == 8 and other.skipped == 0
    assert "played with other settings" in caplog.text and 'game.static.missing_argument: "penalty" -> "raw"' in caplog.text
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 16 and len({r["settings_key"] for r in records}) == 2
    # the run's table holds only its own games: the tagless claim is scored with raw, not failed
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| 1.80 [1.80, 1.80] f=0 |" in markdown  # anthropic: the tagless game counted, not "1.80 f=1"
    from persuasion_rl.eval.runner import SenderSampling
    tokens, _ = run(tmp_path, missing_argument="raw", sender_sampling=SenderSampling(max_tokens=64))
    assert tokens.played == 8


def test_table_refuses_to_pool_different_settings(tmp_path: Path) -> None:
    run(tmp_path)
    run(tmp_path, missing_argument="raw")
    with pytest.raises(EvalInputError, match="--prefer FILE_OR_FOLDER, or keep one set of settings with --settings KEY"):
        load_results([tmp_path / "out"])
    keys = sorted({json.loads(line)["settings_key"] for line in (tmp_path / "out" / "transcripts.jsonl").read_text().splitlines()})
    assert len(load_results([tmp_path / "out"], settings=[keys[0]])) == 8


class CountingReceiver(ScriptedReceiver):
    """The scripted Receiver, counting the opening turns (priors) it is asked to write."""

    def __init__(self) -> None:
        super().__init__()
        self.openings = 0

    async def generate(self, messages, params, prefill=""):
        self.openings += 'Sender: """' not in messages[0]["content"]
        return await super().generate(messages, params, prefill)


def test_evaluations_sharing_a_prior_cache_compute_each_prior_once(tmp_path: Path) -> None:
    backend = CountingReceiver()
    receivers = [ReceiverModel("scripted-receiver", Receiver(backend), "scripted")]
    shared = tmp_path / "priors.jsonl"
    for sender_name in ("base", "trained"):
        config = EvalConfig(tmp_path / sender_name, settings=("static",), progress=False, n_boot=100, prior_cache=shared)
        run_eval(CLAIMS, SenderModel(sender_name, ScriptedSender(), "scripted", 1_000), receivers, config)
        assert backend.openings == len(CLAIMS), sender_name  # the second evaluation read them all
    assert not (tmp_path / "trained" / "priors.jsonl").exists()
    # without a shared file each results folder keeps its own
    run_eval(CLAIMS, SenderModel("alone", ScriptedSender(), "scripted", 1_000), receivers,
             EvalConfig(tmp_path / "alone", settings=("static",), progress=False, n_boot=100))
    assert backend.openings == 2 * len(CLAIMS) and (tmp_path / "alone" / "priors.jsonl").is_file()
