"""End to end in real headless Chromium: the `serve` command on loopback, an invite link,
one transcript answered through the forms, then the database and the export checked."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN, CORPORA, game_record, write_jsonl

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]
LAUNCH_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/install_browser.sh installs them)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[annotate-test]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LONG_ARGUMENT = (
    "Large randomized studies across several countries found that the policy reduced costs by 12% without "
    "lowering quality. Independent auditors replicated the result, and the effect held in both urban and rural "
    "regions. The main objection, that savings come from cutting services, is not supported: service use rose."
)


def realistic_games() -> list[dict]:
    games = []
    for i, corpus in enumerate(CORPORA):
        g = game_record(f"{corpus}-demo", corpus, n_rounds=3, scores=[3, 4, 5, 5])
        g["claim"] = ["Cities should make public transport free.", "Homework should be banned in primary school.",
                      "Social media does more harm than good."][i]
        g["prior"]["opinion"] = ("I am somewhat opposed to this claim. It sounds appealing, but I worry about the cost "
                                 "and whether the benefits are as large as people say.")
        g["prior"]["question"] = "What evidence is there that the benefits outweigh the costs?"
        for r in g["rounds"]:
            r["sender_argument"] = LONG_ARGUMENT
            r["receiver"]["opinion"] = ("The evidence about replicated studies moves me a little. I am now closer to "
                                        "neutral, though I would like to see long-term effects.")
            r["receiver"]["question"] = "Are there studies that followed the effects for more than five years?"
        games.append(g)
    return games


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """(invite link, database, base url) of a `persuasion-rl annotate serve` process."""
    transcripts = write_jsonl(tmp_path / "games.jsonl", realistic_games())
    db = tmp_path / "study.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERSUASION_RL_ADMIN_TOKEN": ADMIN_TOKEN}
    cli = [sys.executable, "-m", "persuasion_rl.cli", "annotate"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    invited = subprocess.run([*cli, "invite", "--db", str(db), "--count", "2", "--base-url", base],
                             env=env, capture_output=True, text=True, check=True)
    link = invited.stdout.strip().splitlines()[-2].split("\t")[1]  # A001's link
    proc = subprocess.Popen([*cli, "serve", "--transcripts", str(transcripts), "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_up(base, proc)
        yield link, db, base
    finally:
        proc.send_signal(signal.SIGKILL)  # no graceful shutdown: committed answers must survive
        proc.wait(timeout=10)


def _wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            httpx.get(base + "/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start within 20 s")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in LAUNCH_FLAGS + [f"--user-data-dir={tmp_path / 'chrome-profile'}", "--window-size=1366,900"]:
        options.add_argument(flag)
    # The Debian driver, never a downloaded one (Selenium Manager is not consulted with a path).
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _choose(driver: webdriver.Chrome, name: str, value: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").find_element(By.XPATH, "..").click()


def _submit(driver: webdriver.Chrome, expected_url_part: str) -> None:
    """Press the form's button and wait for the next page (a click does not wait for it)."""
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: expected_url_part in d.current_url)


def _screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """Whole page, not just the viewport: through the DevTools protocol."""
    import base64

    data = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"})
    path.write_bytes(base64.b64decode(data["data"]))


def test_answer_a_transcript_in_chromium(server: tuple[str, Path, str], browser: webdriver.Chrome, tmp_path: Path) -> None:
    link, db, base = server
    browser.get(link)
    assert "/t/1/round/1" in browser.current_url
    assert "Transcript 1 of 3" in browser.find_element(By.CSS_SELECTOR, ".where").text
    shots = Path(os.environ.get("ANNOTATE_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    _screenshot(browser, shots / "round1.png")

    answers = [("yes", "5", "Moderate but sensible."), ("yes", "6", ""), ("no", "2", "It did not need to move.")]
    for number, (direction, proportion, why) in enumerate(answers, start=1):
        assert f"/t/1/round/{number}" in browser.current_url
        _choose(browser, "direction", direction)
        _choose(browser, "proportion", proportion)
        if why:
            browser.find_element(By.NAME, "explanation").send_keys(why)
        if number == 2:
            _screenshot(browser, shots / "round2.png")
        _submit(browser, f"/t/1/round/{number + 1}" if number < 3 else "/t/1/rate")

    _choose(browser, "quality", "6")
    _choose(browser, "confidence", "5")
    _screenshot(browser, shots / "rate.png")
    _submit(browser, "/t/2/round/1")
    assert "Transcript 2 of 3" in browser.find_element(By.CSS_SELECTOR, ".where").text

    # Reopening the link resumes at the first open question.
    browser.get(link)
    assert "/t/2/round/1" in browser.current_url
    _screenshot(browser, shots / "resume.png")

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT round, direction_ok, proportion, explanation FROM round_answers ORDER BY round").fetchall()
        rating = conn.execute("SELECT quality, confidence FROM ratings").fetchall()
    assert rows == [(1, 1, 5, "Moderate but sensible."), (2, 1, 6, ""), (3, 0, 2, "It did not need to move.")]
    assert rating == [(6, 5)]

    # The same numbers through the running server's admin export...
    summary = httpx.get(f"{base}/admin/export/summary.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert summary["overall"]["valid_annotations"] == 1
    # ... and through the export command.
    out = tmp_path / "export"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "persuasion_rl.cli", "annotate", "export", "--db", str(db), "--out", str(out),
                    "--admin-token", ADMIN_TOKEN], env=env, check=True, capture_output=True)
    with open(out / "answers.csv", newline="") as f:
        exported = list(csv.DictReader(f))
    assert [(r["round"], r["direction_reasonable"], r["proportion"], r["quality"]) for r in exported] == [
        ("1", "yes", "5", "6"), ("2", "yes", "6", "6"), ("3", "no", "2", "6")]
    rounds = json.loads((out / "summary.json").read_text())["overall"]["rounds"]
    assert [(r["label"], r["direction_accuracy"]["mean"], r["proportion"]["mean"]) for r in rounds] == [
        ("Round 0", 1.0, 5.0), ("Round 1", 1.0, 6.0), ("Round 2", 0.0, 2.0)]
