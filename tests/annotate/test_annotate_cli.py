"""The `persuasion-rl annotate` commands, and `serve` as a real process on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import standard_games, write_jsonl

from persuasion_rl.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_init_prints_the_admin_token_once_and_can_rotate(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    assert main(["annotate", "init", "--db", str(db)]) == 0
    token = capsys.readouterr().out.strip().split(": ")[-1]
    assert len(token) >= 30
    main(["annotate", "init", "--db", str(db)])
    assert "unchanged" in capsys.readouterr().out
    main(["annotate", "init", "--db", str(db), "--rotate-admin-token", "--admin-token", "chosen-token"])
    assert "chosen-token" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="admin token is wrong"):
        main(["annotate", "export", "--db", str(db), "--out", str(tmp_path / "o"), "--admin-token", token])
    assert main(["annotate", "export", "--db", str(db), "--out", str(tmp_path / "o"), "--admin-token", "chosen-token"]) == 0
    # Only the hash is stored.
    with sqlite3.connect(db) as conn:
        assert "chosen-token" not in str(conn.execute("SELECT * FROM meta").fetchall())


def test_invite_prints_one_link_per_annotator(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    main(["annotate", "invite", "--db", str(db), "--count", "45", "--base-url", "https://study.example/"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("admin token")  # a new database: its admin token is shown once
    links = [line.split("\t") for line in out[1:]]
    assert len(links) == 45 and links[0][0] == "A001" and links[-1][0] == "A045"
    assert all(url.startswith("https://study.example/a/") for _, url in links)
    assert len({url for _, url in links}) == 45
    main(["annotate", "invite", "--db", str(db), "--count", "2"])
    assert [line.split("\t")[0] for line in capsys.readouterr().out.strip().splitlines()] == ["A046", "A047"]
    with sqlite3.connect(db) as conn:
        stored = str(conn.execute("SELECT token_hash FROM annotators").fetchall())
    assert links[0][1].rsplit("/", 1)[1] not in stored


def test_export_needs_an_admin_token(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "s.sqlite"
    main(["annotate", "init", "--db", str(db), "--admin-token", "tok-123"])
    monkeypatch.delenv("PERSUASION_RL_ADMIN_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="needs the admin token"):
        main(["annotate", "export", "--db", str(db), "--out", str(tmp_path / "o")])
    monkeypatch.setenv("PERSUASION_RL_ADMIN_TOKEN", "tok-123")
    assert main(["annotate", "export", "--db", str(db), "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["overall"]["valid_annotations"] == 0
    with pytest.raises(SystemExit, match="no annotation database"):
        main(["annotate", "export", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "o")])


def test_serve_refuses_a_malformed_transcripts_file_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"game_id": "x"}\n')
    with pytest.raises(SystemExit) as info:
        main(["annotate", "serve", "--transcripts", str(bad), "--db", str(tmp_path / "s.sqlite")])
    assert f"{bad} line 1: field 'claim_id': missing" in str(info.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_loopback_and_nothing_lost_when_killed(tmp_path: Path) -> None:
    """A real uvicorn process: answers go in, the process is SIGKILLed, the answers remain."""
    transcripts = write_jsonl(tmp_path / "games.jsonl", standard_games())
    db = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERSUASION_RL_ADMIN_TOKEN": "adm"}
    cli = [sys.executable, "-m", "persuasion_rl.cli", "annotate"]
    port = _free_port()
    link = subprocess.run([*cli, "invite", "--db", str(db), "--count", "1", "--base-url", f"http://127.0.0.1:{port}"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip().split("\t")[-1]
    proc = subprocess.Popen([*cli, "serve", "--transcripts", str(transcripts), "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(timeout=5) as client:
            _wait(client, link, proc)
            page = client.get(link, follow_redirects=True)
            assert page.status_code == 200 and "Transcript 1 of 3" in page.text
            token = link.rsplit("/", 1)[1]
            game = page.text.split('name="game_id" value="')[1].split('"')[0]
            for number in (1, 2):
                r = client.post(f"{link}/answer", data={"game_id": game, "round": str(number), "direction": "yes",
                                                          "proportion": str(number + 3)})
                assert r.status_code == 303
    finally:
        proc.send_signal(signal.SIGKILL)
        output = proc.communicate(timeout=10)[0]
    assert token not in output  # the secret never reaches the server's log
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT round, proportion FROM round_answers ORDER BY round").fetchall() == [(1, 4), (2, 5)]


def _wait(client: httpx.Client, url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            client.get(url)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_a_new_token_never_starts_with_a_dash(monkeypatch, tmp_path: Path, capsys) -> None:
    """A token starting with "-" made ``--admin-token TOKEN`` an argparse error (exit 2)."""
    from persuasion_rl.annotate import storage

    drawn = iter(["-starts-like-an-option-xxxxxxxxxxxxxxxx", "fine-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    monkeypatch.setattr(storage.secrets, "token_urlsafe", lambda n: next(drawn))
    assert storage.new_token() == "fine-token-xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
