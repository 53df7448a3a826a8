"""The store cannot lie: a damaged file is refused before anything is written, a full disk during ingest leaves
the store exactly as before with a one-line error, backup (online, while another process writes) and restore."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core import store
from bot.core.errors import InputError
from bot.core.store import DB_NAME, open_db

ROOT = Path(__file__).resolve().parents[1]


def _digest(data_dir: Path) -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in data_dir.glob(f"{DB_NAME}*")):
        h.update(name.encode() + (data_dir / name).read_bytes())
    return h.hexdigest()


def _filled(cfg, n: int = 400) -> Path:
    db = open_db(cfg.data_path)
    db["posts"].insert_all({"platform": "files", "source_id": f"s{i}", "body_markdown": "본문 " * 50 + str(i),
                            "content_hash": f"h{i}", "title": f"글 {i}"} for i in range(n))
    db.execute("pragma wal_checkpoint(truncate)")
    db.close()
    return cfg.data_path / DB_NAME


def _corrupt_inner_page(path: Path) -> None:
    """Overwrite the middle of a page deep inside the file (not the header): 'database disk image is malformed'."""
    con = sqlite3.connect(path)
    page, count = con.execute("pragma page_size").fetchone()[0], con.execute("pragma page_count").fetchone()[0]
    con.close()
    with open(path, "r+b") as fh:
        fh.seek(page * (count // 2) + 16)
        fh.write(b"\xff" * (page - 32))


def test_damaged_store_is_refused_and_untouched(cfg, cli):
    path = _filled(cfg)
    _corrupt_inner_page(path)
    before = _digest(cfg.data_path)
    with pytest.raises(InputError, match=r"damaged .*nothing was written.*blogbot restore"):
        open_db(cfg.data_path)
    for cmd in (("status",), ("ingest", "."), ("publish",)):
        r = cli(*cmd)
        assert r.code == 2 and "damaged" in r.err and "Traceback" not in r.err, (cmd, r.err)
    assert _digest(cfg.data_path) == before  # nothing written


def test_full_disk_during_ingest_leaves_the_store_as_before(cfg, tmp_path, monkeypatch, cli):
    db = open_db(cfg.data_path)
    db["posts"].insert({"platform": "files", "source_id": "old", "body_markdown": "예전 글", "content_hash": "h0"})
    runs_before = db["runs"].count
    db.close()
    src = tmp_path / "in"
    src.mkdir()
    for i in range(300):
        (src / f"{i:04d}.md").write_text(f"---\ntitle: 글 {i}\n---\n" + f"본문 {i} 입니다. " * 60, encoding="utf-8")
    real_open = store.open_db

    def small_disk(data_dir):  # SQLite's own "database or disk is full" once the file would pass its limit
        d = real_open(data_dir)
        pages = d.execute("pragma page_count").fetchone()[0]
        d.execute(f"pragma max_page_count = {pages + 40}")
        return d

    monkeypatch.setattr(store, "open_db", small_disk)
    r = cli("ingest", str(src))
    assert r.code == 1 and "full or not writable" in r.err and "nothing of this ingest was kept" in r.err
    assert "Traceback" not in r.err and [ln for ln in r.err.splitlines() if "error:" in ln][0].endswith("again")
    monkeypatch.setattr(store, "open_db", real_open)
    db = open_db(cfg.data_path)
    assert [p["source_id"] for p in db["posts"].rows] == ["old"] and db["files"].count == 0
    assert db["runs"].count == runs_before  # not even a half-written run row
    db.close()
    assert cli("ingest", str(src)).code == 0  # with room again, the whole run goes in
    db = open_db(cfg.data_path)
    assert db["posts"].count == 301


def test_backup_while_another_process_writes_and_restore(cfg, tmp_path, cli):
    _filled(cfg, 200)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
        "from bot.core.store import open_db; db = open_db(Path(sys.argv[1])); print('ready', flush=True)\n"
        "for i in range(100000):\n"
        "    db['posts'].insert({'platform': 'w', 'source_id': str(i), 'body_markdown': 'x' * 500, "
        "'content_hash': str(i)})\n"), str(cfg.data_path), str(ROOT)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"ready"
        r = cli("backup", str(tmp_path / "b.db"))
        assert r.code == 0, r.err
    finally:
        writer.kill()
        writer.wait()
    con = sqlite3.connect(tmp_path / "b.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    n_backup = con.execute("select count(*) from posts").fetchone()[0]
    con.close()
    assert n_backup >= 200
    _corrupt_inner_page(cfg.data_path / DB_NAME)  # then the store is damaged ...
    assert cli("status").code == 2
    r = cli("restore", str(tmp_path / "b.db"), "--yes")  # ... and the backup put back
    assert r.code == 0, r.err
    assert (cfg.data_path / f"{DB_NAME}.before-restore").exists()
    db = open_db(cfg.data_path)
    assert db["posts"].count == n_backup
    assert cli("status").code == 0


def test_restore_refuses_what_is_not_a_backup(cfg, tmp_path, cli):
    _filled(cfg, 5)
    before = _digest(cfg.data_path)
    (tmp_path / "junk.db").write_bytes(os.urandom(8192))
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("create table t (x)")
    other.commit()
    other.close()
    for f in ("junk.db", "other.db", "missing.db"):
        r = cli("restore", str(tmp_path / f), "--yes")
        assert r.code == 2 and str(tmp_path / f) in r.err, r.err
    assert _digest(cfg.data_path) == before


def test_backup_that_cannot_be_written_leaves_nothing_behind(cfg, tmp_path, cli, monkeypatch):
    import errno

    _filled(cfg, 5)
    r = cli("backup", str(tmp_path / "nope" / "b.db"))
    assert r.code == 2 and "no such folder" in r.err

    def full(*a):  # the backup's disk fills up as the copy is put in place
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    r = cli("backup", str(tmp_path / "b.db"))
    assert r.code == 2 and "could not be written (OSError" in r.err and "No space left" in r.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".db", ".partial"))) == []
