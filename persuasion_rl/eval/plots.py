"""Matplotlib on the Agg backend (no display), and atomic PNG/JSON/CSV writers for the
analyses: each writes its figure and the numbers behind it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..files import atomic_path, write_text_atomic
from .table import to_csv


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(data: Any, path: Path) -> Path:
    write_text_atomic(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n", path)
    return path


def write_csv(rows: Sequence[dict], path: Path) -> Path:
    write_text_atomic(to_csv(list(rows)), path)
    return path


def error_bars(means: Sequence[float | None], lows: Sequence[float | None], highs: Sequence[float | None]) -> list[list[float]]:
    """Matplotlib's yerr from (mean, low, high); zero where a CI is missing."""
    below = [m - lo if m is not None and lo is not None else 0.0 for m, lo in zip(means, lows)]
    above = [hi - m if m is not None and hi is not None else 0.0 for m, hi in zip(means, highs)]
    return [below, above]
