"""The state store: one SQLite file under the data dir, opened through sqlite-utils, migrated on every open."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.core.clock import now
from bot.core.errors import InputError, disk_full

DB_NAME = "blogbot.db"

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(name: str) -> Callable[[Migration], Migration]:
    """Register a numbered migration. Names sort in the order they must run ("0001_initial", ...)."""

    def deco(fn: Migration) -> Migration:
        MIGRATIONS.append((name, fn))
        return fn

    return deco


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def loads(value: str | None, default: Any = None) -> Any:
    if value in (None, ""):
        return default
    return json.loads(value)


@migration("0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db["posts"].create(
        {
            "id": int, "platform": str, "source_id": str, "url": str, "title": str, "body_markdown": str,
            "published_at": str, "tags": str, "category": str, "content_hash": str, "fetched_at": str,
        },
        pk="id",
        not_null={"platform", "source_id", "body_markdown", "content_hash"},
    )
    db["posts"].create_index(["platform", "source_id"], unique=True)
    db["topics"].create(
        {
            "id": str, "topic": str, "tags": str, "platforms": str, "not_before": str, "notes": str,
            "state": str, "position": int, "first_seen": str, "updated_at": str, "in_file": int,
        },
        pk="id",
        defaults={"state": "queued", "in_file": 1},
    )
    db["drafts"].create(
        {
            "id": int, "topic_id": str, "topic": str, "title": str, "body_markdown": str, "tags": str,
            "adapter_version": str, "base_model": str, "params": str, "duration_s": float, "new_tokens": int,
            "tokens_per_s": float, "status": str, "created_at": str, "updated_at": str, "outbox_path": str,
        },
        pk="id",
    )
    db["publications"].create(
        {
            "id": int, "draft_id": int, "platform": str, "idempotency_key": str, "state": str, "url": str,
            "remote_id": str, "created_at": str, "updated_at": str, "attempts": int, "error": str,
            "artifacts": str,
        },
        pk="id",
        defaults={"attempts": 0},
    )
    db["publications"].create_index(["idempotency_key"], unique=True)
    db["runs"].create(
        {
            "id": int, "job": str, "started_at": str, "finished_at": str, "status": str, "counts": str,
            "error": str, "details": str, "pid": int,
        },
        pk="id",
    )
    db["adapters"].create(
        {
            "version": str, "created_at": str, "path": str, "base_model": str, "data_hash": str, "status": str,
            "metrics": str, "reason": str, "run_id": int,
        },
        pk="version",
    )


@migration("0002_post_state_and_files")
def _post_state(db: sqlite_utils.Database) -> None:
    posts = db["posts"]
    posts.add_column("status", str, not_null_default="live")  # live | deleted | private
    posts.add_column("updated_at", str)
    posts.add_column("etag", str)
    posts.add_column("last_modified", str)
    posts.add_column("origin", str)  # the file path or URL the post was read from
    posts.create_index(["content_hash"])
    db["files"].create(
        {"path": str, "size": int, "mtime_ns": int, "file_hash": str, "source_id": str, "seen_at": str},
        pk="path",
    )
    db["drafts"].add_column("original_body", str)
    db["drafts"].add_column("review_reason", str)
    db["drafts"].add_column("score", str)
    db["drafts"].add_column("gates", str)
    db["drafts"].add_column("publish_key", str)
    db["runs"].create_index(["job", "started_at"])


@migration("0003_adapter_activation")
def _adapter_activation(db: sqlite_utils.Database) -> None:
    db["adapters"].add_column("activated_at", str)  # when it last became active (rollback picks the latest)


@migration("0004_crawl_state")
def _crawl_state(db: sqlite_utils.Database) -> None:
    # What each listing entry of a configured source maps to: incremental stops, deletions on a full crawl.
    db["crawl_refs"].create(
        {"platform": str, "account": str, "ref_id": str, "url": str, "post_source_id": str, "hint": str,
         "etag": str, "last_modified": str, "outcome": str, "seen_at": str},
        pk=("platform", "account", "ref_id"),
    )


@migration("0007_schedule_state")
def _schedule_state(db: sqlite_utils.Database) -> None:
    # One row per scheduled job: when it last fired and how that ended (catch-up after downtime, `blogbot jobs`).
    db["schedule_state"].create(
        {"job": str, "last_fire": str, "last_end": str, "last_status": str, "last_error": str, "pid": int},
        pk="job",
    )


@migration("0008_draft_targets")
def _draft_targets(db: sqlite_utils.Database) -> None:
    # A draft's target platforms, decided once when it is written (its topic's `platforms`, else the defaults).
    db["drafts"].add_column("platforms", str)
    db.execute("update drafts set platforms = (select t.platforms from topics t where t.id = drafts.topic_id) "
               "where topic_id is not null")
    # The weekly retune is the `tune` job under one name everywhere.
    db.execute("update schedule_state set job = 'tune' where job = 'retune'")


@migration("0009_publication_owner")
def _publication_owner(db: sqlite_utils.Database) -> None:
    # Who holds a `publishing` row: a live owner's row is never taken for a crash leftover.
    for col in ("owner_pid", "owner_host", "heartbeat_at"):
        db["publications"].add_column(col, int if col == "owner_pid" else str)


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction. Returns the names applied."""
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {r["name"] for r in db["_migrations"].rows}
    applied = []
    for name, fn in sorted(MIGRATIONS):
        if name in done:
            continue
        with db.conn:
            fn(db)
            db["_migrations"].insert({"name": name, "applied_at": now()})
        applied.append(name)
    return applied


