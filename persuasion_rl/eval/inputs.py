"""What an evaluation reads: the claims to play, and the Sender and Receiver models.

Claims come from the data pipeline's claims table (parquet; by default its evaluation
subset when it marks one) or from a JSON-lines file of ``{"id", "claim", "source" or
"corpus"}`` objects (the tiny assets' ``claims.jsonl`` has this shape).

Model specs are the Receivers' (``receivers/settings.py``): ``tiny``, ``hf:PATH`` or a
bare local path (an exported checkpoint is a Hugging Face folder), ``openai:URL#MODEL``.
A Sender may also be a Hugging Face id (``org/name``) already in the local Hugging Face
cache: nothing is downloaded. ``tiny`` is the tiny Sender for ``--sender`` and the tiny
Receiver for ``--receiver``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..receivers.base import ChatBackend
from ..receivers.settings import TINY_SPEC, ReceiverSettings
from .records import EvalInputError

log = logging.getLogger(__name__)

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class EvalClaim:
    id: str
    claim: str
    corpus: str


@dataclass(frozen=True)
class ClaimSelection:
    subset: str = "auto"  # auto: the eval subset when marked, else all; "eval"; "all"
    split: str | None = None
    limit: int | None = None


def _claims_from_jsonl(path: Path) -> list[EvalClaim]:
    from .records import iter_json_lines

    claims = []
    for number, obj in iter_json_lines(path):
        if not isinstance(obj, dict):
            raise EvalInputError(f"{path} line {number}: expected a JSON object")
        for field in ("id", "claim"):
            if not isinstance(obj.get(field), str) or not obj[field].strip():
                raise EvalInputError(f"{path} line {number}: field '{field}': missing or empty")
        corpus = obj.get("source") or obj.get("corpus") or "unknown"
        claims.append(EvalClaim(obj["id"], obj["claim"], str(corpus)))
    return claims


def _claims_from_table(path: Path, selection: ClaimSelection) -> list[EvalClaim]:
    from ..data.claims import read_claims

    records = read_claims(path)
    if selection.split:
        records = [r for r in records if r.split == selection.split]
    marked = any(r.eval for r in records)
    if selection.subset == "eval" and not marked:
        raise EvalInputError(f"{path}: field 'eval': no claim is in the evaluation subset (run `persuasion-rl data merge`)")
    if selection.subset == "eval" or (selection.subset == "auto" and marked):
        records = [r for r in records if r.eval]
        log.info("%s: %d claims of the evaluation subset", path, len(records))
    pending = [r.id for r in records if r.needs_summary]
    if pending:
        log.warning("%d claims still need a summary (provisional titles), e.g. %s", len(pending), pending[:3])
    return [EvalClaim(r.id, r.claim, r.source) for r in records]


def load_claims(path: str | Path, selection: ClaimSelection = ClaimSelection()) -> list[EvalClaim]:
    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"{path}: claims file not found")
    claims = _claims_from_jsonl(path) if path.suffix in (".jsonl", ".json") else _claims_from_table(path, selection)
    repeated = sorted(i for i, n in Counter(c.id for c in claims).items() if n > 1)
    if repeated:
        raise EvalInputError(f"{path}: field 'id': repeated claim ids {repeated[:5]}")
    if selection.limit is not None:
        from ..data.subsets import stratified_limit

        claims = stratified_limit(claims, selection.limit, lambda c: c.corpus)  # a spread, not the first corpus
    if not claims:
        raise EvalInputError(f"{path}: no claims to evaluate (check --subset/--split)")
    return claims


# ---- models -----------------------------------------------------------------------------


def _local_hf_snapshot(model_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model_id, local_files_only=True)
    except Exception:  # not cached (or no hub library): the caller says what to do
        return None


def model_settings(spec: str, role: str) -> ReceiverSettings:
    """A model spec as the one ``ReceiverSettings`` (``receivers/settings.py``): ``tiny`` is
    the tiny Sender for ``role='sender'``; a Hugging Face id is looked up in the local cache."""
    if spec == TINY_SPEC and role == "sender":
        from ..assets.tiny import build_tiny_models

        return ReceiverSettings("hf", path=str(build_tiny_models().sender))
    settings = ReceiverSettings.from_spec(spec)
    if settings.kind != "hf" or Path(settings.path).exists() or not _HF_ID.match(settings.path):
        return settings  # the factory explains a missing folder
    snapshot = _local_hf_snapshot(settings.path)
    if snapshot:
        return replace(settings, path=snapshot)
    raise EvalInputError(
        f"{role} {spec!r}: not in the local Hugging Face cache and models are not downloaded here; "
        "download it elsewhere and pass its folder, or serve it and pass openai:URL#MODEL"
    )


def default_name(spec: str, backend: ChatBackend, role: str) -> str:
    from ..assets.models import display_name

    return display_name(spec, role) or str(getattr(backend, "name", None) or spec)


def make_model_backend(spec: str, role: str) -> ChatBackend:
    from ..receivers.factory import make_backend

    return make_backend(model_settings(spec, role))


def count_parameters(backend: ChatBackend) -> int | None:
    """Parameters of a local model; None for an endpoint (pass the count by hand)."""
    model = getattr(backend, "model", None)
    if model is None or not hasattr(model, "parameters"):
        return None
    return int(sum(p.numel() for p in model.parameters()))


def parse_count(text: str) -> int:
    """``7B``, ``350M``, ``1.5e9``, ``125000`` -> an integer parameter count."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBtT]?)\s*", text)
    if not match:
        raise ValueError(f"not a parameter count: {text!r} (examples: 7B, 350M, 1.5e9)")
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    value = int(round(float(match.group(1)) * scale))
    if value <= 0:
        raise ValueError(f"a parameter count must be positive, got {text!r}")
    return value


def unique_names(names: Sequence[str], what: str) -> None:
    repeated = sorted(n for n, k in Counter(names).items() if k > 1)
    if repeated:
        raise EvalInputError(f"two {what}s share the name {repeated[0]!r}: their games would be mixed up; name them apart")

