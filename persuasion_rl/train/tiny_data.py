"""The tiny recipes' training data: verl RL parquet files from the tiny claims.

Each row is the Sender's opening prompt quoting the tiny Receiver's prior reply, which is
generated once (greedy, transformers) and kept in the parquet files, so a second run
pays nothing. Both prior measurements are kept, so either scoring mode can train on the
same files: the Likert point parsed from that reply's ``<score>`` (sample mode; a reply
without one is an error) and the expected score after ``<score>`` (expected mode).
Rows follow ``persuasion_rl.data.export`` (data_source ``tiny``).
"""

from __future__ import annotations

import hashlib
import json
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
    sender_prompt: str = "paper-v1"  # the Sender prompt's version the rows' prompts are written in

    @property
    def folder_name(self) -> str:
        return f"rl2-{self.setting}-s{self.sender_word_limit}-r{self.receiver_word_limit}-{self.sender_prompt}-{self.prompt_digest()}"

    def prompts(self):
        """The prompts the rows are written with."""
        from persuasion_rl.game import PromptConfig

        return PromptConfig(setting=self.setting, sender_word_limit=self.sender_word_limit,
                            receiver_word_limit=self.receiver_word_limit, sender_prompt=self.sender_prompt)

    def prompt_digest(self) -> str:
        """A hash of the Sender's opening prompt as the rows carry it: a prompt text edited
        under the same version name builds new rows instead of reusing stale ones."""
        from persuasion_rl.game import sender_opening_messages

        text = json.dumps(sender_opening_messages("CLAIM", "OPENING", self.prompts()), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


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


def receiver_priors(receiver_path: Path, receiver_name: str, claims: list[str], receiver_word_limit: int, cache: Path,
                    require_sampled: bool = True, progress: bool = False, scoring: dict | None = None,
                    prompt: dict | None = None) -> list[tuple[str, float]]:
    """The Receiver's opening reply to each claim (greedy) and its expected prior score,
    through the prior cache. ``require_sampled``: the reply must carry a readable
    ``<score>`` too (the tiny Receiver's does, so sample mode can train on the files); a
    real small Receiver's reply may not, and then only expected scoring reads the files
    (the reward refuses a missing prior). ``scoring``: ScoringConfig fields the training
    reward uses too (``min_digit_mass``, ``top_logprobs``), so prior and posterior are
    read alike; ``prompt``: PromptConfig fields (the Receiver prompt version)."""
    from persuasion_rl.game import PromptConfig
    from persuasion_rl.receivers import Receiver, ScoringConfig, ScoringMode, run_sync
    from persuasion_rl.receivers.factory import make_backend
    from persuasion_rl.receivers.prior_cache import PriorCache, PriorRequest, opening_turns
    from persuasion_rl.receivers.settings import ReceiverSettings

    backend = make_backend(ReceiverSettings("tiny_cpu", name=receiver_name, path=str(receiver_path), device="cpu"))
    # expected mode: the opening turn is the greedy reply and the expected score after <score>
    receiver = Receiver(backend, PromptConfig(receiver_word_limit=receiver_word_limit, **(prompt or {})),
                        ScoringConfig(mode=ScoringMode.EXPECTED, reply_max_tokens=PRIOR_MAX_TOKENS, temperature=0.0, **(scoring or {})))
    lookups = run_sync(opening_turns(receiver, claims, PriorRequest(PriorCache(cache), progress=progress)))
    unscored = [lookup.claim for lookup in lookups if not (lookup.turn and lookup.turn.mode_score is not None
                                                           and (lookup.turn.reply.ok or not require_sampled))]
    if unscored:
        raise RuntimeError(f"the Receiver {receiver_name} ({receiver_path}) gave no readable prior score for "
                           f"{len(unscored)} claims, e.g. {unscored[0]!r}")
    return [(lookup.turn.reply.raw, lookup.turn.mode_score) for lookup in lookups]


def tiny_priors(receiver_path: Path, claims: list[str], receiver_word_limit: int, cache: Path) -> list[tuple[str, float]]:
    """The tiny Receiver's priors, each checked for a ``<score>`` in its reply too."""
    from persuasion_rl.receivers.settings import TINY_RECEIVER_NAME

    return receiver_priors(receiver_path, TINY_RECEIVER_NAME, claims, receiver_word_limit, cache)


def _write_splits(paths: dict[str, Path], claims: list[tuple[str, dict, Path]], priors: list[tuple[str, float]],
                  receiver_name: str, spec: TinyDataSpec, data_source: str) -> dict[str, Path]:
    """verl parquet files from (split, claim row, claims file) triples and their priors."""
    from persuasion_rl.data.claims import ClaimRecord
    from persuasion_rl.data.verl_row import AGENT_NAMES, build_row, rows_to_table
    from persuasion_rl.data.priors import Prior
    from persuasion_rl.files import write_parquet_atomic

    config = spec.prompts()
    rows: dict[str, list] = {"train": [], "val": []}
    rows_seen: dict[Path, int] = {}
    for (split, claim, claims_file), (reply, expected_score) in zip(claims, priors):
        row = rows_seen[claims_file] = rows_seen.get(claims_file, -1) + 1
        record = ClaimRecord(id=claim["id"], claim=claim["claim"], source=data_source, split=split,
                             provenance_file=str(claims_file), provenance_row=row, topic=claim.get("topic"))
        prior = Prior(claim_id=claim["id"], reply=reply, claim=claim["claim"], receiver=receiver_name, expected_score=expected_score)
        rows[split].append(build_row(record, prior, config, len(rows[split]), AGENT_NAMES[config.setting]))
    for kind, path in paths.items():
        write_parquet_atomic(rows_to_table(rows[kind]), path)  # never a half-written file a later run would trust
        logger.info("wrote %s (%d rows)", path, len(rows[kind]))
    return paths


def build_tiny_data(spec: TinyDataSpec = TinyDataSpec(), force: bool = False) -> dict[str, Path]:
    """Write ``train.parquet`` and ``val.parquet`` for ``spec`` (once; cached)."""
    from persuasion_rl.assets.tiny import build_tiny_models
    from persuasion_rl.files import read_jsonl
    from persuasion_rl.receivers.settings import TINY_RECEIVER_NAME

    paths = {kind: Path(tiny_path(kind, spec.setting, spec.sender_word_limit, spec.receiver_word_limit)) for kind in ("train", "val")}
    if not force and all(p.exists() for p in paths.values()):
        return paths
    assets = build_tiny_models()
    claims = [record for _, record in read_jsonl(assets.claims)]
    priors = tiny_priors(assets.receiver, [c["claim"] for c in claims], spec.receiver_word_limit, assets_root() / "priors.jsonl")
    split_at = len(claims) - VAL_CLAIMS
    splits = [("train" if number < split_at else "val", claim, assets.claims) for number, claim in enumerate(claims)]
    return _write_splits(paths, splits, priors, TINY_RECEIVER_NAME, spec, DATA_SOURCE)


# ---- the project's claims with a real small Receiver's priors (recipes/smol_cpu_*) -----------

PROJECT_SOURCE = "project"
# the main recipe trains on these and validates on the tiny claims (none in both)
TRAIN_CLAIMS_FILE, VAL_CLAIMS_FILE = "laptop_claims.jsonl", "tiny_claims.jsonl"


def _claims_file(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("persuasion_rl.assets") / name))


