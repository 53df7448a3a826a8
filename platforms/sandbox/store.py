"""The sandbox's own SQLite: the posts published to the imitation platforms, and its login sessions."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
create table if not exists posts (
  id integer primary key, platform text not null, blog text not null, remote_id text not null,
  slug text, title text not null, content text not null, fmt text not null, tags text not null default '[]',
  category text, visibility text not null default 'public', created_at text not null
);
create unique index if not exists posts_remote on posts(platform, blog, remote_id);
create table if not exists sessions (token text primary key, platform text not null, user text not null,
  created_at text not null);
"""


class SandboxStore:
    """Thread-safe (one lock) store; `path=None` keeps it in memory."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = str(path) if path else ":memory:"
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(SCHEMA)
        self.real_path = os.path.realpath(self.path) if path else None  # what other processes compare with
        self._inode = os.stat(self.path).st_ino if path else None

    def current(self) -> bool:
        """Is the file this store opened still at its path? False once it was deleted or replaced (a removed data
        dir): the open connection then keeps serving a copy that nobody else can see."""
        if self._inode is None:
            return True
        try:
            return os.stat(self.path).st_ino == self._inode
        except OSError:
            return False

    def _q(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    # -- posts --------------------------------------------------------------------------------------------------
    def add_post(self, platform: str, blog: str, title: str, content: str, fmt: str, tags: list[str] | None = None,
                 category: str | None = None, visibility: str = "public", slug: str | None = None,
                 remote_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            n = self.conn.execute("select count(*) from posts where platform=? and blog=?",
                                  (platform, blog)).fetchone()[0]
            if remote_id is None:
                remote_id = str(223000000000 + n + 1) if platform == "naver" else str(n + 1)
            if slug:
                base, i = slug, 1
                while self.conn.execute("select 1 from posts where platform=? and blog=? and slug=?",
                                        (platform, blog, slug)).fetchone():
                    i += 1
                    slug = f"{base}-{i}"
            self.conn.execute(
                "insert into posts(platform, blog, remote_id, slug, title, content, fmt, tags, category, visibility,"
                " created_at) values (?,?,?,?,?,?,?,?,?,?,?)",
                (platform, blog, remote_id, slug, title, content, fmt, json.dumps(tags or [], ensure_ascii=False),
                 category, visibility, datetime.now(UTC).isoformat(timespec="seconds")))
        return self.get(platform, blog, remote_id=remote_id)  # type: ignore[return-value]

    def next_remote_id(self, platform: str, blog: str) -> str:
        n = self._q("select count(*) n from posts where platform=? and blog=?", (platform, blog))[0]["n"]
        return str(223000000000 + n + 1) if platform == "naver" else str(n + 1)

    def get(self, platform: str, blog: str, remote_id: str | None = None, slug: str | None = None) -> dict | None:
        col, val = ("remote_id", remote_id) if remote_id is not None else ("slug", slug)
        rows = self._q(f"select * from posts where platform=? and blog=? and {col}=?", (platform, blog, val))
        return _decode(rows[0]) if rows else None

    def posts(self, platform: str | None = None, blog: str | None = None, include_private: bool = False,
              limit: int = 1000) -> list[dict[str, Any]]:
        sql, args = "select * from posts where 1=1", []
        if platform:
            sql, args = sql + " and platform=?", [*args, platform]
        if blog:
            sql, args = sql + " and blog=?", [*args, blog]
        if not include_private:
            sql += " and visibility='public'"
        return [_decode(r) for r in self._q(sql + " order by id desc limit ?", (*args, limit))]

    def count(self, platform: str | None = None) -> int:
        if platform:
            return self._q("select count(*) n from posts where platform=?", (platform,))[0]["n"]
        return self._q("select count(*) n from posts")[0]["n"]

    # -- sessions -----------------------------------------------------------------------------------------------
    def new_session(self, platform: str, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.conn.execute("insert into sessions values (?,?,?,?)",
                              (token, platform, user, datetime.now(UTC).isoformat(timespec="seconds")))
        return token

    def session_user(self, platform: str, token: str | None) -> str | None:
        if not token:
            return None
        rows = self._q("select user from sessions where token=? and platform=?", (token, platform))
        return rows[0]["user"] if rows else None

    def expire_sessions(self, platforms: list[str] | None = None) -> None:
        with self.lock:
            if platforms is None:
                self.conn.execute("delete from sessions")
            else:
                self.conn.executemany("delete from sessions where platform = ?", [(p,) for p in platforms])


def _decode(r: dict[str, Any]) -> dict[str, Any]:
    r["tags"] = json.loads(r["tags"] or "[]")
    return r
