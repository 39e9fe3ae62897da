"""Readers for r/ChangeMyView threads in the layouts they are distributed in.

* XML threads (chridey/change-my-view-modes, ``original/{positive,negative}/N.xml``):
  ``<thread ID>`` with ``<title>``, ``<source>``, ``<OP author>`` and ``<reply>``
  elements. The same thread appears in several files (one per reply pair): it yields
  one claim, from the first file in natural order.
* JSON lines of the Tan et al. (2016) release (``cmv.tar.bz2``; ``.jsonlist`` files,
  optionally ``.bz2``-compressed, read as is): ``op_task`` rows (``title``,
  ``selftext``, ``name``, ``delta_label``), ``pair_task`` rows (``op_title``,
  ``op_text``, ``op_name``, ``positive``, ``negative``) and ``all/`` submissions
  (Reddit API fields incl. ``title``, ``selftext``, ``name``). ``train_*`` files are the
  train split and ``heldout_*`` files the test split (Tan et al.'s later time period).
  A submission without a CMV marker in its title (a moderator post in ``all/``) is
  skipped and counted.
* JSON lines derived by ToMAP (``pos``, ``neg``, ``data_source``, ``extra_info{index,
  split}``): ``pos`` is already a claim (GPT-4o-written from a CMV topic) and is used
  verbatim with the row's split; ``neg`` is its negation and is not used.

A CMV title is a claim. ``claim_from_title`` extracts it deterministically, so no LLM is
needed: HTML entities unescaped, the "CMV:"-style prefix removed ("CMV:", "CMV -",
"[CMV]", "(CMV)", any case), then a leading "I think/believe/feel (that)" removed (the
paper asks for claims "in an assertive tone"), whitespace collapsed and the first letter
capitalised. The post itself is kept as ``raw_text`` ("Title: ...\\nContent: ...", the
form of the paper's Table 9) for users who prefer LLM summaries.
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import DEFAULT_SPLIT_FRACTIONS, ORIGIN_TITLE, ClaimRecord, claim_id, clean_text, hash_split, require_claim
from .errors import DataError
from .files import decode_utf8, iter_json_lines, natural_key, read_bytes

log = logging.getLogger(__name__)

CORPUS = "cmv"
JSON_SUFFIXES = (".jsonl", ".jsonlist", ".jsonl.bz2", ".jsonlist.bz2")
_CMV_PREFIX = re.compile(r"^\s*[\[(]?\s*cmv\b\s*[\])]?\s*[:\-\u2013\u2014]?\s*", re.I)
_OPINION_LEAD = re.compile(r"^i\s+(?:really\s+|strongly\s+|honestly\s+)?(?:think|believe|feel)\s+(?:that\s+)?", re.I)
# The moderators' footnote appended to every CMV post ("Hello, users of CMV! ...").
_FOOTNOTE = re.compile(r"\n\s*_{3,}\s*\n\s*(?:>|&gt;)\s*\*Hello, users of CMV!.*\Z", re.S)


@dataclass(frozen=True)
class CmvPost:
    """An original post: the thing a claim is taken from."""

    key: str  # Reddit thread id without the "t3_" prefix, or "tomap:<split>:<index>"
    title: str
    text: str | None
    file: Path
    row: int  # 0-based line of a JSON-lines file; 0 for an XML file
    layout: str  # xml | tan_op | tan_pair | tan_all | tomap
    split: str | None = None  # upstream split, when the layout has one


def has_cmv_marker(title: str) -> bool:
    return _CMV_PREFIX.match(html.unescape(title)) is not None


def claim_from_title(title: str) -> str:
    """The claim stated by a CMV title (rule in the module docstring); may be empty."""
    text = _CMV_PREFIX.sub("", html.unescape(title), count=1)
    text = _OPINION_LEAD.sub("", clean_text(text), count=1)
    return text[:1].upper() + text[1:]


def post_body(text: str | None) -> str:
    """The post without the moderators' footnote."""
    return _FOOTNOTE.sub("", html.unescape(text or "")).strip()


def raw_transcript(post: CmvPost) -> str:
    return f"Title: {clean_text(html.unescape(post.title))}\nContent: {post_body(post.text)}"


# --- XML --------------------------------------------------------------------------------


def _parse_xml(path: Path) -> ET.Element:
    data = read_bytes(path)
    declared = re.match(rb"\s*<\?xml[^>]*encoding=", data) is not None
    try:
        return ET.fromstring(data if declared else decode_utf8(data, path))
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(path, f"malformed XML: {exc}", record=f"line {line} column {column}") from None


def read_cmv_xml(path: str | Path) -> CmvPost:
    """One ``<thread>`` file."""
    path = Path(path)
    root = _parse_xml(path)
    if root.tag != "thread":
        raise DataError(path, f"expected a <thread> root element, got <{root.tag}>", record="root")
    thread_id = (root.get("ID") or "").strip()
    if not thread_id:
        raise DataError(path, "missing thread id", record="<thread>", field="ID")
    title = root.findtext("title")
    if title is None or not title.strip():
        raise DataError(path, "missing or empty <title>", record=f"thread {thread_id}", field="title")
    op = root.find("OP")
    return CmvPost(thread_id, title, op.text if op is not None else None, path, 0, "xml")


# --- JSON lines -------------------------------------------------------------------------


