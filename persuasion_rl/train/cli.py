"""``persuasion-rl train RECIPE [overrides...] [--dry-run]`` and ``persuasion-rl export``."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)

# said before the merge, not only in the verification line after it
BFLOAT16_NOTICE = ("The actor trains in float32; verl's model merger stores the export's weights as bfloat16, so the "
                   "check compares against the actor's weights rounded to bfloat16 (and reports the float32 difference). "
                   "For a float32 export, train with actor_rollout_ref.actor.checkpoint.save_contents="
                   "[model,optimizer,extra,hf_model] (the laptop recipes do).")
FLOAT32_NOTICE = "The checkpoint holds verl's float32 save of the whole model (hf_model): the export is the actor's own float32 weights."


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a Sender with verl (PPO or GRPO) against a frozen Receiver",
        description="Compose RECIPE's Hydra config (recipes/RECIPE/config.yaml, or a path to one) with Hydra "
        "OVERRIDES (e.g. trainer.total_training_steps=10 persuasion.scoring_mode=sample algo=ppo), check it, "
        "print where logs and checkpoints go, and run verl's trainer.",
    )
    train.add_argument("recipe", help="recipe name (tiny_cpu_grpo[_dynamic], tiny_cpu_ppo[_dynamic], paper_grpo[_dynamic], paper_ppo[_dynamic]) or path")
    # REMAINDER keeps Hydra's syntax intact (e.g. '+key=v', '~key'); --dry-run may come anywhere
    train.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides, key=value")
    train.add_argument("--dry-run", action="store_true", help="print the composed config and the command; run nothing")
    train.set_defaults(func=run_train)

    export = subparsers.add_parser(
        "export",
        help="write a training checkpoint as a Hugging Face model folder and verify it",
        description="Write the actor checkpoint of RUN_DIR (latest, or --step N) as a Hugging Face model folder "
        "(verl's hf_model save if the checkpoint has one, else verl's model merger), then check that it loads and reproduces the trained actor's logits. "
        f"{BFLOAT16_NOTICE} {FLOAT32_NOTICE}",
    )
    export.add_argument("run_dir", help="a run directory (runs/<experiment>) or its checkpoints folder")
    export.add_argument("--step", type=int, default=None, help="global step to export (default: the latest)")
    export.add_argument("--out", required=True, help="output folder for the Hugging Face model")
    export.add_argument("--no-verify", action="store_true", help="skip the load-and-compare check")
    export.set_defaults(func=run_export)


def _print_plan(plan, stream=None) -> None:
    stream = stream or sys.stdout
    for notice in plan.notices:
        print(notice, file=stream)
    for warning in plan.report.warnings:
        print(f"warning: {warning}", file=stream)
    width = max(len(k) for k in plan.locations())
    for key, value in plan.locations().items():
        print(f"{key:<{width}}  {value}", file=stream)


def run_train(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from .checks import ConfigCheckError
    from .runner import execute, plan_run, prepare

    overrides = [o for o in args.overrides if o != "--dry-run"]
    dry_run = args.dry_run or len(overrides) != len(args.overrides)
    plan = plan_run(args.recipe, overrides)
    if dry_run:
        print(OmegaConf.to_yaml(plan.config))
        print("# ---")
        _print_plan(plan)
        if plan.config.run.prepare_tiny:
            print("tiny models and data are built before training if missing")
        if plan.config.run.get("prepare_real"):
            print(f"real models ({plan.config.run.prepare_real}) are converted and the claims data built before training if missing")
        print("# command")
        print(plan.command())
        if not plan.report.ok:
            # a dry run shows the config wherever it is composed; a real run stops here
            print("# problems (a real run stops here)")
            for error in plan.report.errors:
                print(f"  - {error}")
        return 0
    if not plan.report.ok:
        raise ConfigCheckError(plan.report)
    prepare(plan)
    _print_plan(plan)
    execute(plan)
    print(f"training finished; checkpoints in {plan.config.trainer.default_local_dir}")
    _print_summary(plan.run_dir)
    return 0


def _print_summary(run_dir) -> None:
    from .summary import format_summary, summarize_run, validation_files

    if not validation_files(run_dir):
        print(f"no validation samples in {run_dir}/validation: no summary (trainer.test_freq, trainer.val_before_train)")
        return
    print(format_summary(summarize_run(run_dir)))


def run_export(args: argparse.Namespace) -> int:
    from .export import actor_dir, export_checkpoint, saved_full_model

    _, actor = actor_dir(args.run_dir, args.step)
    print(f"note: {FLOAT32_NOTICE if saved_full_model(actor) else BFLOAT16_NOTICE}")
    result = export_checkpoint(args.run_dir, args.out, step=args.step, verify=not args.no_verify)
    print(f"exported step {result.step} to {result.out_dir}")
    if result.max_logit_diff is not None:
        print(f"verified: the export reproduces the trained actor's logits (max |diff| {result.max_logit_diff:.2e} "
              f"with weights rounded to {result.stored_dtype}, {result.rounding_diff:.2e} against float32; "
              f"tied embeddings: {result.tied_embeddings})")
    return 0
