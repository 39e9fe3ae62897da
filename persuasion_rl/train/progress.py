"""A progress bar for ``persuasion-rl train``, fed by the run's metrics file.

verl's own ``Training Progress`` bar lives in the Ray task-runner actor, whose output
reaches the console line by line through Ray's log monitor, so it never redraws. The
driver process instead watches the metrics file verl's file logger appends one line per
step to, and draws one bar there: steps done of ``trainer.total_training_steps``, with the
step's mean persuasion gain and the latest validation reward.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .run_files import read_steps, training_steps

POLL_S = 2.0
GAIN_KEY = "persuasion/gain/mean"
MISSING_KEY = "persuasion/argument_missing_rate"
VAL_PREFIX = "val-core/"


def _postfix(metrics: dict) -> dict[str, str]:
    shown = {}
    if isinstance(metrics.get(GAIN_KEY), (int, float)):
        shown["gain"] = f"{metrics[GAIN_KEY]:+.3f}"
    if isinstance(metrics.get(MISSING_KEY), (int, float)):
        shown["no_arg"] = f"{metrics[MISSING_KEY]:.0%}"
    return shown


def _validation(steps: dict[int, dict]) -> str | None:
    for step in sorted(steps, reverse=True):
        for key, value in steps[step].items():
            if key.startswith(VAL_PREFIX) and key.endswith("/reward/mean@1"):
                # verl logs a mean over no scored sample as null (NaN): show it, never crash on it
                return f"{value:+.3f}@{step}" if isinstance(value, (int, float)) else f"n/a@{step}"
    return None


class MetricsProgress:
    """``with MetricsProgress(file, total): ...`` draws the bar while the block runs."""

    def __init__(self, metrics_file: Path, total_steps: int | None, poll_s: float = POLL_S):
        # None: verl derives the step count from the epochs; the bar then only counts
        self.metrics_file, self.total_steps, self.poll_s = Path(metrics_file), total_steps and int(total_steps), poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="train-progress", daemon=True)
        self._bar = None

    def __enter__(self) -> "MetricsProgress":
        from tqdm import tqdm

        self._bar = tqdm(total=self.total_steps, desc="training steps", unit="step", dynamic_ncols=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.refresh()
        self._bar.close()

    def refresh(self) -> None:
        if not self.metrics_file.exists():
            return
        steps = read_steps(self.metrics_file)  # a line being written is left out
        train_steps = list(training_steps(steps))
        # global steps: a resumed run starts where its checkpoint left off
        done = max(train_steps, default=0)
        self._bar.n = min(done, self.total_steps) if self.total_steps else done
        postfix = _postfix(steps[max(train_steps)]) if train_steps else {}
        validation = _validation(steps)
        if validation:
            postfix["val_reward"] = validation
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh()
            except OSError:
                pass  # the file is being rotated or not there yet: the next poll sees it
