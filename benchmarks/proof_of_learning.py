"""Proof of learning: the paper's Table 2 in miniature, on the real small models.

1. Train the Sender with GRPO (recipes/smol_cpu_grpo) and with PPO (recipes/smol_cpu_ppo)
   for the same fixed budget of steps (each a fresh process: benchmarks/isolated.py),
   keeping the last checkpoint; export each with `persuasion-rl export` (checked against
   the actor's logits).
2. Evaluate the base Sender and both trained Senders with `persuasion-rl eval` on held-out
   claims no run trained or validated on (default: 50 claims of Perspectrum's test split,
   from ../shared/data/perspectrum, built with `persuasion-rl data build`), against the
   training Receiver (SmolLM2-135M-Instruct), static game, with the prompts and sampling the
   recipe trained with (read from the composed recipe). The paper's transfer test needs a
   second real Receiver whose scores are readable: the only other real model the package
   lists offer, Gemma 3 270M, is a base model that puts 0.02-0.04 of its probability on the
   digits (README "Real small models, from PyPI wheels"), so it is not a default here;
   `--receivers smollm2 gemma` plays it anyway (its unreadable games count as failures).
3. `persuasion-rl eval compare` gives the paired difference (trained - base) per claim with
   its 95% bootstrap CI per Receiver; the learning curves (training gain per step, and the
   validation gain of the run's first and last validation) go to learning_curve.png.

Nothing is tuned on the held-out claims: the recipes' settings come from training runs
and their validation on the project's own claims only.

    python benchmarks/proof_of_learning.py [--steps 16] [--claims N] [--out DIR] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from persuasion_rl.assets.real import real_model  # noqa: E402
from persuasion_rl.cli import main as cli  # noqa: E402
from benchmarks.isolated import run_train  # noqa: E402
from persuasion_rl.train.run_files import run_steps  # noqa: E402
from persuasion_rl.verl_ext.metrics import quarter_means  # noqa: E402
from persuasion_rl.train.summary import summarize_validation, validation_files  # noqa: E402

logger = logging.getLogger("proof_of_learning")

RECIPES = {"grpo": "smol_cpu_grpo", "ppo": "smol_cpu_ppo"}
RECEIVERS = ("smollm2",)
SHARED_PERSPECTRUM = REPO.parent / "shared" / "data" / "perspectrum"


def _eval_sender_flags(recipe: str, overrides: list[str]) -> list[str]:
    """The Sender's prompts and sampling as the recipe trains it, so that eval plays what training played."""
    from persuasion_rl.train.compose import compose_recipe

    config = compose_recipe(recipe, overrides)
    persuasion, rollout = config.persuasion, config.actor_rollout_ref.rollout
    return ["--sender-prompt", str(persuasion.sender_prompt), "--sender-word-limit", str(persuasion.sender_word_limit),
            "--sender-max-tokens", str(config.data.max_response_length), "--sender-temperature", str(rollout.temperature),
            "--sender-top-p", str(rollout.top_p), "--missing-argument", str(persuasion.missing_argument)]


def _train(out: Path, algo: str, steps: int, extra: list[str]) -> Path:
    run_dir = out / "runs"
    overrides = [f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}", f"trainer.test_freq={steps}",
                 "trainer.val_before_train=true", "trainer.resume_mode=disable", f"trainer.experiment_name=pol_{algo}", *extra]
    run = run_train(run_dir, RECIPES[algo], overrides, timeout_s=6 * 3600)
    (out / f"train_{algo}.log").write_text(run.stdout)
    if run.returncode != 0:
        raise SystemExit(f"training {algo} failed (exit {run.returncode}); log: {out / f'train_{algo}.log'}")
    logger.info("%s: %d steps in %.0f s (peak %.1f GiB)", algo, steps, run.wall_s, run.peak_memory_gib)
    return run.run_dir


def _export(run_dir: Path, out: Path) -> Path:
    if not (out / "config.json").exists():
        if cli(["export", str(run_dir), "--out", str(out)]) != 0:
            raise SystemExit(f"export of {run_dir} failed")
    return out


