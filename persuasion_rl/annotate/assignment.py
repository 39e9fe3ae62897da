"""Which transcripts an annotator gets: N of them, from different corpora, least-assigned first.

Pure and deterministic: the same candidates and counts always give the same choice, so a
study can be replayed and tested. Ties are broken by how much each corpus has been handed
out (so a corpus listed last in the file is not starved) and then by file order.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A transcript that can be assigned, with how many annotators already have it."""

    game_id: str
    corpus: str
    order: int  # position in the transcripts file: the last tie-breaker
    assigned: int


def choose_transcripts(candidates: list[Candidate], n: int) -> list[str]:
    """Pick up to ``n`` distinct transcripts, one per corpus while corpora last.

    With fewer corpora than ``n`` the remaining picks repeat corpora (still the least
    assigned transcripts), because an annotator with fewer transcripts than promised is
    worse for a study than one with two from the same corpus; that case is logged.
    """
    if n < 1:
        raise ValueError(f"an annotator needs at least one transcript, got n={n}")
    corpus_load = Counter[str]()
    for c in candidates:
        corpus_load[c.corpus] += c.assigned
    ranked = sorted(candidates, key=lambda c: (c.assigned, corpus_load[c.corpus], c.order, c.game_id))
    chosen: list[Candidate] = []
    used_corpora: set[str] = set()
    for c in ranked:
        if len(chosen) == n:
            break
        if c.corpus not in used_corpora:
            chosen.append(c)
            used_corpora.add(c.corpus)
    if len(chosen) < n:
        log.warning("only %d corpora for %d transcripts per annotator: repeating corpora", len(used_corpora), n)
        chosen_ids = {c.game_id for c in chosen}
        chosen.extend([c for c in ranked if c.game_id not in chosen_ids][: n - len(chosen)])
    return [c.game_id for c in chosen]
