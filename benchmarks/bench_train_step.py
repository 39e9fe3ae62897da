"""Training step time on the tiny default (tiny_cpu_grpo), and what the Receiver costs.

Two runs of verl's real GRPO trainer on this machine, one after the other:
  A. tiny_cpu_grpo as shipped: the tiny Receiver served as verl's reward model (its own
     pool), reached by the reward function through reward_router_address;
  B. the same trainer, model and data with a rule-based reward and no reward model
     ("plain verl GRPO"): benchmarks/rule_reward.py.
Reported, over the steady-state steps (step 1 is warm-up and dropped):
  * reward share of A: the time a step waits on the Receiver over the step time. Rewards
    are computed per sample inside the agent loop while other samples still generate, so
    the step waits on the slowest sample's reward (verl's
    timing_s/agent_loop/slowest/compute_score) plus any reward step after generation
    (timing_s/reward);
  * ratio: median step time of A over B;
  * wall time, Ray start-up and peak memory (PSS of the run's process tree) of each run.
  C. tiny_cpu_grpo_dynamic: the dynamic game (3 rounds) on the same models and claims,
     the agent loop asking the tiny Receiver between turns;
  * dynamic ratio: median step time of C over A.
Targets: reward share <= 25%, ratio <= 1.5x (issue 3); dynamic/static <= 4x (issue 4).

``--models real`` runs the same three on the real small models instead (smol_cpu_grpo and
smol_cpu_grpo_dynamic: SmolLM2-135M-Instruct as Sender and Receiver, issue 12), with
their validations off.

    python benchmarks/bench_train_step.py [--models tiny|real] [--steps 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.isolated import IsolatedRun, run_train  # noqa: E402

RULE_REWARD = ["reward.reward_model.enable=false", "reward.reward_model.enable_resource_pool=false",
               f"reward.custom_reward_function.path={REPO / 'benchmarks' / 'rule_reward.py'}",
               "reward.custom_reward_function.name=compute_score"]
TARGET_SHARE, TARGET_RATIO, TARGET_DYNAMIC = 0.25, 1.5, 4.0
logger = logging.getLogger("bench_train_step")
RECIPES = {"tiny": ("tiny_cpu_grpo", "tiny_cpu_grpo_dynamic", []),
           "real": ("smol_cpu_grpo", "smol_cpu_grpo_dynamic", ["trainer.val_before_train=false"])}


def _steady(run: IsolatedRun) -> list[dict]:
    steps = run.steps(0)
    return [steps[s] for s in sorted(steps) if s > 1]


def summarize(run: IsolatedRun) -> dict:
    steady = _steady(run)
    step_times = [m["timing_s/step"] for m in steady]
    reward_wait = [m.get("timing_s/agent_loop/slowest/compute_score", 0.0) + m.get("timing_s/reward", 0.0) for m in steady]
    first = run.steps(0)[1]["timing_s/step"]
    return {
        "steps": len(steady) + 1,
        "step_s_median": statistics.median(step_times),
        "step_s_all": [round(t, 3) for t in step_times],
        "first_step_s": first,
        "gen_s_median": statistics.median(m["timing_s/gen"] for m in steady),
        "update_actor_s_median": statistics.median(m["timing_s/update_actor"] for m in steady),
        "old_log_prob_s_median": statistics.median(m.get("timing_s/old_log_prob", 0.0) for m in steady),
        "ref_s_median": statistics.median(m.get("timing_s/ref", 0.0) for m in steady),
        "reward_wait_s_median": statistics.median(reward_wait),
        "reward_share": statistics.median(w / t for w, t in zip(reward_wait, step_times)),
        "wall_s": run.wall_s,
        "startup_and_teardown_s": run.wall_s - first - sum(step_times),
        "peak_memory_gib": run.peak_memory_gib,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--models", choices=sorted(RECIPES), default="tiny", help="tiny random models or the real small ones")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    # A dynamic SmolLM2 step takes ~280 s on an AVX2 2-core host: 5 steps outlast isolated's 900 s default.
    parser.add_argument("--timeout-s", type=float, default=3600, help="per run; a run past it is killed and reported")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    common = [f"trainer.total_training_steps={args.steps}", "trainer.save_freq=-1", "trainer.test_freq=-1",
              "trainer.resume_mode=disable", "trainer.logger=[console,file]"]
    static, dynamic, extra_common = RECIPES[args.models]
    common += extra_common
    workdir = Path(tempfile.mkdtemp(prefix="prl-bench-"))
    try:
        runs = {}
        for name, recipe, extra in (("receiver", static, []), ("rule", static, RULE_REWARD), ("dynamic", dynamic, [])):
            logger.info("%s run: %s, %d steps (the training's own output is shown only if it fails)", name, recipe, args.steps)
            run = run_train(workdir / name, recipe, [*common, *extra], timeout_s=args.timeout_s)
            if run.returncode != 0:
                print(run.stdout[-5000:], file=sys.stderr)
                why = f"timed out after {args.timeout_s:.0f} s (--timeout-s)" if run.timed_out else f"exited {run.returncode}"
                logger.error("the %s run (%s) %s; its last output is above", name, recipe, why)
                return 1
            runs[name] = summarize(run)
            logger.info("%s run: %.0f s, median step %.1f s", name, run.wall_s, runs[name]["step_s_median"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    a, b, c = runs["receiver"], runs["rule"], runs["dynamic"]
    dynamic_ratio = c["step_s_median"] / a["step_s_median"]
    result = {"models": args.models, "receiver": a, "rule": b, "dynamic": c, "ratio": a["step_s_median"] / b["step_s_median"],
              "reward_share": a["reward_share"], "dynamic_ratio": dynamic_ratio,
              "targets_met": a["reward_share"] <= TARGET_SHARE and a["step_s_median"] / b["step_s_median"] <= TARGET_RATIO
              and dynamic_ratio <= TARGET_DYNAMIC}
    print(f"{'':28}{'Receiver reward':>16}{'rule reward':>14}{'dynamic (3 rounds)':>20}")
    for key in ("step_s_median", "first_step_s", "gen_s_median", "old_log_prob_s_median", "ref_s_median",
                "update_actor_s_median", "reward_wait_s_median",
                "wall_s", "startup_and_teardown_s", "peak_memory_gib"):
        print(f"{key:28}{a[key]:>16.3f}{b[key]:>14.3f}{c[key]:>20.3f}")
    print(f"reward share of the step (Receiver run): {a['reward_share']:.1%} (target <= {TARGET_SHARE:.0%})")
    print(f"step time ratio Receiver/rule: {result['ratio']:.2f}x (target <= {TARGET_RATIO}x)")
    print(f"step time ratio dynamic/static: {dynamic_ratio:.2f}x (target <= {TARGET_DYNAMIC}x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
