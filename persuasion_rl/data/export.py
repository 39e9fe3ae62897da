"""verl RL parquet files for the static and dynamic settings: one row per claim, in the
format of ``verl_row.py`` (which holds the field names, the row builder and its reader).

Files are ``<out>/<split>.parquet`` per split plus ``<out>/eval.parquet`` for the
evaluation subset. All tables are built and checked first; then every file is written to
a temporary name and renamed, so an error leaves the output folder as it was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..files import atomic_path
from ..game.prompts import PromptConfig, Setting
from .claims import ClaimRecord
from .errors import DataError
from .priors import Prior, PriorSource, as_prior
from .verl_row import AGENT_NAMES, CLAIM_ID, PRIOR_SCORE, build_row, rows_to_table

log = logging.getLogger(__name__)

EVAL_FILE = "eval"
_SHOW_IDS = 20


def _id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOW_IDS])
    return shown + (f" ... and {len(ids) - _SHOW_IDS} more" if len(ids) > _SHOW_IDS else "")


def _lookup(record: ClaimRecord, priors: PriorSource) -> Prior | None:
    """The claim's own prior, else the prior of a duplicate it absorbed with the same text."""
    if record.id in priors:
        return as_prior(record.id, priors[record.id])
    for other in record.duplicate_ids:
        if other in priors:
            prior = as_prior(other, priors[other])
            if prior.claim == record.claim:
                return prior
    return None


def resolve_priors(records: Sequence[ClaimRecord], priors: PriorSource, *, source: str = "prior cache") -> dict[str, Prior]:
    """A prior for every record, or one ``DataError`` listing all that lack one or whose
    prior answered a different claim text (stale after summarisation)."""
    found = {r.id: _lookup(r, priors) for r in records}
    missing = [i for i, p in found.items() if p is None]
    if missing:
        raise DataError(
            source, f"{len(missing)} of {len(records)} claims have no Receiver prior: {_id_list(missing)}; "
            "fill the prior cache for these claims first (`data priors` with the same --ids/--limit), "
            "or export the ones that have a prior with --only-with-priors", field="claim_id",
        )
    stale = [r.id for r in records if found[r.id].claim is not None and found[r.id].claim != r.claim]
    if stale:
        raise DataError(
            source, f"{len(stale)} priors answered a different claim text than the claims table "
            f"(claim changed since, e.g. summarised): {_id_list(stale)}; recompute them", field="claim",
        )
    return found  # type: ignore[return-value]


def _check_summarised(records: Sequence[ClaimRecord], allow_unsummarized: bool) -> None:
    pending = [r.id for r in records if r.needs_summary]
    if pending and not allow_unsummarized:
        raise DataError(
            "claims table", f"{len(pending)} claims still need a summary (their claim is a provisional title): "
            f"{_id_list(pending)}; run `data summarize` or pass allow_unsummarized", field="needs_summary",
        )


def _build_rows(records, resolved: dict[str, Prior], config: PromptConfig, agent: str) -> list[dict[str, Any]]:
    rows = [build_row(r, resolved[r.id], config, i, agent) for i, r in enumerate(records)]
    unscored = [r["extra_info"][CLAIM_ID] for r in rows if r["extra_info"][PRIOR_SCORE] is None]
    if unscored:
        log.warning("%d priors have no readable <score> (prior_score is None): %s", len(unscored), _id_list(unscored))
    return rows


def _prepare(records, priors, setting, config, allow_unsummarized, priors_name) -> tuple[PromptConfig, dict[str, Prior]]:
    """Check everything that can be wrong with the input before any row is built."""
    setting = Setting(setting)
    config = PromptConfig(setting=setting) if config is None else config
    if config.setting is not setting:
        raise ValueError(f"prompt config is for the {config.setting.value} setting, not {setting.value}")
    _check_summarised(records, allow_unsummarized)
    return config, resolve_priors(records, priors, source=priors_name)


def export_rows(
    records: Sequence[ClaimRecord],
    priors: PriorSource,
    setting: Setting | str,
    *,
    config: PromptConfig | None = None,
    agent_name: str | None = None,
    allow_unsummarized: bool = False,
    priors_name: str = "prior cache",
) -> list[dict[str, Any]]:
    """verl rows for ``records`` (all checked first; see the module docstring)."""
    config, resolved = _prepare(records, priors, setting, config, allow_unsummarized, priors_name)
    return _build_rows(records, resolved, config, agent_name or AGENT_NAMES[config.setting])


def _groups(records: Sequence[ClaimRecord], splits: Sequence[str] | None, include_eval: bool) -> dict[str, list[ClaimRecord]]:
    names = list(splits) if splits else list(dict.fromkeys(r.split for r in records))
    groups = {s: [r for r in records if r.split == s] for s in names}
    empty = [s for s, rows in groups.items() if not rows]
    if empty:
        raise DataError("claims table", f"no claims in split(s) {empty}", field="split")
    if include_eval and any(r.eval for r in records):
        groups[EVAL_FILE] = [r for r in records if r.eval]
    return groups


def export_splits(
    records: Sequence[ClaimRecord],
    priors: PriorSource,
    setting: Setting | str,
    out_dir: str | Path,
    *,
    splits: Sequence[str] | None = None,
    include_eval: bool = True,
    config: PromptConfig | None = None,
    allow_unsummarized: bool = False,
    priors_name: str = "prior cache",
) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.parquet`` (and ``eval.parquet``); returns name -> path.

    Every selected claim is checked (summary, prior, claim text of the prior) before any
    row is built, so one error lists all the claims at fault."""
    groups = _groups(records, splits, include_eval)
    selected = list({r.id: r for rows in groups.values() for r in rows}.values())
    config, resolved = _prepare(selected, priors, setting, config, allow_unsummarized, priors_name)
    agent = AGENT_NAMES[config.setting]
    tables = {name: rows_to_table(_build_rows(rows, resolved, config, agent)) for name, rows in groups.items()}
    paths = {name: Path(out_dir) / f"{name}.parquet" for name in tables}
    with contextlib.ExitStack() as stack:
        for name, table in tables.items():
            pq.write_table(table, stack.enter_context(atomic_path(paths[name])))
    for name, path in paths.items():
        log.info("wrote %s (%d rows)", path, tables[name].num_rows)
    return paths
