"""The CPU support pieces on their own (no Ray): platform, rollout server, patch, bootstrap."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import torch

from persuasion_rl.verl_ext.cpu_platform import PlatformCPU, build_device_module
from persuasion_rl.verl_ext.hf_rollout import HFRolloutServer, SamplingKey, TokenGenerator, TokenRequest, sampling_key

REPO = Path(__file__).resolve().parents[2]


def test_cpu_platform_answers_as_verl_needs():
    platform = PlatformCPU()
    assert platform.device_name == "cpu" and platform.current_device() == "cpu"
    assert platform.communication_backend_name() == "gloo"
    assert platform.ray_resource_name() == "GPU"  # verl's pools only schedule GPU bundles
    assert platform.ray_resource_options(1) == {"num_gpus": 1}
    assert not platform.is_ipc_supported() and not platform.is_platform_available(use_smi_check=True)
    torch.zeros(2).to(platform.current_device())  # verl does tensor.to(get_device_id())


def test_device_module_shim_covers_verl_calls():
    module = build_device_module()
    for name in ("empty_cache", "synchronize", "ipc_collect", "set_device", "reset_peak_memory_stats",
                 "set_per_process_memory_fraction"):
        getattr(module, name)()  if name not in ("set_device", "set_per_process_memory_fraction") else getattr(module, name)(0)
    assert module.memory_allocated() == 0 and module.max_memory_reserved() == 0
    free, total = module.mem_get_info()
    assert 0 < free <= total
    state = module.get_rng_state()
    module.set_rng_state(state)
    assert module.current_device() == "cpu" and module.is_available() and module.device_count() == 1
    with module.stream(module.current_stream()):
        pass


def test_bootstrap_registers_everything_in_a_fresh_process():
    code = (
        "import verl\n"
        "from verl.utils.device import get_device_name, get_nccl_backend\n"
        "from verl.workers.rollout.replica import get_rollout_replica_class\n"
        "from verl.workers.rollout.base import get_rollout_class\n"
        "import verl.utils.model as m\n"
        "print(get_device_name(), get_nccl_backend(), get_rollout_replica_class('hf').__name__,"
        " get_rollout_class('hf').__name__, m.load_valuehead_model._persuasion_rl_patched)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "VERL_PLATFORM": "cpu",
           "VERL_USE_EXTERNAL_MODULES": "persuasion_rl.verl_ext.bootstrap"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["cpu", "gloo", "HFReplica", "HFServerAdapter", "True"]


GLOO_CODE = (
    "import os, socket\n"
    "{before}"
    "import verl.workers.engine_workers as workers\n"
    "{patch}"
    "import torch.distributed as dist\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()\n"
    "os.environ.update(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))\n"
    "workers.initialize_global_process_group_ray(timeout_second=None)\n"  # as TrainingWorker.__init__ calls it
    "print(dist.get_backend())\n"
)


@pytest.mark.parametrize("order", ["bootstrap first", "workers imported first"])
def test_workers_open_a_gloo_process_group_on_the_cpu(order):
    """TrainingWorker's process group (every trainer class's workers) opens on the CPU:
    verl's own default backend string 'cpu:gloo,cpu:gloo' is refused by torch."""
    if order == "bootstrap first":
        code = GLOO_CODE.format(before="import verl\n", patch="")
        env = {"VERL_PLATFORM": "cpu", "VERL_USE_EXTERNAL_MODULES": "persuasion_rl.verl_ext.bootstrap"}
    else:  # the patch applied after verl's workers module was imported
        code = GLOO_CODE.format(before="", patch="from persuasion_rl.verl_ext.patches import patch_gloo_process_group as p\n"
                                                   "assert p() and not p()\n")
        env = {}
    base = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == "gloo"


def test_bootstrap_does_nothing_on_another_platform():
    code = "import persuasion_rl.verl_ext.bootstrap as b; import verl.plugin.platform as p; print(b.is_active(), 'cpu' in p.PlatformRegistry.registered_names())"
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


def test_valuehead_patch_loads_the_critic_with_sdpa(tiny_assets):
    import verl.utils.model as verl_model
    from transformers import AutoConfig

    from persuasion_rl.verl_ext.patches import patch_valuehead_attention

    patch_valuehead_attention()
    assert not patch_valuehead_attention()  # idempotent
    config = AutoConfig.from_pretrained(tiny_assets.sender)
    config.num_labels = 1
    model = verl_model.load_valuehead_model(str(tiny_assets.sender), torch.float32, config, False)
    assert model.config._attn_implementation == "sdpa"
    assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 1)


# ---- the rollout server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator(tiny_assets):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.sender)
    model = AutoModelForCausalLM.from_pretrained(tiny_assets.sender, dtype=torch.float32).eval()
    return TokenGenerator(model, tokenizer.pad_token_id, [tokenizer.eos_token_id]), tokenizer