class Connection(sqlite3.Connection):
    """A connection whose `with conn:` blocks nest: the outermost one is the transaction (BEGIN IMMEDIATE ...
    COMMIT, or ROLLBACK on error); inner ones, including sqlite-utils' own, join it instead of committing early."""

    _depth = 0

    def __enter__(self) -> Connection:
        if self._depth == 0:
            self.execute("BEGIN IMMEDIATE")
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._depth -= 1
        if self._depth == 0:
            if exc_type:
                if self.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                    self.execute("ROLLBACK")
                return False
            try:
                self.execute("COMMIT")
            except sqlite3.Error:  # e.g. the disk filled up at commit: nothing of the transaction stays
                if self.in_transaction:
                    self.execute("ROLLBACK")
                raise
        return False


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create the data dir: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{path}: the data dir is not writable")
    return path


def open_db(data_dir: Path) -> sqlite_utils.Database:
    """Open (creating if needed) the store in data_dir: WAL mode, foreign keys on, migrations applied."""
    ensure_writable_dir(data_dir)
    path = data_dir / DB_NAME
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False, factory=Connection)
        conn.execute("PRAGMA busy_timeout = 30000")
        if _unchecked(path):
            check(conn, path)  # before anything is written
            _CHECKED.add(_stamp(path))
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("PRAGMA synchronous = normal")
        db = sqlite_utils.Database(conn)
        migrate(db)
    except sqlite3.DatabaseError as exc:
        if disk_full(exc):
            raise InputError(f"{path}: cannot open the database: the disk is full or not writable ({exc}); "
                             "free some space and run the command again") from None
        raise InputError(f"{path}: cannot open the database: {exc}") from None
    return db


_CHECKED: set[tuple[str, int, int]] = set()  # (path, size, mtime) of store files found sound in this process


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (str(path), -1, -1)
    return (str(path), st.st_size, st.st_mtime_ns)


def _unchecked(path: Path) -> bool:
    """Is a quick_check due? Once per process for a store file as it is on disk: the desk and the scheduler open a
    connection per request or thread, and checking a large store each time would cost seconds; a file changed
    since (a restore, damage from outside) is checked again."""
    return _stamp(path) not in _CHECKED


def check(conn: sqlite3.Connection, path: Path) -> None:
    """PRAGMA quick_check: a store with damaged pages is refused before anything reads or writes it."""
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if disk_full(exc):
            raise
        problems = [str(exc)]
    if problems != ["ok"]:
        conn.close()
        lines = [ln.strip() for p in problems for ln in p.splitlines() if ln.strip() and "***" not in ln]
        raise InputError(
            f"{path}: the database is damaged ({'; '.join(lines[:2])[:200]}); nothing was written. Restore a "
            f"backup with `blogbot restore FILE` (made by `blogbot backup FILE`), or move {path.name} aside to "
            "start empty; `sqlite3 blogbot.db .recover` may save what is readable")


def backup(db: sqlite_utils.Database, dest: Path) -> int:
    """Copy the store to `dest` with SQLite's online backup API (consistent while other processes write);
    written beside `dest` first, checked, then moved into place. Returns its size in bytes."""
    dest = dest.expanduser().resolve()
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        out = sqlite3.connect(tmp)
        try:
            db.conn.backup(out, pages=1024)
            if out.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise InputError(f"{dest}: the copy did not check out; the store was left as it is")
            out.execute("PRAGMA journal_mode = delete")
        finally:
            out.close()
        os.replace(tmp, dest)
    except (sqlite3.Error, OSError) as exc:  # e.g. the backup's disk is full: no half-written backup left behind
        tmp.unlink(missing_ok=True)
        raise InputError(f"{dest}: the backup could not be written ({type(exc).__name__}: {exc}); the store was "
                         "left as it is") from None
    return dest.stat().st_size


def restore(data_dir: Path, src: Path) -> Path:
    """Replace the store in data_dir by the backup `src` (checked first: a damaged or foreign file is refused);
    the store it replaces is kept as blogbot.db.before-restore. Returns the store's path."""
    src = src.expanduser().resolve()
    if not src.is_file():
        raise InputError(f"{src}: file not found")
    try:
        conn = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{src}: not a blogbot backup ({exc})") from None
    if ok != "ok":
        raise InputError(f"{src}: the backup is damaged ({ok}); nothing was changed")
    if not {"_migrations", "posts", "drafts", "publications"} <= tables:
        raise InputError(f"{src}: not a blogbot backup (no posts/drafts/publications tables); nothing was changed")
    ensure_writable_dir(data_dir)
    path = data_dir / DB_NAME
    tmp = data_dir / f".{DB_NAME}.restore"
    tmp.unlink(missing_ok=True)
    s_conn, d_conn = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(tmp)
    try:
        s_conn.backup(d_conn)
    finally:
        s_conn.close()
        d_conn.close()
    if path.exists():
        try:
            with sqlite3.connect(path) as old:  # fold the WAL in, so the kept copy is whole in one file
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:  # a damaged store (the reason to restore) is kept as it is, WAL and all
            for suffix in ("-wal", "-shm"):
                if (data_dir / f"{DB_NAME}{suffix}").exists():
                    os.replace(data_dir / f"{DB_NAME}{suffix}", data_dir / f"{DB_NAME}.before-restore{suffix}")
        os.replace(path, data_dir / f"{DB_NAME}.before-restore")
    for suffix in ("-wal", "-shm"):
        (data_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    return path


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """All writes inside happen or none do."""
    with db.conn:
        yield db


def row(db: sqlite_utils.Database, sql: str, params: tuple | dict = ()) -> dict | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None