def project_claims() -> list[tuple[str, dict, Path]]:
    """(split, claim row, file): 64 training claims, then the 32 tiny claims for validation."""
    from persuasion_rl.files import read_jsonl

    rows = []
    for split, name in (("train", TRAIN_CLAIMS_FILE), ("val", VAL_CLAIMS_FILE)):
        path = _claims_file(name)
        rows += [(split, record, path) for _, record in read_jsonl(path)]
    return rows


def _project_digest(receiver: str, scoring: dict | None) -> str:
    from persuasion_rl.game.prompts import PROMPT_VERSION

    # the priors change with the Receiver, its prompt and the claims: a new folder for each
    payload = json.dumps({"receiver": receiver, "prompt_version": PROMPT_VERSION, "prior_max_tokens": PRIOR_MAX_TOKENS,
                          "scoring": scoring or {},
                          "claims": [_claims_file(n).read_text(encoding="utf-8") for n in (TRAIN_CLAIMS_FILE, VAL_CLAIMS_FILE)]})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _prior_scoring(min_digit_mass: float | None) -> dict:
    return {} if min_digit_mass is None else {"min_digit_mass": float(min_digit_mass)}


def _prompt_fields(receiver_prompt: str | None) -> dict:
    """PromptConfig's Receiver prompt version (``small-v1`` for small Receivers), when set."""
    return {} if receiver_prompt is None else {"receiver_prompt": str(receiver_prompt)}


