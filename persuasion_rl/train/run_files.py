"""Reading back what a training run wrote: its metrics files.

verl's file logger appends one JSON line per step (``{"step": N, "data": {...}}``) to the
file ``persuasion-rl train`` names per launch (``RUN_DIR/metrics/launch-NNN.jsonl``). The
progress bar, the closing summary, the end-to-end tests and the benchmarks read them here.
"""

from __future__ import annotations

from pathlib import Path

from persuasion_rl.files import jsonl_error, read_jsonl


def read_steps(metrics_file: Path) -> dict[int, dict]:
    """step -> metrics of a verl file-logger file (a last line still being written, or cut
    by a crash, is left out: ``persuasion_rl.files``'s torn-line policy)."""
    steps = {}
    for number, record in read_jsonl(metrics_file):
        for name in ("step", "data"):
            if name not in record:
                raise jsonl_error(metrics_file, number, "missing", name)
        steps[record["step"]] = record["data"]
    return steps


def metrics_files(run_dir: Path) -> list[Path]:
    return sorted((Path(run_dir) / "metrics").glob("launch-*.jsonl"))


def run_steps(run_dir: Path) -> dict[int, dict]:
    """step -> metrics over every launch of a run (a resumed launch's steps follow)."""
    steps: dict[int, dict] = {}
    for path in metrics_files(run_dir):
        steps.update(read_steps(path))
    return steps


def training_steps(steps: dict[int, dict]) -> dict[int, dict]:
    """The training steps among ``read_steps``/``run_steps``' lines, in order: verl times
    every training step and the project logs ``persuasion/*`` on it; a validation-only line
    (step 0 of ``val_before_train``) has neither."""
    return {s: steps[s] for s in sorted(steps)
            if "timing_s/step" in steps[s] or any(k.startswith("persuasion/") for k in steps[s])}
