"""GPUs counted on a real Ray cluster (declared GPUs, on loopback): what `train` and
`--dry-run` check under RAY_ADDRESS, and what launch/slurm.sbatch waits for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from persuasion_rl.train.cluster import ClusterError, ray_node_gpus, wait_for_cluster

pytestmark = pytest.mark.slow

HEAD = textwrap.dedent("""
    import signal, sys, time, ray
    ray.init(num_gpus=3, num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: (ray.shutdown(), sys.exit(0)))
    print(ray.get_runtime_context().gcs_address, flush=True)
    while True:
        time.sleep(1)
""")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A one-node Ray cluster declaring 3 GPUs, in its own process (stopped by its pid)."""
    temp = tmp_path_factory.mktemp("ray")
    head = subprocess.Popen([sys.executable, "-c", HEAD, str(temp)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    address = head.stdout.readline().strip()
    assert address, "the Ray head did not start"
    yield address
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def test_the_clusters_gpus_are_counted_and_waited_for(ray_head):
    assert ray_node_gpus(ray_head) == [3]
    assert wait_for_cluster(ray_head, nodes=1, gpus_per_node=3, timeout_s=60) == [3]
    with pytest.raises(ClusterError, match="waited for 2 node"):
        wait_for_cluster(ray_head, nodes=2, gpus_per_node=3, timeout_s=1, poll_s=0.5)


def test_train_checks_a_run_against_the_clusters_gpus(ray_head, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": ray_head, "PERSUASION_RL_RUNS": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "persuasion_rl.cli", "train", "paper_grpo", "--dry-run"],
                         env=env, capture_output=True, text=True, timeout=600).stdout
    assert f"the Ray cluster at {ray_head} has 3 GPU(s) but the run needs 4" in out
    fits = subprocess.run([sys.executable, "-m", "persuasion_rl.cli", "train", "paper_grpo", "--dry-run",
                           "reward.reward_model.n_gpus_per_node=1"], env=env, capture_output=True, text=True, timeout=600).stdout
    assert "GPU(s) but the run needs" not in fits
