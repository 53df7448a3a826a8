"""`blogbot login` (no display, --from-file, --check), `blogbot publish` on the in-process sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platforms import load_config
from platforms.sandbox.app import make_app
from platforms.sandbox.server import serve
from platforms.sandbox.store import SandboxStore
from platforms.sandbox.target import storage_state
from platforms.sandbox.urls import for_driver, yaml_urls

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)")


def test_login_without_display_says_how(cli, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = cli("login", "tistory")
    assert r.code == 2
    assert "no display" in r.err and "sessions/tistory.json" in r.err and "--check" in r.err


def test_login_unknown_platform(cli):
    r = cli("login", "myspace", "--check")
    assert r.code == 2 and "known: naver, tistory, velog" in r.err


def test_login_from_file_installs_0600(cli, tmp_path):
    src = tmp_path / "state.json"
    src.write_text(json.dumps({"cookies": [{"name": "a", "value": "b", "domain": "x", "path": "/"}], "origins": []}))
    r = cli("login", "naver", "--from-file", src)
    assert r.code == 0, r.err
    dest = tmp_path / "data" / "sessions" / "naver.json"
    assert (dest.stat().st_mode & 0o777) == 0o600 and json.loads(dest.read_text())["cookies"][0]["value"] == "b"
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert cli("login", "naver", "--from-file", bad).code == 2


def test_check_without_session(cli):
    r = cli("login", "velog", "--check")
    assert r.code == 1 and "blogbot login velog" in r.err


@pytest.mark.slow
@needs_chromium
def test_login_flow_saves_the_session_without_the_password(cfg, tmp_path):
    """The person's part (typing into the login page) is played by the test; the browser runs headless here."""
    from platforms import session
    from platforms.sandbox.app import DEFAULT_PASSWORD

    app = make_app(SandboxStore())
    base, server = serve(app)
    try:
        cfg.publish.naver.urls, cfg.publish.naver.account = for_driver("naver", base), "me"

        def person(prompt: str, page) -> None:
            assert "Sign in to naver" in prompt
            page.fill("#id", "me")
            page.fill("#pw", DEFAULT_PASSWORD)
            page.click(".btn_login")
            page.wait_for_url(lambda u: "nidlogin" not in u)

        path = session.login(cfg, "naver", wait=person, headless=True)
        assert (path.stat().st_mode & 0o777) == 0o600
        assert DEFAULT_PASSWORD not in path.read_text() and "NID_AUT" in path.read_text()
        ok, msg = session.check(cfg, "naver")
        assert ok, msg
    finally:
        server.shutdown()


@pytest.mark.slow
@needs_chromium
def test_check_reports_valid_then_expired(cli, tmp_path):
    app = make_app(SandboxStore())
    base, server = serve(app)
    try:
        (tmp_path / "config.yaml").write_text(
            f"data_dir: data\nbrowser: {{timeout_ms: 3000}}\n"
            f"publish:\n  tistory: {{urls: {yaml_urls('tistory', base)}, account: me}}\n")
        from platforms.session import save_state

        c = load_config(tmp_path / "config.yaml")
        save_state(c, "tistory", storage_state(base, "tistory", "me"))
        import os
        import time

        from bot.core import ledger
        from bot.core.store import open_db
        from platforms.browser import session_path

        os.utime(session_path(c, "tistory"), (0, 0))  # saved long ago; then a publication met the login page
        db = open_db(c.data_path)
        ledger.mark_needs_login(db, 1, "tistory", "captcha shown",
                                at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60)))
        assert json.loads(cli("status", "--json").out)["needs_login"] == ["tistory"]
        r = cli("login", "tistory", "--check")
        assert r.code == 0 and "works" in r.out
        assert json.loads(cli("status", "--json").out)["needs_login"] == []  # ... and checked good since
        app.config["STORE"].expire_sessions()
        r = cli("login", "tistory", "--check")
        assert r.code == 1 and "blogbot login tistory" in r.err
    finally:
        server.shutdown()


@pytest.mark.slow
@needs_chromium
def test_publish_command_on_the_default_sandbox_target(cli, cfg, db):
    from bot.core import drafts

    g = drafts.Generation(title="CLI 발행", body_markdown="명령줄에서 발행한 글입니다.", tags=[], adapter_version=None,
                          base_model="t", params={}, duration_s=1, new_tokens=1)
    d = drafts.create(db, cfg, None, g)
    drafts.set_status(db, d, "approved")
    r = cli("publish", "--dry-run")
    assert r.code == 0 and "dry_run=1" in r.out
    r = cli("publish", str(d))
    assert r.code == 0, r.err
    assert "published=1" in r.out and f"draft {d} sandbox: published http://127.0.0.1:" in r.out
    import httpx

    url = r.out.strip().split()[-1]
    assert "명령줄에서 발행한 글입니다" in httpx.get(url).text


