"""From one corpus' upstream files to its claims table (and priors, for the paper).

``build_source`` dispatches on the corpus name so that the CLI and scripts share one
path; everything is read and validated before ``write_build`` touches the output folder.
Outputs: ``<out>/<source>.claims.parquet`` and, for the paper's parquet, which carries
the Receiver's prior replies, ``<out>/<source>.priors.parquet``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from . import anthropic, cmv, ddo, paper, perspectrum
from .claims import DEFAULT_SPLIT_FRACTIONS, ClaimRecord, write_claims
from .errors import DataError
from .priors import Prior, write_priors

log = logging.getLogger(__name__)

SOURCES = ("anthropic", "cmv", "ddo", "perspectrum", "paper")


@dataclass(frozen=True)
class BuildResult:
    source: str
    claims: list[ClaimRecord]
    priors: list[Prior] = field(default_factory=list)


def _only_file(path: Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(path, "no such file or folder")
    files = sorted({f for pattern in patterns for f in path.glob(pattern)})
    if not files:
        raise DataError(path, f"no {what} ({', '.join(patterns)}) in this folder")
    return files


def _build_anthropic(path: Path, fractions) -> BuildResult:
    records: list[ClaimRecord] = []
    for file in _only_file(path, ("*.csv",), "Anthropic CSV"):
        if file.suffix == ".json":
            records += anthropic.statement_claims(anthropic.read_anthropic_statements(file), provenance_file=file.name, split_fractions=fractions)
        else:
            records += anthropic.anthropic_claims(anthropic.read_anthropic_csv(file), provenance_file=file.name, split_fractions=fractions)
    unique: dict[str, ClaimRecord] = {}
    for record in records:  # the first file wins for a claim found in several
        unique.setdefault(record.id, record)
    return BuildResult("anthropic", list(unique.values()))


def _build_cmv(path: Path, fractions) -> BuildResult:
    root = path if path.is_dir() else None
    return BuildResult("cmv", cmv.cmv_claims(cmv.read_cmv(path), root=root, split_fractions=fractions))


def _build_ddo(path: Path, fractions) -> BuildResult:
    file = path / "debates.json" if path.is_dir() else path
    return BuildResult("ddo", ddo.ddo_claims(ddo.read_ddo(file), provenance_file=file.name, split_fractions=fractions))


def _build_perspectrum(path: Path, fractions) -> BuildResult:
    return BuildResult("perspectrum", perspectrum.perspectrum_claims(perspectrum.read_perspectrum(path)))


def _build_paper(path: Path, fractions) -> BuildResult:
    rows = paper.read_paper(path)
    return BuildResult("paper", paper.paper_claims(rows), paper.paper_priors(rows))


_BUILDERS = {
    "anthropic": _build_anthropic,
    "cmv": _build_cmv,
    "ddo": _build_ddo,
    "perspectrum": _build_perspectrum,
    "paper": _build_paper,
}


def build_source(source: str, path: str | Path, *, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> BuildResult:
    """Read and validate one corpus. Upstream splits are kept; ``split_fractions`` only
    applies to corpora without one (Anthropic, DDO, CMV XML threads)."""
    if source not in _BUILDERS:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    result = _BUILDERS[source](Path(path), split_fractions)
    if not result.claims:
        raise DataError(path, f"no {source} claims found")
    return result


HUB_SOURCES = ("anthropic", "cmv")


def build_from_hub(source: str, name: str | None = None, *, split: str = "train", split_fractions=DEFAULT_SPLIT_FRACTIONS) -> BuildResult:  # pragma: no cover
    """Online only, UNTESTED here (these machines cannot reach the hub): load a corpus with
    ``datasets.load_dataset`` and convert it with the same parsers as the local files.
    Anthropic defaults to ``Anthropic/persuasion``; CMV needs the name of a hub copy in
    one of the Tan et al. / ToMAP JSON layouts. Perspectrum and DDO have no hub copy the
    readers know of: download their files and use ``build_source``."""
    if source == "anthropic":
        rows = anthropic.load_anthropic_hub(name or anthropic.HUB_NAME, split)
        return BuildResult(source, anthropic.anthropic_claims(rows, provenance_file=f"hf://datasets/{name or anthropic.HUB_NAME}", split_fractions=split_fractions))
    if source == "cmv" and name:
        return BuildResult(source, cmv.cmv_claims(cmv.load_cmv_hub(name, split), split_fractions=split_fractions))
    raise ValueError(f"no hub loader for {source!r} (hub loading supports {HUB_SOURCES}; cmv needs a dataset name)")


def write_build(result: BuildResult, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = [write_claims(result.claims, out_dir / f"{result.source}.claims.parquet")]
    if result.priors:
        written.append(write_priors(result.priors, out_dir / f"{result.source}.priors.parquet"))
    for path in written:
        log.info("wrote %s", path)
    return written
