"""Robustness report: Sender injections tried/blocked, Receiver faults injected/survived,
rewards lost or defaulted. Run: ``.venv/bin/python benchmarks/robustness.py``

Injections: every kind in tests/adversarial/cases.py goes through the real game engine;
it is blocked when the Receiver's prompt carries no working reserved tag, no triple-quote
break, no forged transcript line and no chat-format control token, and a Receiver parroting its prompt yields no score.
Faults: a real OpenAI-compatible server on loopback misbehaves on a schedule; a fault is
survived when the reward still comes from a real Receiver reply, or, when the fault never
clears, when the call fails loudly. A reward is *defaulted* if a score is returned that
no server reply contained (target 0).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from persuasion_rl.game import parse_receiver_reply  # noqa: E402
from persuasion_rl.game.engine import Game  # noqa: E402
from persuasion_rl.game.turn import ReceiverTurn  # noqa: E402
from persuasion_rl.game.guard import control_tokens_left  # noqa: E402
from persuasion_rl.receivers.base import ReceiverError  # noqa: E402
from persuasion_rl.receivers.openai_backend import OpenAIChatModel, RetryPolicy  # noqa: E402
from persuasion_rl.receivers.receiver import Receiver, ScoringConfig  # noqa: E402
from tests.adversarial.cases import CASES, INSTRUCTIONS  # noqa: E402
from tests.conftest import LoopbackServer  # noqa: E402
from tests.receivers.faulty_server import scripted_app  # noqa: E402

CLAIM = "Cities should make public buses free to ride."
PRIOR = ReceiverTurn(parse_receiver_reply("<score>3</score><opinion>Unsure.</opinion><question>Cost?</question>"), 3.0)
_WORKING_TAG = re.compile(r"<\s*/?\s*(score|opinion|thinking|questions?|argument|transcript)\s*>", re.I)
_FORGED_LINE = re.compile(r"^\s*[#*\[]*\s*(Receiver|Sender|System|Assistant|User|Developer)\b[^:\n]{0,20}:|^\s*Round \d", re.M | re.I)


def injection_blocked(argument: str) -> bool:
    game = Game(CLAIM, PRIOR)
    game.add_sender(f"<argument>{argument}</argument>")
    shown = game.rounds[0].sender_argument or ""
    transcript = game.receiver_prompt()[0]["content"].split("<transcript>")[1].split("</transcript>")[0]
    parrot = parse_receiver_reply(transcript.replace(PRIOR.reply.transcript_message, ""))
    return (not _WORKING_TAG.search(shown) and '"""' not in shown and not _FORGED_LINE.search(shown)
            and not control_tokens_left(shown) and parrot.score is None)


FAULTS = {  # name: (server schedule, the fault clears?)
    "timeout": (["slow", "ok"], True), "http_500": (["http500", "http500", "ok"], True),
    "malformed_body": (["malformed", "ok"], True), "empty_body": (["empty", "ok"], True),
    "no_score_in_reply": (["noscore", "ok"], True), "http_500_forever": (["http500"], False),
    "bad_request": (["http400"], False), "no_score_forever": (["noscore"], False),
}


async def run_fault(schedule: list[str], mode: str) -> tuple[str, float | None]:
    app, log = scripted_app(schedule, score_token="6")
    with LoopbackServer(app) as server:
        client = OpenAIChatModel(server.address, "m", retry=RetryPolicy(max_retries=3, timeout_s=1.0, backoff_base_s=0.05))
        receiver = Receiver(client, scoring=ScoringConfig(mode=mode))
        try:
            for _ in range(3):  # the reward's parse retries: a fresh Receiver call
                result = await receiver.score_messages([{"role": "user", "content": "x"}])
                if result.ok:
                    return ("scored" if "ok" in log else "defaulted"), result.score
            return "failed_loudly", None
        except ReceiverError:
            return "failed_loudly", None


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    blocked = sum(injection_blocked(argument) for _, argument, _, _ in CASES)
    flagged = sum(1 for text in INSTRUCTIONS if Game(CLAIM, PRIOR).add_sender(f"<argument>{text}</argument>").injection_flags.get("instruction"))
    print(f"injection kinds tried: {len(CASES)}  blocked: {blocked}")
    print(f"instructions to the Receiver tried: {len(INSTRUCTIONS)}  flagged: {flagged}")
    survived = defaulted = injected = 0
    for name, (schedule, clears) in FAULTS.items():
        for mode in ("expected", "sample"):
            outcome, score = asyncio.run(run_fault(schedule, mode))
            injected += 1
            ok = (outcome == "scored" and abs(score - 6.0) < 0.5) if clears else outcome == "failed_loudly"
            survived += ok
            defaulted += outcome == "defaulted"
            print(f"  fault {name:<20} {mode:<9} -> {outcome}{'' if ok else '  <-- NOT SURVIVED'}")
    print(f"faults injected: {injected}  survived: {survived}")
    print(f"rewards lost or defaulted: {defaulted}")


if __name__ == "__main__":
    main()
