"""Datasets: the four human persuasion corpora and the paper's parquet, as one claims
table (``claims``), LLM claim summaries (``summarize``) and verl RL files (``export``).

One reader module per upstream format: ``anthropic``, ``perspectrum``, ``cmv``, ``ddo``,
``paper``. Bad input raises ``DataError`` naming the file, the row and the field.
"""

from .build import SOURCES, BuildResult, build_source, write_build
from .claims import ClaimRecord, merge_claims, read_claims, write_claims
from .errors import DataError
from .export import export_rows, export_splits
from .priors import Prior, load_priors, read_priors, write_priors
from .summarize import GenerateBackend, SummaryReport, summarize_claims

__all__ = [
    "SOURCES", "BuildResult", "ClaimRecord", "DataError", "GenerateBackend", "Prior", "SummaryReport",
    "build_source", "export_rows", "export_splits", "load_priors", "merge_claims", "read_claims",
    "read_priors", "summarize_claims", "write_build", "write_claims", "write_priors",
]
