"""Store: migrations on open, WAL, forward migration of an old schema, nested transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from bot.core import store
from bot.core.errors import InputError


def test_open_creates_all_tables_in_wal(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "d")
    assert {"posts", "topics", "drafts", "publications", "runs", "adapters", "files"} <= set(db.table_names())
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    applied = [r["name"] for r in db["_migrations"].rows]
    assert applied == sorted(name for name, _ in store.MIGRATIONS)
    assert store.migrate(db) == []  # idempotent


def test_old_schema_is_migrated_forward_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "d"
    path.mkdir()
    old = sqlite_utils.Database(sqlite3.connect(path / store.DB_NAME, isolation_level=None, factory=store.Connection))
    old["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    first_name, first = sorted(store.MIGRATIONS)[0]
    with old.conn:
        first(old)
        old["_migrations"].insert({"name": first_name, "applied_at": store.now()})
    old["posts"].insert({"platform": "files", "source_id": "a", "title": "t", "body_markdown": "b",
                         "content_hash": "h"})
    old.close()
    db = store.open_db(path)
    assert "status" in db["posts"].columns_dict and "original_body" in db["drafts"].columns_dict
    (r,) = list(db["posts"].rows)
    assert r["source_id"] == "a" and r["status"] == "live"
    assert len(list(db["_migrations"].rows)) == len(store.MIGRATIONS)


def test_unique_platform_source_id(db) -> None:
    db["posts"].insert({"platform": "x", "source_id": "1", "body_markdown": "b", "content_hash": "h"})
    with pytest.raises(sqlite3.IntegrityError):
        db["posts"].insert({"platform": "x", "source_id": "1", "body_markdown": "c", "content_hash": "i"})


def test_nested_transaction_rolls_back_whole(db) -> None:
    with pytest.raises(RuntimeError):
        with db.conn:
            db["topics"].insert({"id": "a", "topic": "A"})
            with db.conn:  # sqlite-utils' own `with conn` inside ours must not commit early
                db["topics"].insert({"id": "b", "topic": "B"})
            raise RuntimeError("boom")
    assert db["topics"].count == 0


def test_failed_migration_leaves_nothing_half_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(d: sqlite_utils.Database) -> None:
        d["half"].create({"id": int}, pk="id")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, ("9999_broken", broken)])
    with pytest.raises(RuntimeError):
        store.open_db(tmp_path / "d")
    db = sqlite_utils.Database(tmp_path / "d" / store.DB_NAME)
    assert "half" not in db.table_names()
    assert "9999_broken" not in {r["name"] for r in db["_migrations"].rows}


def test_data_dir_not_writable(tmp_path: Path, cli) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        import os

        if os.access(target, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root); see test_data_dir_is_a_file")
        with pytest.raises(InputError, match="not writable"):
            store.open_db(target)
    finally:
        target.chmod(0o700)


def test_data_dir_is_a_file(tmp_path: Path, cli) -> None:
    (tmp_path / "data").write_text("not a folder")
    r = cli("status")
    assert r.code == 2
    assert "cannot create the data dir" in r.err


def test_quick_check_once_per_process_for_an_unchanged_store(tmp_path, monkeypatch):
    """The desk opens a connection per request: a sound store is checked once, and again only when its file
    changed on disk (a restore, damage from outside)."""
    import os

    from bot.core import store

    data = tmp_path / "qc"
    store.open_db(data).close()  # created (and checked) here
    calls = []
    real = store.check
    monkeypatch.setattr(store, "check", lambda conn, path: (calls.append(path), real(conn, path)))
    path = data / store.DB_NAME
    store.open_db(data).close()  # checked again if creating it changed the file after its check
    n = len(calls)
    for _ in range(3):  # unchanged since: no more checks
        store.open_db(data).close()
    assert len(calls) == n
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file changed since
    store.open_db(data).close()
    assert len(calls) == n + 1