def real_path(kind: str, receiver: str = "smollm2", setting: str = "static", sender_word_limit: int = 250,
              receiver_word_limit: int = 250, min_digit_mass: float | None = None, receiver_prompt: str | None = None,
              sender_prompt: str = "paper-v1") -> str:
    """Hydra resolver ``prl_real``: ``model,NAME`` is a real model's cached folder
    (persuasion_rl.assets.real; converted by ``train``'s preparation, not here);
    ``train|val,RECEIVER,setting,sender_word_limit,receiver_word_limit[,min_digit_mass[,receiver_prompt[,sender_prompt]]]``
    the project's claims with that Receiver's priors."""
    from persuasion_rl.assets.real import REAL_MODELS, model_dir
    from persuasion_rl.assets.tiny import default_cache_dir

    if receiver not in REAL_MODELS:
        raise ValueError(f"unknown real model {receiver!r}: one of {sorted(REAL_MODELS)}")
    if kind == "model":
        return str(model_dir(REAL_MODELS[receiver]))
    if kind in ("train", "val"):
        spec = TinyDataSpec(setting, int(sender_word_limit), int(receiver_word_limit), str(sender_prompt))
        digest = _project_digest(receiver, {**_prior_scoring(min_digit_mass), **_prompt_fields(receiver_prompt)})
        return str(default_cache_dir() / "real-data" / f"{receiver}-{digest}" / spec.folder_name / f"{kind}.parquet")
    raise ValueError(f"unknown real asset {kind!r}: model, train or val")


def build_real_data(receiver: str, receiver_path: Path, spec: TinyDataSpec = TinyDataSpec(), force: bool = False,
                    min_digit_mass: float | None = None, receiver_prompt: str | None = None) -> dict[str, Path]:
    """The project's claims as verl parquet files with ``receiver``'s priors (once; cached),
    asked with the reward's Receiver prompt and read with its ``min_digit_mass``. Expected
    scoring only: a small Receiver's opening reply need not carry a ``<score>``."""
    paths = {kind: Path(real_path(kind, receiver, spec.setting, spec.sender_word_limit, spec.receiver_word_limit, min_digit_mass,
                                  receiver_prompt, spec.sender_prompt)) for kind in ("train", "val")}
    if not force and all(p.exists() for p in paths.values()):
        return paths
    claims = project_claims()
    cache = paths["train"].parent.parent / "priors.jsonl"
    priors = receiver_priors(receiver_path, receiver, [c["claim"] for _, c, _ in claims], spec.receiver_word_limit, cache,
                             require_sampled=False, progress=True, scoring=_prior_scoring(min_digit_mass),
                             prompt=_prompt_fields(receiver_prompt))
    return _write_splits(paths, claims, priors, receiver, spec, PROJECT_SOURCE)
