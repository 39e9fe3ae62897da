"""The verl row: one claim of the RL parquet files, in the layout verl's ``RLHFDataset``
reads. Built here for ``data export`` (``build_row``) and read here for the reward and the
agent loop (``row_prior``), so writer and readers share every field name.

* ``data_source``: the claim's corpus (reward and metrics are broken down by it);
* ``prompt``: the Sender's opening chat (``game.sender_opening_messages``), which quotes
  the Receiver's prior turn, so a prior is required for every row;
* ``ability``: "persuasion";
* ``reward_model``: ``{"style": "model", "ground_truth": claim}``;
* ``extra_info``: ``claim_id, claim, corpus, split, prior_score, prior_expected_score,
  prior_reply, setting, index``. ``prior_score`` is the Likert point of the prior reply
  (None when it has no readable score); ``prior_expected_score`` the expected prior,
  present when the priors were computed in expected mode. The reward uses the prior
  measured in its own scoring mode and refuses rows without it;
* ``agent_name``: "persuasion_dynamic" for dynamic rows (the project's multi-turn agent
  loop), "single_turn_agent" (verl's own) for static rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa

from ..game.prompts import PromptConfig, Setting, sender_opening_messages
from ..receivers.scoring import ScoringMode

if TYPE_CHECKING:
    from .claims import ClaimRecord
    from .priors import Prior

ABILITY = "persuasion"
REWARD_STYLE = "model"
AGENT_NAMES = {Setting.STATIC: "single_turn_agent", Setting.DYNAMIC: "persuasion_dynamic"}
# extra_info fields
CLAIM_ID, CLAIM, CORPUS, SPLIT, SETTING, INDEX = "claim_id", "claim", "corpus", "split", "setting", "index"
PRIOR_SCORE, PRIOR_EXPECTED_SCORE, PRIOR_REPLY = "prior_score", "prior_expected_score", "prior_reply"

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
EXTRA_INFO_TYPE = pa.struct([
    (CLAIM_ID, pa.string()), (CLAIM, pa.string()), (CORPUS, pa.string()), (SPLIT, pa.string()),
    (PRIOR_SCORE, pa.int64()), (PRIOR_EXPECTED_SCORE, pa.float64()), (PRIOR_REPLY, pa.string()),
    (SETTING, pa.string()), (INDEX, pa.int64()),
])
EXPORT_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(_MESSAGE)),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", EXTRA_INFO_TYPE),
    ("agent_name", pa.string()),
])


def build_row(record: ClaimRecord, prior: Prior, config: PromptConfig, index: int, agent_name: str | None) -> dict[str, Any]:
    reply = prior.parsed
    return {
        "data_source": record.source,
        "prompt": sender_opening_messages(record.claim, reply.transcript_message, config),
        "ability": ABILITY,
        "reward_model": {"style": REWARD_STYLE, "ground_truth": record.claim},
        "extra_info": {
            CLAIM_ID: record.id, CLAIM: record.claim, CORPUS: record.source, SPLIT: record.split,
            PRIOR_SCORE: reply.score, PRIOR_EXPECTED_SCORE: prior.expected_score, PRIOR_REPLY: prior.reply,
            SETTING: config.setting.value, INDEX: index,
        },
        "agent_name": agent_name,
    }


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=EXPORT_SCHEMA)


class RowPrior(NamedTuple):
    """What the reward and the agent loop read of a row: the claim and the Receiver's
    opening turn (its score in the reader's scoring mode, and its reply text)."""

    claim: str
    score: float
    reply: str


def row_prior(ground_truth: Any, extra_info: dict | None, scoring_mode: str) -> RowPrior:
    """The claim and prior of a dataset row. The prior is the one measured in the reader's
    own scoring mode: a sampled posterior minus an expected prior (or the reverse) would
    add a constant offset to every gain."""
    info = extra_info or {}
    claim = info.get(CLAIM) or ground_truth
    prior_field = PRIOR_EXPECTED_SCORE if scoring_mode == ScoringMode.EXPECTED.value else PRIOR_SCORE
    missing = [name for name, value in ((CLAIM, claim), (prior_field, info.get(prior_field)), (PRIOR_REPLY, info.get(PRIOR_REPLY)))
               if value in (None, "")]
    if missing:
        hint = (" (priors for expected scoring: `persuasion-rl data priors --mode expected`, then `data export`)"
                if prior_field in missing and scoring_mode == ScoringMode.EXPECTED.value
                else "; rebuild it with `persuasion-rl data export`")
        raise ValueError(f"dataset row lacks {missing} in extra_info (index {info.get(INDEX)}){hint}")
    return RowPrior(claim, float(info[prior_field]), info[PRIOR_REPLY])
