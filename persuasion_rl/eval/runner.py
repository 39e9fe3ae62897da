"""Play evaluation games: one Sender against Receivers, on claims, in both settings.

``run_eval`` plans every game (claim x setting x Receiver x sample), skips those the
folder's ``transcripts.jsonl`` already holds, computes each Receiver's opening turns
(cached in ``priors.jsonl``) and prior confidences (``confidence.jsonl``), then plays the
rest concurrently (``asyncio`` with a concurrency limit; the local backends micro-batch
concurrent calls into one forward pass) and appends each finished game at once, so an
interrupted run loses at most the games in flight. A rerun replays the games that failed
on a model call (``backend``); ``retry_failed`` replays parse failures too. Failures are
recorded with their reason and counted, never scored. At the end the results table of
the whole folder is (re)written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from tqdm.auto import tqdm

from ..files import append_jsonl
from ..game.engine import Game, GameAborted, GameConfig, MissingArgument, play_game
from ..game.prompts import PromptConfig, Setting
from ..game.record import unplayed_record
from ..game.turn import ReceiverTurn
from ..game.guard import GuardConfig
from ..receivers.base import ChatBackend, GenerationParams, ReceiverError, backend_control_tokens
from ..receivers.confidence import DEFAULT_MIN_MASS, DEFAULT_TOP_K, Confidence, ConfidenceCache
from ..receivers.prior_cache import PriorCache, PriorLookup, PriorRequest, opening_turns
from ..receivers.receiver import Receiver
from .inputs import EvalClaim, unique_names
from .records import (
    BACKEND, EVAL_VERSION, FAILURE_KINDS, PRIOR, RECEIVER_PARSE, RETRIED_BY_DEFAULT, SENDER_PARSE, TRANSCRIPTS_FILE,
    EvalInputError, GameKey, TranscriptStore, load_results,
)
from .settings_key import describe_difference, eval_settings, settings_key
from .stats import DEFAULT_BOOTSTRAP
from .table import build_table, write_table

log = logging.getLogger(__name__)

BACKEND_ERRORS = (ReceiverError, httpx.HTTPError, OSError, asyncio.TimeoutError)


SENDER_STOP = "</argument>"  # the Sender's format ends with its argument: nothing after it is read
EARLY_WARNING_GAMES = 5


@dataclass(frozen=True)
class SenderSampling:
    max_tokens: int = 1024  # a cap: generation stops at SENDER_STOP
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = (SENDER_STOP,)


@dataclass(frozen=True)
class EvalConfig:
    out_dir: Path
    settings: tuple[str, ...] = ("static", "dynamic")
    samples: int = 1
    concurrency: int = 8
    missing_argument: str = MissingArgument.PENALTY.value  # "raw" uses a tagless reply as the argument
    sender_prompt: str = PromptConfig.sender_prompt  # the Sender prompt's version (game/prompts.py SENDER_PROMPTS)
    sender_word_limit: int = PromptConfig.sender_word_limit
    final_reply: bool = True  # keep the Receiver's last reply text in the transcript
    sender_sampling: SenderSampling = field(default_factory=SenderSampling)
    confidence: bool = True
    confidence_top_k: int = DEFAULT_TOP_K
    confidence_min_mass: float = DEFAULT_MIN_MASS
    retry_failed: bool = False
    progress: bool = True
    seed: int = 0
    n_boot: int = DEFAULT_BOOTSTRAP
    # the Receivers' opening turns; a file shared by several evaluations (one per Sender)
    # computes each Receiver's prior for a claim once (the prior does not depend on the Sender)
    prior_cache: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "prior_cache", Path(self.prior_cache) if self.prior_cache else self.out_dir / "priors.jsonl")
        for setting in self.settings:
            Setting(setting)
        if self.samples < 1 or self.concurrency < 1:
            raise EvalInputError(f"samples and concurrency must be >= 1, got {self.samples} and {self.concurrency}")
        if self.missing_argument == MissingArgument.FAIL.value:
            raise EvalInputError("missing_argument 'fail' would stop the evaluation at the first tagless reply; use penalty or raw")
        MissingArgument(self.missing_argument)
        try:
            self.prompts(Setting.STATIC)
        except ValueError as error:
            raise EvalInputError(f"--sender-prompt / --sender-word-limit: {error}") from None

    def prompts(self, setting: Setting | str, receiver: PromptConfig = PromptConfig()) -> PromptConfig:
        """The game's prompts: the Sender's as configured here, the Receiver's as its model plays them."""
        return PromptConfig(setting=setting, sender_prompt=self.sender_prompt, sender_word_limit=self.sender_word_limit,
                            receiver_prompt=receiver.receiver_prompt, receiver_word_limit=receiver.receiver_word_limit)