def _tan_split(path: Path) -> str | None:
    name = path.name.lower()
    return "train" if name.startswith("train_") else "test" if name.startswith("heldout_") else None


def _text_field(obj: dict[str, Any], field: str, path: Path, row: int) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, "missing or empty text", record=f"line {row + 1}", field=field)
    return value


def _thread_key(name: Any, path: Path, row: int, field: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DataError(path, "missing thread id", record=f"line {row + 1}", field=field)
    return name.strip().removeprefix("t3_")


def _tomap_post(obj: dict[str, Any], path: Path, row: int) -> CmvPost:
    pos = _text_field(obj, "pos", path, row)
    info = obj.get("extra_info") or {}
    split, index = info.get("split"), info.get("index", row)
    key = f"tomap:{split or path.stem}:{index}"
    return CmvPost(key, pos, None, path, row, "tomap", split if split in ("train", "dev", "test") else None)


def _json_post(obj: dict[str, Any], path: Path, row: int) -> CmvPost:
    """One JSON line in whichever layout it is written."""
    split = _tan_split(path)
    if "op_title" in obj:
        title = _text_field(obj, "op_title", path, row)
        return CmvPost(_thread_key(obj.get("op_name"), path, row, "op_name"), title, obj.get("op_text"), path, row, "tan_pair", split)
    if "pos" in obj:
        return _tomap_post(obj, path, row)
    if "title" in obj:
        title = _text_field(obj, "title", path, row)
        layout = "tan_op" if "delta_label" in obj else "tan_all"
        return CmvPost(_thread_key(obj.get("name"), path, row, "name"), title, obj.get("selftext"), path, row, layout, split)
    raise DataError(path, "unrecognised layout: expected 'op_title' (pair task), 'title' (op task / all) or 'pos' (ToMAP)", record=f"line {row + 1}", field="title")


def read_cmv_jsonl(path: str | Path) -> list[CmvPost]:
    path = Path(path)
    return [_json_post(obj, path, row) for row, obj in iter_json_lines(path)]


# --- folders and claims -----------------------------------------------------------------


def cmv_files(path: str | Path) -> list[Path]:
    """The XML and JSON-lines files at ``path`` (a file, or a folder searched recursively)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(path, "no such file or folder")
    files = [p for p in path.rglob("*") if p.is_file() and (p.suffix == ".xml" or p.name.endswith(JSON_SUFFIXES))]
    if not files:
        raise DataError(path, f"no CMV files (*.xml, *{', *'.join(JSON_SUFFIXES)}) found")
    return sorted(files, key=natural_key)


def read_cmv(path: str | Path) -> list[CmvPost]:
    posts: list[CmvPost] = []
    for file in cmv_files(path):
        posts.extend([read_cmv_xml(file)] if file.suffix == ".xml" else read_cmv_jsonl(file))
    log.info("%s: %d posts", path, len(posts))
    return posts


def _claim_record(post: CmvPost, provenance_file: str, split_fractions) -> ClaimRecord:
    record = f"line {post.row + 1}" if post.layout != "xml" else f"thread {post.key}"
    record_id = claim_id(CORPUS, post.key)
    split = post.split or hash_split(record_id, split_fractions)
    if post.layout == "tomap":
        claim = require_claim(post.title, post.file, record, field="pos")
        return ClaimRecord(record_id, claim, CORPUS, split, provenance_file, post.row)
    claim = claim_from_title(post.title)
    if not claim:
        raise DataError(post.file, f"title {post.title!r} has no claim after removing its CMV prefix", record=record, field="title")
    return ClaimRecord(
        record_id, claim, CORPUS, split, provenance_file, post.row,
        raw_text=raw_transcript(post), claim_origin=ORIGIN_TITLE,
    )


def cmv_claims(
    posts: Iterable[CmvPost],
    *,
    root: Path | None = None,
    split_fractions=DEFAULT_SPLIT_FRACTIONS,
) -> list[ClaimRecord]:
    """One claim per thread (first occurrence wins); moderator posts skipped and counted."""
    records: dict[str, ClaimRecord] = {}
    repeated = skipped = 0
    for post in posts:
        if post.layout == "tan_all" and not has_cmv_marker(post.title):
            skipped += 1
            continue
        provenance = post.file.relative_to(root).as_posix() if root else post.file.name
        record = _claim_record(post, provenance, split_fractions)
        if record.id in records:
            repeated += 1
            continue
        records[record.id] = record
    if repeated or skipped:
        log.info("cmv: %d posts repeat a thread already read; %d posts without a CMV title skipped", repeated, skipped)
    return list(records.values())


def load_cmv_hub(name: str, split: str = "train", **load_kwargs: Any) -> list[CmvPost]:  # pragma: no cover
    """Online only, UNTESTED here (no network): a hub dataset whose records follow one of
    the JSON layouts above (e.g. a re-upload of Tan et al.'s pair or op task). The hub
    split maps as the release's files do: "train" -> train, "test" -> test (heldout)."""
    from datasets import load_dataset

    dataset = load_dataset(name, split=split, **load_kwargs)
    prefix = {"train": "train", "test": "heldout"}.get(split, split)
    path = Path(f"hf://datasets/{name}/{prefix}_{split}.jsonl")
    return [_json_post(dict(obj), path, row) for row, obj in enumerate(dataset)]
