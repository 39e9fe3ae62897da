"""The tiny recipes' training data: verl RL parquet files from the tiny claims.

Each row is the Sender's opening prompt quoting the tiny Receiver's prior reply, which is
generated once (greedy, transformers) and kept in the parquet files, so a second run
pays nothing. Both prior measurements are kept, so either scoring mode can train on the
same files: the Likert point parsed from that reply's ``<score>`` (sample mode; a reply
without one is an error) and the expected score after ``<score>`` (expected mode).
Rows follow ``persuasion_rl.data.export`` (data_source ``tiny``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_SOURCE = "tiny"
VAL_CLAIMS = 4  # the last claims of tiny_claims.jsonl are held out for validation
PRIOR_MAX_TOKENS = 64


@dataclass(frozen=True)
class TinyDataSpec:
    setting: str = "static"
    sender_word_limit: int = 250
    receiver_word_limit: int = 250

    @property
    def folder_name(self) -> str:
        return f"rl2-{self.setting}-s{self.sender_word_limit}-r{self.receiver_word_limit}"


def assets_root(spec=None) -> Path:
    """The tiny models' cache folder (computed without building anything)."""
    from persuasion_rl.assets.tiny import TinyAssetsSpec, default_cache_dir

    return default_cache_dir() / f"tiny-{(spec or TinyAssetsSpec()).digest()}"


def tiny_path(kind: str, setting: str = "static", sender_word_limit: int = 250, receiver_word_limit: int = 250) -> str:
    """Path of a tiny asset: sender | receiver | claims | train | val, or vllm_sender (a tiny
    Sender vLLM's CPU attention serves: head size 32) (Hydra resolver ``prl_tiny``)."""
    root = assets_root()
    if kind in ("sender", "receiver"):
        return str(root / kind)
    if kind == "vllm_sender":
        from persuasion_rl.assets.tiny import VLLM_TINY

        return str(assets_root(VLLM_TINY) / "sender")
    if kind == "claims":
        return str(root / "claims.jsonl")
    if kind in ("train", "val"):
        spec = TinyDataSpec(setting, int(sender_word_limit), int(receiver_word_limit))
        return str(root / spec.folder_name / f"{kind}.parquet")
    raise ValueError(f"unknown tiny asset {kind!r}: sender, receiver, claims, train, val or vllm_sender")


def tiny_priors(receiver_path: Path, claims: list[str], receiver_word_limit: int, cache: Path) -> list[tuple[str, float]]:
    """The tiny Receiver's opening reply to each claim (greedy), checked for a score, and
    its expected prior score, through the prior cache."""
    from persuasion_rl.game import PromptConfig
    from persuasion_rl.receivers import Receiver, ScoringConfig, ScoringMode, run_sync
    from persuasion_rl.receivers.factory import make_backend
    from persuasion_rl.receivers.prior_cache import PriorCache, PriorRequest, opening_turns
    from persuasion_rl.receivers.settings import TINY_RECEIVER_NAME, ReceiverSettings

    backend = make_backend(ReceiverSettings("tiny_cpu", name=TINY_RECEIVER_NAME, path=str(receiver_path), device="cpu"))
    # expected mode: the opening turn is the greedy reply and the expected score after <score>
    receiver = Receiver(backend, PromptConfig(receiver_word_limit=receiver_word_limit),
                        ScoringConfig(mode=ScoringMode.EXPECTED, reply_max_tokens=PRIOR_MAX_TOKENS, temperature=0.0))
    lookups = run_sync(opening_turns(receiver, claims, PriorRequest(PriorCache(cache), progress=False)))
    unscored = [lookup.claim for lookup in lookups if not (lookup.turn and lookup.turn.reply.ok and lookup.turn.mode_score is not None)]
    if unscored:
        raise RuntimeError(f"the tiny Receiver gave no readable prior score for {len(unscored)} claims, e.g. {unscored[0]!r}")
    return [(lookup.turn.reply.raw, lookup.turn.mode_score) for lookup in lookups]


def build_tiny_data(spec: TinyDataSpec = TinyDataSpec(), force: bool = False) -> dict[str, Path]:
    """Write ``train.parquet`` and ``val.parquet`` for ``spec`` (once; cached)."""
    from persuasion_rl.assets.tiny import build_tiny_models
    from persuasion_rl.data.claims import ClaimRecord
    from persuasion_rl.data.verl_row import AGENT_NAMES, build_row, rows_to_table
    from persuasion_rl.data.priors import Prior
    from persuasion_rl.files import read_jsonl, write_parquet_atomic
    from persuasion_rl.game import PromptConfig

    paths = {kind: Path(tiny_path(kind, spec.setting, spec.sender_word_limit, spec.receiver_word_limit)) for kind in ("train", "val")}
    if not force and all(p.exists() for p in paths.values()):
        return paths
    assets = build_tiny_models()
    claims = [record for _, record in read_jsonl(assets.claims)]
    replies = tiny_priors(assets.receiver, [c["claim"] for c in claims], spec.receiver_word_limit, assets_root() / "priors.jsonl")
    config = PromptConfig(setting=spec.setting, sender_word_limit=spec.sender_word_limit,
                          receiver_word_limit=spec.receiver_word_limit)
    split_at = len(claims) - VAL_CLAIMS
    rows: dict[str, list] = {"train": [], "val": []}
    for number, (claim, (reply, expected_score)) in enumerate(zip(claims, replies)):
        split = "train" if number < split_at else "val"
        record = ClaimRecord(id=claim["id"], claim=claim["claim"], source=DATA_SOURCE, split=split,
                             provenance_file=str(assets.claims), provenance_row=number, topic=claim.get("topic"))
        prior = Prior(claim_id=claim["id"], reply=reply, claim=claim["claim"], receiver="tiny-receiver", expected_score=expected_score)
        rows[split].append(build_row(record, prior, config, len(rows[split]), AGENT_NAMES[config.setting]))
    for kind, path in paths.items():
        write_parquet_atomic(rows_to_table(rows[kind]), path)  # never a half-written file a later run would trust
        logger.info("wrote %s (%d rows)", path, len(rows[kind]))
    return paths