@dataclass
class SenderModel:
    name: str
    backend: ChatBackend
    spec: str
    params: int | None = None


@dataclass
class ReceiverModel:
    name: str
    receiver: Receiver
    spec: str


@dataclass(frozen=True)
class PriorOutcome:
    turn: ReceiverTurn | None
    confidence: Confidence | None
    error: str | None = None
    kind: str | None = None  # PRIOR or BACKEND when the opening turn cannot be used

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class EvalReport:
    transcripts: Path
    planned: int
    skipped: int
    replayed: int
    played: int
    failures: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    tables: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.played - sum(self.failures.values())


# ---- priors -----------------------------------------------------------------------------


def _usable(opening: PriorLookup) -> PriorOutcome:
    if opening.turn is None:
        return PriorOutcome(None, None, f"Receiver opening turn failed: {opening.error}", BACKEND)
    if not opening.turn.opens_game:
        reason = opening.turn.error or "no opinion or question for the Sender to read"
        return PriorOutcome(opening.turn, opening.confidence, f"Receiver opening turn unusable: {reason}", PRIOR)
    return PriorOutcome(opening.turn, opening.confidence)


async def _all_priors(keys: Sequence[GameKey], claims: dict[str, EvalClaim], receivers: dict[str, ReceiverModel],
                      config: EvalConfig) -> dict[tuple[str, str], PriorOutcome]:
    request = PriorRequest(PriorCache(config.prior_cache),
                           ConfidenceCache(config.out_dir / "confidence.jsonl") if config.confidence else None,
                           config.confidence_top_k, config.confidence_min_mass, config.concurrency, config.progress,
                           failures=BACKEND_ERRORS)
    pairs = list(dict.fromkeys((k.receiver, k.claim_id) for k in keys))
    outcomes: dict[tuple[str, str], PriorOutcome] = {}
    for name in dict.fromkeys(receiver for receiver, _ in pairs):
        ids = [claim_id for receiver, claim_id in pairs if receiver == name]
        openings = await opening_turns(receivers[name].receiver, [claims[i].claim for i in ids], request)
        outcomes.update({(name, claim_id): _usable(opening) for claim_id, opening in zip(ids, openings, strict=True)})
    return outcomes


# ---- games ------------------------------------------------------------------------------


def _meta(key: GameKey, claim: EvalClaim, sender: SenderModel, receiver: ReceiverModel, prior: PriorOutcome,
          settings: dict | None = None) -> dict:
    return {
        "game_id": key.game_id, "settings_key": key.settings_key, "settings": settings,
        "claim_id": key.claim_id, "corpus": claim.corpus, "sender": key.sender,
        "receiver": key.receiver, "sample": key.sample, "sender_spec": sender.spec, "receiver_spec": receiver.spec,
        "sender_params": sender.params, "scoring_mode": receiver.receiver.scoring.mode.value, "eval_version": EVAL_VERSION,
        "prior_confidence": prior.confidence.as_dict() if prior.confidence else None,
    }


def _unplayed_record(meta: dict, claim: EvalClaim, setting: str, prior: PriorOutcome) -> dict:
    return unplayed_record(claim.claim, setting, prior.turn, prior.error, **meta, failure=prior.kind)


