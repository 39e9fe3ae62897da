"""Run ``persuasion-rl train`` in a fresh process with its own Ray temp dir, and clean up.

For the end-to-end tests and the benchmark: verl picks its platform once per process and
each run starts a local Ray cluster, so every run gets a new process. Ray's processes
live in a private temp dir; whatever names that dir after the run (a run killed by its
timeout) is ended by pid, leaving other Ray clusters on the machine alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .paths import package_parent


@dataclass
class IsolatedRun:
    run_dir: Path
    stdout: str
    returncode: int
    wall_s: float
    peak_memory_gib: float = 0.0  # PSS of the run's process tree
    extra: dict = field(default_factory=dict)

    def launches(self) -> list[Path]:
        return sorted((self.run_dir / "metrics").glob("launch-*.jsonl"))

    def steps(self, launch: int = -1) -> dict[int, dict]:
        """step -> metrics, from one launch's metrics file."""
        lines = self.launches()[launch].read_text().splitlines()
        return {record["step"]: record["data"] for record in map(json.loads, lines)}


def _ray_processes(temp_dir: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(temp_dir in part for part in process.info["cmdline"] or []):
                found.append(process.info["pid"])
        except psutil.Error:
            pass
    return found


def _footprint(process: psutil.Process) -> int:
    """PSS where the kernel reports it (shared pages split between their users), else RSS."""
    try:
        return process.memory_full_info().pss
    except (psutil.Error, AttributeError):
        return process.memory_info().rss


def _memory_sampler(pid: int, temp_dir: str, peak: list[int], stop: threading.Event) -> None:
    """Peak memory (PSS) of the driver's tree plus the Ray processes of this run (Ray's
    daemons are not always the driver's children)."""
    while not stop.wait(1.0):
        try:
            pids = {pid, *_ray_processes(temp_dir)}
            processes = {p.pid: p for q in pids for p in [psutil.Process(q), *psutil.Process(q).children(recursive=True)]}
        except psutil.Error:
            continue
        total = 0
        for process in processes.values():
            try:
                total += _footprint(process)
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)


def run_train(runs_root: Path, recipe: str, overrides: list[str], env: dict | None = None,
              timeout_s: float = 900) -> IsolatedRun:
    temp_dir = tempfile.mkdtemp(prefix="prlray", dir="/tmp")  # short: Ray's socket paths are length-limited
    command = [sys.executable, "-m", "persuasion_rl.cli", "train", recipe, *overrides,
               f"++ray_kwargs.ray_init._temp_dir={temp_dir}"]
    full_env = {**os.environ, "PERSUASION_RL_RUNS": str(runs_root), **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_parent()), full_env.get("PYTHONPATH")]))
    for key in ("WANDB_API_KEY", "WANDB_MODE", "RAY_ADDRESS"):
        if not env or key not in env:
            full_env.pop(key, None)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=package_parent(), env=full_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=_memory_sampler, args=(process.pid, temp_dir, peak, stop), daemon=True)
    sampler.start()
    try:
        stdout, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
    finally:
        stop.set()
        sampler.join()
        for pid in _ray_processes(temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    if process.returncode == 0:
        shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's session logs are kept when a run fails
    return IsolatedRun(Path(runs_root) / recipe, stdout, process.returncode, time.monotonic() - started, peak[0] / 2**30)