def _update_size(base: Path, trained: Path) -> str:
    """How far training moved the Sender, against what bfloat16 storage would keep of it:
    the share of weights whose float32 value changed, the share whose bfloat16 value changed
    (all a bfloat16 export keeps), and the largest change of the export probe's logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from persuasion_rl.train.export import _probe_logits

    models = [AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval() for path in (base, trained)]
    changed = changed_bf16 = total = 0
    for before, after in zip(models[0].parameters(), models[1].parameters()):
        changed += int((before != after).sum())
        changed_bf16 += int((before.bfloat16() != after.bfloat16()).sum())
        total += before.numel()
    tokenizer = AutoTokenizer.from_pretrained(trained)
    logits = [_probe_logits(model, tokenizer) for model in models]  # the export check's probe
    return (f"weights changed by training: {changed / total:.1%} in float32, {changed_bf16 / total:.1%} in bfloat16; "
            f"probe logits moved by up to {(logits[1] - logits[0]).abs().max().item():.3f}")


def _held_out_claims(out: Path, given: Path | None) -> tuple[Path, list[str]]:
    if given is not None:
        return given, []
    if not SHARED_PERSPECTRUM.is_dir():
        raise SystemExit(f"no held-out claims: {SHARED_PERSPECTRUM} is absent; pass --claims-file (a claims table or JSON lines)")
    folder = out / "claims"
    table = folder / "perspectrum.claims.parquet"
    if not table.exists() and cli(["data", "build", "--source", "perspectrum", "--input", str(SHARED_PERSPECTRUM), "--out", str(folder)]) != 0:
        raise SystemExit("building the Perspectrum claims failed")
    return table, ["--split", "test"]


def _evaluate(out: Path, name: str, sender: str, claims: Path, selection: list[str], limit: int, sender_flags: list[str],
              receivers: list[str]) -> Path:
    folder = out / "eval" / name
    args = ["eval", "--sender", sender, "--sender-name", name, "--claims", str(claims), *selection, "--limit", str(limit),
            "--setting", "static", "--mode", "expected", "--no-confidence", "--no-final-reply", "--out", str(folder),
            "--prior-cache", str(out / "eval" / "priors.jsonl"), *sender_flags]  # one prior per claim for every Sender
    for receiver in receivers:
        args += ["--receiver", receiver]
    if cli(args) != 0:
        raise SystemExit(f"evaluation of {name} failed")
    return folder / "transcripts.jsonl"


def _curve(run_dir: Path) -> dict:
    steps = run_steps(run_dir)
    train = [(s, steps[s]["persuasion/gain/mean"]) for s in sorted(steps) if "persuasion/gain/mean" in steps[s]]
    validation = []
    for path in validation_files(run_dir):
        estimate = summarize_validation(path).gain
        validation.append((int(path.stem), estimate.mean, estimate.low, estimate.high))
    return {"train": train, "validation": validation}


# why a run did or did not learn (issue 12): the reward's spread inside GRPO's groups against
# the spread between claims, flat groups, how far the policy moved, and what the Sender wrote
DIAGNOSTICS = ("persuasion/group/within_std", "persuasion/group/between_std", "persuasion/group/flat_share",
               "actor/ppo_kl", "actor/pg_clipfrac", "actor/grad_norm", "persuasion/argument_words/mean",
               "response_length/clip_ratio")


def _diagnosis(run_dir: Path) -> list[str]:
    """Each diagnostic's mean over the first and the last quarter of the run's steps."""
    return [f"  {key:34} {first:9.4f} -> {last:9.4f}" for key, (first, last) in quarter_means(run_steps(run_dir), DIAGNOSTICS).items()]


def _plot(curves: dict[str, dict], path: Path) -> Path:
    from persuasion_rl.eval.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for algo, curve in curves.items():
        if curve["train"]:
            ax.plot(*zip(*curve["train"]), marker=".", label=f"{algo}: training gain (step mean)")
        points = [v for v in curve["validation"] if v[1] is not None]
        if points:
            x, y = [p[0] for p in points], [p[1] for p in points]
            err = [[p[1] - p[2] if p[2] is not None else 0 for p in points], [p[3] - p[1] if p[3] is not None else 0 for p in points]]
            ax.errorbar(x, y, yerr=err, fmt="s", capsize=4, label=f"{algo}: validation gain, 95% CI")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("persuasion gain (posterior - prior)")
    ax.set_title("Sender training on the real small models")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16, help="training steps per algorithm (the fixed budget)")
    parser.add_argument("--claims", type=int, default=50, help="held-out claims to evaluate on")
    parser.add_argument("--claims-file", type=Path, default=None, help="held-out claims (default: Perspectrum's test split)")
    parser.add_argument("--algos", nargs="+", choices=sorted(RECIPES), default=["grpo", "ppo"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "proof_of_learning")
    parser.add_argument("--skip-train", action="store_true", help="reuse the runs already under --out")
    parser.add_argument("--receivers", nargs="+", default=list(RECEIVERS), help="Receivers to evaluate against (default: the training one)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both trainings (e.g. actor_rollout_ref.actor.optim.lr=2e-5)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = {algo: (out / "runs" / f"pol_{algo}") if args.skip_train else _train(out, algo, args.steps, args.overrides)
            for algo in args.algos}
    curves = {algo: _curve(run_dir) for algo, run_dir in runs.items()}
    (out / "curves.json").write_text(json.dumps(curves, indent=2, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
    print(f"learning curve: {_plot(curves, out / 'learning_curve.png')}")
    for algo, run_dir in runs.items():
        print("\n".join([f"{algo}: first quarter of the steps -> last quarter", *_diagnosis(run_dir)]))
    claims, selection = _held_out_claims(out, args.claims_file)
    flags = _eval_sender_flags(RECIPES[args.algos[0]], args.overrides)  # the recipes share configs/smol_cpu.yaml's Sender
    base = _evaluate(out, "base", "smollm2", claims, selection, args.claims, flags, args.receivers)
    for algo, run_dir in runs.items():
        exported = str(_export(run_dir, out / "exported" / algo))
        print(f"{algo}: {_update_size(real_model('smollm2'), Path(exported))}")
        trained = _evaluate(out, f"smollm2-{algo}", exported, claims, selection, args.claims, flags, args.receivers)
        print(f"\n## {algo.upper()} - base (paired per claim, static game)")
        cli(["eval", "compare", str(base), str(trained), "--out", str(out / f"compare_{algo}")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