def _teacher_forced_logprobs(model, prompt, tokens, temperature=1.0):
    ids = torch.tensor([prompt + tokens])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1] / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)


def test_generation_honours_per_request_limits_and_returns_the_sampler_logprobs(generator):
    gen, tokenizer = generator
    prompts = [tokenizer.encode("Here is a claim."), tokenizer.encode("Free buses cut traffic and cost little to run.")]
    key = SamplingKey(temperature=0.7, top_p=1.0, top_k=-1, repetition_penalty=1.0, ignore_eos=True)
    torch.manual_seed(0)
    results = gen.generate(key, [TokenRequest(tuple(prompts[0]), 5), TokenRequest(tuple(prompts[1]), 9)])
    assert [len(r.token_ids) for r in results] == [5, 9]
    for prompt, result in zip(prompts, results):
        expected = _teacher_forced_logprobs(gen.model, prompt, result.token_ids, temperature=0.7)
        # left padding in the batch must not change the numbers
        assert torch.allclose(torch.tensor(result.log_probs), expected, atol=1e-4)


def test_generation_stops_after_the_end_of_turn_token(generator):
    gen, tokenizer = generator
    eos = tokenizer.eos_token_id
    gen_eos = TokenGenerator(gen.model, gen.pad_token_id, [eos])
    prompt = tuple(tokenizer.encode("Here is a claim."))
    # force an early stop: make every token an end-of-sequence token for this call
    vocabulary = list(range(len(tokenizer)))
    gen_eos.eos_token_ids = vocabulary
    result = gen_eos.generate(SamplingKey(0.0, 1.0, -1, 1.0, False), [TokenRequest(prompt, 8)])[0]
    assert len(result.token_ids) == 1 and result.finished


def test_sampling_key_from_verl_params():
    key = sampling_key({"temperature": 0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True})
    assert key.greedy and key.top_k == -1


def _server_config(**overrides):
    values = dict(max_model_len=None, response_length=16, prompt_length=512, max_num_seqs=16, dtype="float32")
    return SimpleNamespace(**{**values, **overrides})


def test_rollout_server_batches_concurrent_requests_and_updates_weights(tiny_assets, generator):
    _, tokenizer = generator
    model_config = SimpleNamespace(local_path=str(tiny_assets.sender), path=str(tiny_assets.sender), trust_remote_code=False)
    server = HFRolloutServer(_server_config(), model_config, replica_rank=0)
    batches = []

    async def run():
        await server.launch_server()
        original = server.generator.generate
        server.generator.generate = lambda key, requests: batches.append(len(requests)) or original(key, requests)
        prompt = tokenizer.encode("Here is a claim.")
        params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True, "max_tokens": 4}
        outputs = await asyncio.gather(*[server.generate(prompt, dict(params), request_id=str(i)) for i in range(6)])
        # new weights: the next generation must come from them
        zeroed = {name: torch.zeros_like(t) for name, t in server.generator.model.state_dict().items()}
        await server.update_weights(zeroed, global_steps=7)
        greedy = await server.generate(prompt, {"temperature": 0, "max_tokens": 3, "logprobs": True}, request_id="g")
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"http://{server.address[0]}:{server.address[1]}/health")).json()
        return outputs, greedy, health

    outputs, greedy, health = asyncio.run(run())
    assert batches[0] == 6  # one generate() for six concurrent requests
    assert all(len(o.token_ids) <= 4 and len(o.log_probs) == len(o.token_ids) for o in outputs)
    assert greedy.extra_fields["global_steps"] == 7
    assert greedy.token_ids == [0, 0, 0]  # all-zero logits: argmax is token 0
    assert health == {"status": "ok"}


def test_reward_model_server_serves_the_receiver_over_http(tiny_assets):
    model_config = SimpleNamespace(local_path=str(tiny_assets.receiver), path=str(tiny_assets.receiver), trust_remote_code=False)
    server = HFRolloutServer(_server_config(), model_config, replica_rank=0, is_reward_model=True)

    async def run():
        host, port = await server.launch_server()
        # served under its path, as verl's vLLM replicas serve the reward model
        body = {"model": str(tiny_assets.receiver), "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20,
                "messages": [{"role": "user", "content": "Report your score."}, {"role": "assistant", "content": "<score>"}],
                "continue_final_message": True, "add_generation_prompt": False}
        async with httpx.AsyncClient(timeout=60) as client:
            url = f"http://{host}:{port}/v1/chat/completions"
            unknown = await client.post(url, json={**body, "model": "tiny-receiver"})
            return (await client.post(url, json=body)).json(), unknown

    reply, unknown = asyncio.run(run())
    assert unknown.status_code == 404 and "does not exist" in unknown.json()["error"]["message"]
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert len(top) >= 7 and any(entry["token"].strip() in "1234567" for entry in top)
    with pytest.raises(RuntimeError):
        asyncio.run(server.generate([1, 2], {}, request_id="x"))
