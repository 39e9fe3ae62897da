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