def _sender_fn(sender: SenderModel, sampling: SenderSampling, seed: int):
    # one seed per sample index, not per game: equal parameters let local models batch
    params = GenerationParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
                              stop=sampling.stop, seed=seed)

    async def send(messages):
        return (await sender.backend.generate(messages, params)).text

    return send


async def play_one(key: GameKey, claim: EvalClaim, prior: PriorOutcome, sender: SenderModel, receiver: ReceiverModel,
                   config: EvalConfig) -> dict:
    """One game as a transcript record; every failure is recorded, none raised."""
    meta = _meta(key, claim, sender, receiver, prior, eval_settings(config, sender, receiver, EVAL_VERSION))
    if not prior.ok:
        return _unplayed_record(meta, claim, key.setting, prior)
    guard = GuardConfig(control_tokens=backend_control_tokens(receiver.receiver.backend))  # its tokenizer's, when local
    # the game renders the Receiver's prompts with the Receiver's own prompt version
    prompts = config.prompts(key.setting, receiver.receiver.prompts)
    game_config = GameConfig(prompts, missing_argument=config.missing_argument, guard=guard)
    game = Game(claim.claim, prior.turn, game_config)
    failure, errors = None, []
    try:
        await play_game(game, _sender_fn(sender, config.sender_sampling, config.seed + key.sample), receiver.receiver.turn,
                        final_reply=config.final_reply)
    except GameAborted as error:
        failure, errors = RECEIVER_PARSE, [str(error)]
    except BACKEND_ERRORS as error:
        failure, errors = BACKEND, [f"{type(error).__name__}: {error}"]
    record = game.record(**meta)
    if game.aborted:
        failure = SENDER_PARSE
    record["ok"] = bool(record["ok"] and failure is None)
    record["errors"] = [*record["errors"], *errors]
    if not record["ok"]:
        record["gain"] = record["final_score"] = None
    record["failure"] = failure if not record["ok"] else None
    record["injection_flags"] = game.injection_flags  # times the Sender-injection guard rewrote an argument
    record["receiver_echo"] = game.score_echoes  # rounds whose Receiver score took a point the Sender proposed
    return record


def _warn_sender_parse(config: EvalConfig) -> None:
    """Said early, not after the whole run: a Sender that never writes <argument> fails every game."""
    log.warning("the first %d games all failed sender_parse: the Sender wrote no closed <argument> within %d tokens. "
                "A base or untrained Sender may never write the tags: try --missing-argument raw (the reply is the "
                "argument) or a larger --sender-max-tokens; see what it wrote with `persuasion-rl show %s --failed`",
                EARLY_WARNING_GAMES, config.sender_sampling.max_tokens, config.out_dir)


async def _play_all(keys: Sequence[GameKey], claims: dict[str, EvalClaim], priors: dict[tuple[str, str], PriorOutcome],
                    sender: SenderModel, receivers: dict[str, ReceiverModel], store: TranscriptStore,
                    config: EvalConfig) -> Counter:
    failures: Counter = Counter()
    finished: list[GameKey] = []
    semaphore = asyncio.Semaphore(config.concurrency)
    with tqdm(total=len(keys), desc="games", unit="game", disable=not config.progress) as bar:
        async def one(key: GameKey) -> None:
            async with semaphore:
                record = await play_one(key, claims[key.claim_id], priors[(key.receiver, key.claim_id)], sender,
                                        receivers[key.receiver], config)
            store.append(key, record)
            if not record["ok"]:
                failures[record["failure"]] += 1
                bar.set_postfix(failed=sum(failures.values()))
            bar.update(1)
            finished.append(key)  # counted here: a disabled bar counts nothing
            if len(finished) == EARLY_WARNING_GAMES and failures[SENDER_PARSE] == EARLY_WARNING_GAMES:
                _warn_sender_parse(config)

        await asyncio.gather(*(one(k) for k in keys))
    return failures


# ---- the run ----------------------------------------------------------------------------


