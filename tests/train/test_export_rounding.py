"""The export check rounds the trained actor's weights to the export's dtype, never its
buffers: rounding the rotary ``inv_freq`` buffer to bfloat16 (``model.to(bfloat16)``) made
the check fail a correct SmolLM2 export by 0.07 in the logits."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from persuasion_rl.train.export import _round_parameters


def test_weights_are_rounded_and_buffers_are_not():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=2, rope_theta=100000.0))
    inv_freq = model.model.rotary_emb.inv_freq.clone()
    assert not torch.equal(inv_freq.to(torch.bfloat16).float(), inv_freq)  # bfloat16 would change it
    weight = model.model.embed_tokens.weight.detach().clone()
    _round_parameters(model, torch.bfloat16)
    assert torch.equal(model.model.rotary_emb.inv_freq, inv_freq)
    assert torch.equal(model.model.embed_tokens.weight, weight.to(torch.bfloat16).float())
    assert model.model.embed_tokens.weight.dtype == torch.float32


def test_a_checkpoint_with_verls_full_save_exports_its_float32_weights(tmp_path):
    """verl's hf_model save writes the actor's float32 tensors under a config that says
    bfloat16 (it builds the skeleton in bfloat16); the export copies the save and says float32,
    so a user's from_pretrained(dtype="auto") keeps the trained weights exactly."""
    import json

    from persuasion_rl.train.export import merge, saved_full_model

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    actor = tmp_path / "actor"
    saved = actor / "huggingface"
    assert not saved_full_model(actor)
    model.save_pretrained(saved)  # float32 tensors
    written = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**written, "dtype": "bfloat16"}))  # as verl writes it
    assert saved_full_model(actor)
    assert merge(actor, tmp_path / "out") == "verl's hf_model save"
    assert json.loads((tmp_path / "out" / "config.json").read_text())["dtype"] == "float32"
    loaded = LlamaForCausalLM.from_pretrained(tmp_path / "out", dtype="auto")
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded.model.embed_tokens.weight, model.model.embed_tokens.weight)
