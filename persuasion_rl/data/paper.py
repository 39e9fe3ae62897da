"""Reader for the paper authors' own verl parquet (chengzr01/TinyZeroPersuasion, b895dea).

``train.parquet`` (2,617 rows) and ``test.parquet`` (290 rows): ``data_source``
("persuasion"), ``prompt`` (the Sender's system/user/assistant/user messages),
``ability``, ``reward_model{claim, initial_belief, style}`` and ``extra{index, split}``.
``initial_belief`` is the Receiver's (Llama-3.1-8B-Instruct) full prior reply.

The files are ingested as is: claims keep their exact bytes (no whitespace clean-up),
splits come from ``extra.split``, and each row's ``initial_belief`` becomes a prior in
the prior cache, so ``export.py`` re-renders the paper's prompts byte for byte. The rows
do not say which of the four corpora a claim came from; their corpus is "paper" (merging
with the upstream corpora maps them back by text, see ``claims.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import ClaimRecord, claim_id, require_claim
from .errors import DataError
from .files import natural_key, read_parquet
from .priors import Prior

log = logging.getLogger(__name__)

CORPUS = "paper"
RECEIVER = "meta-llama/Llama-3.1-8B-Instruct"
# Not game.PROMPT_VERSION: the paper's Receiver prompt lacks that version's two fixes.
PROMPT_VERSION = "paper-original"
REQUIRED_COLUMNS = ("prompt", "reward_model")
EXTRA_COLUMNS = ("extra", "extra_info")


@dataclass(frozen=True)
class PaperRow:
    file: Path
    row: int
    split: str
    index: int
    claim: str
    initial_belief: str
    prompt: tuple[dict[str, str], ...]
    data_source: str | None


def paper_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.parquet"), key=natural_key) if path.is_dir() else []
    if not files:
        raise DataError(path, "no parquet files found; pass the folder holding train.parquet and test.parquet")
    return files


def _field(mapping: Any, name: str, file: Path, row: int, column: str) -> Any:
    if not isinstance(mapping, dict) or name not in mapping or mapping[name] is None:
        raise DataError(file, "missing value", record=row, field=f"{column}.{name}")
    return mapping[name]


def _prompt(value: Any, file: Path, row: int) -> tuple[dict[str, str], ...]:
    messages = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__array__") else None
    if not messages or not all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in messages):
        raise DataError(file, "expected a list of {role, content} chat messages", record=row, field="prompt")
    return tuple({"role": m["role"], "content": m["content"]} for m in messages)


def _row(values: dict[str, Any], extra_column: str, file: Path, row: int) -> PaperRow:
    reward, extra = values["reward_model"], values[extra_column]
    split = _field(extra, "split", file, row, extra_column)
    index = _field(extra, "index", file, row, extra_column)
    belief = _field(reward, "initial_belief", file, row, "reward_model")
    if not isinstance(belief, str) or not belief.strip():
        raise DataError(file, "empty prior reply", record=row, field="reward_model.initial_belief")
    return PaperRow(
        file=file,
        row=row,
        split=str(split),
        index=int(index),
        claim=require_claim(_field(reward, "claim", file, row, "reward_model"), file, row, "reward_model.claim", clean=False),
        initial_belief=belief,
        prompt=_prompt(values["prompt"], file, row),
        data_source=values.get("data_source"),
    )


def read_paper_file(path: Path) -> list[PaperRow]:
    table = read_parquet(path)
    extra_column = next((c for c in EXTRA_COLUMNS if c in table.column_names), None)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names] + ([] if extra_column else ["extra"])
    if missing:
        raise DataError(path, f"missing column(s) {missing}; columns are {table.column_names}", record="header", field=missing[0])
    rows = [_row(values, extra_column, path, i) for i, values in enumerate(table.to_pylist())]
    log.info("%s: %d rows", path, len(rows))
    return rows


def read_paper(path: str | Path) -> list[PaperRow]:
    """Rows of every parquet file at ``path`` (a file or a folder)."""
    rows = [row for file in paper_files(path) for row in read_paper_file(file)]
    seen: dict[tuple[str, int], PaperRow] = {}
    for row in rows:
        key = (row.split, row.index)
        if key in seen:
            raise DataError(row.file, f"split/index {key} repeats {seen[key].file.name} row {seen[key].row}", record=row.row, field="extra.index")
        seen[key] = row
    return rows


def _key(row: PaperRow) -> str:
    return f"{row.split}:{row.index}"


def paper_claims(rows: Iterable[PaperRow]) -> list[ClaimRecord]:
    return [
        ClaimRecord(
            id=claim_id(CORPUS, _key(r)), claim=r.claim, source=CORPUS, split=r.split,
            provenance_file=r.file.name, provenance_row=r.row,
        )
        for r in rows
    ]


def paper_priors(rows: Iterable[PaperRow]) -> list[Prior]:
    return [
        Prior(claim_id(CORPUS, _key(r)), r.initial_belief, claim=r.claim, receiver=RECEIVER, prompt_version=PROMPT_VERSION)
        for r in rows
    ]