def plan_games(claims: Sequence[EvalClaim], sender: SenderModel, receivers: Sequence[ReceiverModel], config: EvalConfig) -> list[GameKey]:
    keys = {r.name: settings_key(eval_settings(config, sender, r, EVAL_VERSION)) for r in receivers}
    return [GameKey(c.id, s, sender.name, r.name, k, keys[r.name])
            for s in config.settings for r in receivers for k in range(config.samples) for c in claims]


def _note_other_settings(store: TranscriptStore, plan: Sequence[GameKey], config: EvalConfig, sender: SenderModel,
                         receivers: Sequence[ReceiverModel]) -> None:
    """One line when the folder holds the same games played with other settings: they
    are kept, and this run plays (and tabulates) its own."""
    cells = {k.cell: k.settings_key for k in plan}
    others = [r for k, r in store.records.items() if k.cell in cells and k.settings_key != cells[k.cell]]
    if others:
        receiver = next(r for r in receivers if r.name == others[0]["receiver"])
        change = describe_difference(others[0].get("settings"), eval_settings(config, sender, receiver, EVAL_VERSION))
        log.warning("%s holds %d of these games played with other settings (%s): playing them again with these "
                    "settings (key %s); the old ones stay in the file", store.path, len(others), change,
                    cells[plan[0].cell] if plan else "")


async def _close(*backends: ChatBackend) -> None:
    for backend in backends:
        close = getattr(backend, "aclose", None)
        if close is not None:
            await close()


async def _run(claims: Sequence[EvalClaim], sender: SenderModel, receivers: Sequence[ReceiverModel], config: EvalConfig,
               store: TranscriptStore, todo: Sequence[GameKey]) -> Counter:
    by_claim = {c.id: c for c in claims}
    by_name = {r.name: r for r in receivers}
    try:
        priors = await _all_priors(todo, by_claim, by_name, config)
        return await _play_all(todo, by_claim, priors, sender, by_name, store, config)
    finally:
        await _close(sender.backend, *(r.receiver.backend for r in receivers))


def _log_run(config: EvalConfig, sender: SenderModel, receivers: Sequence[ReceiverModel], report: EvalReport) -> None:
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "sender": sender.name, "sender_spec": sender.spec,
             "sender_params": sender.params, "receivers": {r.name: r.spec for r in receivers},
             "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
             "planned": report.planned, "skipped": report.skipped, "played": report.played,
             "failures": dict(report.failures), "seconds": round(report.seconds, 1)}
    append_jsonl(config.out_dir / "runs.jsonl", [entry])


def run_eval(claims: Sequence[EvalClaim], sender: SenderModel, receivers: Sequence[ReceiverModel], config: EvalConfig) -> EvalReport:
    unique_names([r.name for r in receivers], "Receiver")
    if not receivers:
        raise EvalInputError("give at least one Receiver")
    config.out_dir.mkdir(parents=True, exist_ok=True)
    store = TranscriptStore(config.out_dir / TRANSCRIPTS_FILE)
    retry = FAILURE_KINDS if config.retry_failed else RETRIED_BY_DEFAULT
    plan = plan_games(claims, sender, receivers, config)
    _note_other_settings(store, plan, config, sender, receivers)
    kept = store.done(retry)
    replayed = store.drop(k for k in plan if k in store.records and k not in kept)
    done = store.done(retry)
    todo = [k for k in plan if k not in done]
    log.info("%d games planned: %d already done, %d to play (%d of them replayed failures)",
             len(plan), len(plan) - len(todo), len(todo), replayed)
    start = time.monotonic()
    failures = asyncio.run(_run(claims, sender, receivers, config, store, todo)) if todo else Counter()
    report = EvalReport(store.path, len(plan), len(plan) - len(todo), replayed, len(todo), failures, time.monotonic() - start)
    this_run = sorted({k.settings_key for k in plan})  # the folder may also hold games of other settings
    report.tables = write_table(build_table(load_results([store.path], settings=this_run), n_boot=config.n_boot, seed=config.seed),
                                config.out_dir)
    _log_run(config, sender, receivers, report)
    log.info("played %d games in %.0fs: %d ok, %d failed %s", report.played, report.seconds, report.ok,
             sum(failures.values()), dict(failures) or "")
    return report
