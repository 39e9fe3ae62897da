"""Which transcripts an annotator gets: N of them, from different corpora and both
settings, least-assigned first.

Each pick prefers, in order: a corpus this annotator has not seen yet; a setting (static
or dynamic) they have not seen yet; the least-assigned transcript; the setting and then
the corpus handed out least so far over the whole study (so neither the dynamic games nor
a corpus listed last in the file is starved); file order. Pure and deterministic: the same
candidates and counts always give the same choice, so a study can be replayed and tested.
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
    setting: str = "static"


def choose_transcripts(candidates: list[Candidate], n: int) -> list[str]:
    """Pick up to ``n`` distinct transcripts, one per corpus while corpora last, covering
    the settings while they last.

    With fewer corpora than ``n`` the remaining picks repeat corpora (still the least
    assigned transcripts), because an annotator with fewer transcripts than promised is
    worse for a study than one with two from the same corpus; that case is logged.
    """
    if n < 1:
        raise ValueError(f"an annotator needs at least one transcript, got n={n}")
    corpus_load, setting_load = Counter[str](), Counter[str]()
    for c in candidates:
        corpus_load[c.corpus] += c.assigned
        setting_load[c.setting] += c.assigned
    chosen: list[Candidate] = []
    left = list(candidates)
    while left and len(chosen) < n:
        corpora, settings = {c.corpus for c in chosen}, {c.setting for c in chosen}
        if len(chosen) == len({c.corpus for c in candidates}):
            log.warning("only %d corpora for %d transcripts per annotator: repeating corpora", len(corpora), n)
        pick = min(left, key=lambda c: (c.corpus in corpora, c.setting in settings, c.assigned, setting_load[c.setting],
                                        corpus_load[c.corpus], c.order, c.game_id))
        chosen.append(pick)
        left.remove(pick)
        setting_load[pick.setting] += 1
    return [c.game_id for c in chosen]