def test_sandbox_detach_answers_then_is_reused(cli, tmp_path):
    import os
    import signal
    import socket

    from platforms.sandbox.target import answers

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "sb" / "sandbox.db"
    r = cli("sandbox", "--port", port, "--db", db, "--detach")
    pid = int((db.parent / "sandbox.pid").read_text())
    try:
        assert r.code == 0, r.err
        assert answers(f"http://127.0.0.1:{port}")
        again = cli("sandbox", "--port", port, "--db", db, "--detach")
        assert again.code == 0 and "already running" in again.out
        other = cli("sandbox", "--port", port, "--db", tmp_path / "other" / "sandbox.db", "--detach")
        assert other.code != 0 and f"port {port} is taken by the sandbox of pid {pid}" in other.err, other.err
        assert f"kill {pid}" in other.err
    finally:
        os.kill(pid, signal.SIGTERM)


def test_sandbox_detach_replaces_one_left_serving_a_deleted_database(cli, tmp_path):
    """`rm -rf data/demo` with the demo's sandbox still running: the next `--detach` stops the stale server and
    serves the new file, and the publish target no longer reuses a sandbox of a deleted database."""
    import os
    import shutil
    import signal
    import socket

    import httpx

    from platforms.sandbox.target import info, serves

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "sb" / "sandbox.db"
    assert cli("sandbox", "--port", port, "--db", db, "--detach").code == 0
    first = int((db.parent / "sandbox.pid").read_text())
    pids = [first]
    try:
        assert serves(info(base), db) and info(base)["standalone"]
        shutil.rmtree(db.parent)
        assert info(base)["db_current"] is False and not serves(info(base), db)
        r = cli("sandbox", "--port", port, "--db", db, "--detach")
        assert r.code == 0, r.err
        second = int((db.parent / "sandbox.pid").read_text())
        pids.append(second)
        assert "stopping the sandbox of pid" in r.out and second != first
        assert info(base)["pid"] == second and serves(info(base), db) and db.exists()
        assert httpx.get(base + "/_sandbox/count").json()["count"] == 0
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_in_process_sandbox_does_not_reuse_one_serving_another_database(tmp_path, monkeypatch):
    import socket

    from bot.core.config import Config
    from platforms.sandbox import target
    from platforms.sandbox.app import make_app
    from platforms.sandbox.server import serve
    from platforms.sandbox.store import SandboxStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    other_base, other = serve(make_app(SandboxStore(tmp_path / "other.db"), standalone=True), port=port)
    monkeypatch.setattr(target, "DEFAULT_PORT", port)
    monkeypatch.setattr(target, "_SERVED", {})
    try:
        cfg = Config(data_dir=tmp_path / "data")
        base = target.in_process(cfg)
        assert base != other_base
        assert target.serves(target.info(base), cfg.data_path / "sandbox" / "sandbox.db")
        assert target.in_process(cfg) == base  # once per process
        mine = Config(data_dir=tmp_path / "mine")
        mine_base, mine_server = serve(make_app(SandboxStore(mine.data_path / "sandbox" / "sandbox.db")), port=0)
        monkeypatch.setattr(target, "DEFAULT_PORT", int(mine_base.rsplit(":", 1)[1]))
        try:
            assert target.in_process(mine) == mine_base  # one serving this data dir's database is reused
        finally:
            mine_server.shutdown()
    finally:
        other.shutdown()


@pytest.mark.slow
@needs_chromium
def test_publish_exits_1_when_every_publication_needs_a_login(cli, tmp_path, sandbox):
    from bot.core import drafts
    from bot.core.store import open_db

    (tmp_path / "config.yaml").write_text(
        "data_dir: data\nbrowser: {timeout_ms: 4000, navigation_timeout_ms: 3000, overlay_wait_ms: 500}\npublish:\n"
        f"  tistory: {{enabled: true, base_url: '{sandbox.base}', account: nobody, min_interval_minutes: 0, "
        "jitter_minutes: 0}\n", encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml")
    db = open_db(cfg.data_path)
    assert json.loads(cli("status", "--json").out)["needs_login"] == ["tistory"]  # known before the first publish
    g = drafts.Generation(title="로그인 없이", body_markdown="세션이 없으면 올라가지 않는다.", tags=[],
                          adapter_version=None, base_model="t", params={}, duration_s=1, new_tokens=1)
    d = drafts.create(db, cfg, None, g, platforms=["tistory"])
    drafts.set_status(db, d, "approved")
    r = cli("publish")
    assert r.code == 1 and "tistory needs a login: run `blogbot login tistory`" in r.err, (r.out, r.err)
    assert "needs_login=1" in r.out
    status, counts = db.execute("select status, counts from runs where job = 'publish' order by id desc").fetchone()
    assert status == "failed" and json.loads(counts) == {"needs_login": 1}  # never "ok" with nothing out
    assert sandbox.store.posts("tistory", "nobody", include_private=True) == []


def test_sandbox_on_a_taken_port_is_a_clear_error(cli, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("sandbox", "--port", port, "--db", tmp_path / "sandbox.db")
    assert r.code == 2 and f"port {port} on 127.0.0.1 is in use" in r.err and "another --port" in r.err
