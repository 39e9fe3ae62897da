"""Run ``persuasion-rl train`` in a fresh process with its own Ray temp dir, and clean up.

For the end-to-end tests and the benchmarks (a test and benchmark helper, so it lives
here, outside the package): verl picks its platform once per process and
each run starts a local Ray cluster, so every run gets a new process. Ray's processes
live in a private temp dir; whatever names that dir after the run (a run killed by its
timeout) is ended by pid, leaving other Ray clusters on the machine alone. A ``watch``
callback sees the run while it trains (its output and metrics so far) and can crash it
the way a lost node does: SIGKILL to the driver's process group and the run's Ray processes.
"""

from __future__ import annotations

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
from typing import Callable, Optional

import psutil

from persuasion_rl.train.paths import package_parent
from persuasion_rl.train.run_files import metrics_files, read_steps  # noqa: F401 (tests import read_steps here)


@dataclass
class IsolatedRun:
    run_dir: Path
    stdout: str
    returncode: int
    wall_s: float
    peak_memory_gib: float = 0.0  # PSS of the run's process tree
    extra: dict = field(default_factory=dict)
    timed_out: bool = False  # SIGKILLed at run_train's timeout_s

    def launches(self) -> list[Path]:
        return metrics_files(self.run_dir)

    def steps(self, launch: int = -1) -> dict[int, dict]:
        """step -> metrics, from one launch's metrics file."""
        return read_steps(self.launches()[launch])


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


@dataclass
class RunHandle:
    """A run in progress, as a watcher sees it: its output so far, its metrics, and a
    way to crash it."""

    run_dir: Path
    process: subprocess.Popen
    temp_dir: str
    launches_before: int
    lines: list[str] = field(default_factory=list)
    crashed: bool = False  # by a watcher, on purpose
    timed_out: bool = False

    def steps(self) -> dict[int, dict]:
        """step -> metrics logged so far by this launch (a line being written is skipped)."""
        launches = sorted((self.run_dir / "metrics").glob("launch-*.jsonl"))
        if len(launches) <= self.launches_before:
            return {}
        return read_steps(launches[self.launches_before])

    def crash(self) -> None:
        """kill -9, the way a node loss or the OOM killer ends a run: no handler, no
        clean-up, the driver's process group and every Ray process of the run at once."""
        self.crashed = True
        _kill_tree(self.process, self.temp_dir)


def _kill_tree(process: subprocess.Popen, temp_dir: str) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _kill_ray(temp_dir)


def _kill_ray(temp_dir: str) -> None:
    for pid in _ray_processes(temp_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _read_lines(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def _supervise(handle: RunHandle, watch, deadline: float) -> None:
    """Until the run ends: call ``watch(handle)`` every 0.1 s until it returns True (done
    watching); SIGKILL everything at the deadline."""
    watching = watch is not None
    while handle.process.poll() is None:
        if time.monotonic() > deadline:
            handle.timed_out = True
            _kill_tree(handle.process, handle.temp_dir)
            break
        if watching and watch(handle):
            watching = False
        time.sleep(0.1)
    handle.process.wait()


def _command(recipe: str, overrides: list[str], runs_root: Path, env: dict | None, temp_dir: str) -> tuple[list[str], dict]:
    command = [sys.executable, "-m", "persuasion_rl.cli", "train", recipe, *overrides,
               f"++ray_kwargs.ray_init._temp_dir={temp_dir}"]
    full_env = {**os.environ, "PERSUASION_RL_RUNS": str(runs_root), **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_parent()), full_env.get("PYTHONPATH")]))
    for key in ("WANDB_API_KEY", "WANDB_MODE", "RAY_ADDRESS"):
        if not env or key not in env:
            full_env.pop(key, None)
    return command, full_env


def experiment_name(recipe: str, overrides: list[str]) -> str:
    """The run's folder name under the runs root: ``run.dir`` is ``${run.root}/${trainer.experiment_name}``
    (configs/persuasion_trainer.yaml), the recipe's name unless an override (the last one wins) renames it."""
    names = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("trainer.experiment_name=")]
    return names[-1] if names else recipe


def run_train(runs_root: Path, recipe: str, overrides: list[str], env: dict | None = None,
              timeout_s: float = 900, watch: Optional[Callable[[RunHandle], bool]] = None) -> IsolatedRun:
    """``watch``, if given, sees the run while it trains (e.g. to crash it, or to break the
    Receiver it calls) and returns True once it has nothing more to do."""
    temp_dir = tempfile.mkdtemp(prefix="prlray", dir="/tmp")  # short: Ray's socket paths are length-limited
    command, full_env = _command(recipe, overrides, runs_root, env, temp_dir)
    run_dir = Path(runs_root) / experiment_name(recipe, overrides)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=package_parent(), env=full_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    handle = RunHandle(run_dir, process, temp_dir, len(list((run_dir / "metrics").glob("launch-*.jsonl"))))
    reader = threading.Thread(target=_read_lines, args=(process.stdout, handle.lines), daemon=True)
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=_memory_sampler, args=(process.pid, temp_dir, peak, stop), daemon=True)
    reader.start()
    sampler.start()
    try:
        _supervise(handle, watch, started + timeout_s)
    finally:
        if process.poll() is None:  # the watcher raised: nothing may outlive the caller
            _kill_tree(process, temp_dir)
            process.wait()
        stop.set()
        sampler.join()
        _kill_ray(temp_dir)
        reader.join(timeout=30)
    if process.returncode == 0 or handle.crashed:
        shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's session logs are kept when a run fails by itself
    return IsolatedRun(run_dir, "".join(handle.lines), process.returncode, time.monotonic() - started, peak[0] / 2**30,
                       extra={"crashed": handle.crashed}, timed_out=handle.timed_out)
