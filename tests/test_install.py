"""The README's GPU install (`pip install -e ".[vllm]"` on CUDA Linux) resolves, on the
package index, to the one pinned GPU stack and nothing else.

pip's resolver runs for a CUDA Linux platform (manylinux x86_64, CPython 3.11, wheels only)
with this machine's pip configuration left out (its local CPU torch wheel must not count),
on the project's wheel with the `vllm` extra: the same requirements as the editable
install. It needs the package index; without it the test fails, as any other outcome does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PINNED_GPU_STACK = {"vllm": "0.31.0", "torch": "2.13.0", "transformers": "5.10.4", "verl": "0.9.1"}
# glibc 2.35 x86_64 (Ubuntu 22.04, a common CUDA host) and every older manylinux tag it runs
# (pip does not expand an explicit --platform)
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
# hydra-core's parser runtime is on the index as a source distribution only (pure Python):
# a real install builds it; a --platform resolution cannot, so its wheel is built first
SDIST_ONLY = ["antlr4-python3-runtime==4.9.3"]
CUDA_PLATFORM = [*(arg for tag in MANYLINUX for arg in ("--platform", tag)), "--python-version", "3.11",
                 "--implementation", "cp", "--only-binary=:all:"]
# Each wheel's METADATA is read with HTTP range requests instead of downloading the wheel:
# the same metadata for the same resolver. An index without PEP 658 metadata files (this
# machine's PyPI proxy) otherwise makes pip download every wheel it considers, ~4.7 GB of
# CUDA builds. Measured side by side here: 143 s downloading, 68 s with range requests,
# the same 270 packages. pip downloads the whole wheel where a server refuses ranges.
LAZY_METADATA = ["--use-feature=fast-deps"]


def _index_only_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no local wheel folder or extra index: the public index alone
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args[:6])} ... failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.resolver
@pytest.mark.timeout(1800)
def test_gpu_install_resolves_to_the_pinned_stack(tmp_path):
    env = _index_only_env()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
         env, timeout=300)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), *SDIST_ONLY], env, timeout=300)
    [wheel] = tmp_path.glob("persuasion_rl-*.whl")
    report = tmp_path / "report.json"
    _run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
          "--find-links", str(tmp_path), *CUDA_PLATFORM, *LAZY_METADATA, f"{wheel}[vllm]"], env, timeout=1500)
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    assert {name: resolved.get(name) for name in PINNED_GPU_STACK} == PINNED_GPU_STACK
    assert any(name.startswith("nvidia-") for name in resolved), "torch resolved without its CUDA libraries"
    assert "flash-attn" not in resolved and "flash_attn" not in resolved  # sdpa: configs/platform/gpu.yaml
