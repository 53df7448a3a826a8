"""The review desk (bot/shell/desk) through Flask's test client: the token gate, CSRF, the pages in Korean and
English, the draft actions, the queue's round trip through topics.yaml, the run log, status and login upload."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.core import drafts, topics
from bot.core.records import Generation
from bot.core.runlog import job_run, setup_logging
from bot.shell.desk.app import make_app

TOKEN = "test-token-123"
QUEUE = "# 내 글감\n\n# 빵 이야기\n- 망원동 빵집 지도 만들기  # 첫 글\n# 봄 글\n- topic: 봄 산책\n  tags: [봄]\n"


def make_draft(cfg, db, title="봄 산책", body="첫 문단입니다.\n\n## 소제목\n\n둘째 문단.", status="pending_review",
               platforms=("naver", "tistory", "velog")) -> int:
    gen = Generation(title=title, body_markdown=body, tags=["산책"], adapter_version="v1", base_model="fake",
                     params={}, duration_s=1.0, new_tokens=10)
    did = drafts.create(db, cfg, {"id": "t1", "topic": "봄 산책"}, gen, platforms=list(platforms))
    drafts.set_status(db, did, status, "gates failed: length")
    drafts.set_score(db, did, {"fidelity": 0.71, "fidelity_plain": 0.7, "reliable": True},
                     [{"name": "length", "passed": False, "detail": "too short"},
                      {"name": "repetition", "passed": True, "detail": "ok"}])
    return did


@pytest.fixture
def client(cfg):
    c = make_app(cfg, TOKEN).test_client()
    r = c.get(f"/drafts?token={TOKEN}")
    assert r.status_code == 302 and r.headers["Location"] == "/drafts"  # the token leaves the address bar
    return c


def csrf(client, path="/drafts") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def text(resp) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def test_token_gate_and_csrf(cfg, db):
    did = make_draft(cfg, db)
    c = make_app(cfg, TOKEN).test_client()
    for path in ("/", "/drafts", f"/drafts/{did}", "/queue", "/runs", "/status", "/static/desk.css"):
        r = c.get(path)
        assert r.status_code == 403 and "token" in r.get_data(as_text=True), path
    assert c.get("/drafts?token=wrong").status_code == 403
    assert c.post(f"/drafts/{did}/approve").status_code == 403
    assert c.get(f"/drafts?token={TOKEN}").status_code == 302
    assert c.get("/drafts").status_code == 200  # the cookie now
    assert c.post(f"/drafts/{did}/approve").status_code == 403  # no CSRF token
    assert c.post(f"/drafts/{did}/approve", data={"csrf": "x" * 64}).status_code == 403
    good = csrf(c)
    assert c.post(f"/drafts/{did}/approve", data={"csrf": good},
                  headers={"Origin": "http://evil.example"}).status_code == 403
    assert drafts.get(db, did)["status"] == "pending_review"
    assert c.post(f"/drafts/{did}/approve", data={"csrf": good}).status_code == 302
    assert drafts.get(db, did)["status"] == "approved"
    other = make_app(cfg, "another-token").test_client()  # a cookie of another desk's token is refused
    name = "blogbot_desk_default"  # the test client's host has no port
    other.set_cookie(name, c.get_cookie(name).value)
    assert other.get("/drafts").status_code == 403


def test_korean_by_default_english_selectable(cfg, db, client):
    make_draft(cfg, db)
    page = text(client.get("/drafts"))
    assert "검토 대기" in page and "초안" in page and "Waiting for review" not in page
    r = client.post("/lang", data={"csrf": csrf(client), "lang": "en", "next": "/drafts"})
    assert r.status_code == 302 and r.headers["Location"] == "/drafts"
    page = text(client.get("/drafts"))
    assert "Waiting for review" in page and "검토 대기" not in page
    r = client.post("/lang", data={"csrf": csrf(client), "lang": "ko", "next": "https://evil.example/"})
    assert r.headers["Location"] == "/drafts"  # no redirect off the desk


def test_draft_page_previews_gates_and_no_external_requests(cfg, db, client):
    body = "첫 문단입니다.\n\n## 소제목\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>x</script>"
    did = make_draft(cfg, db, body=body)
    html = client.get(f"/drafts/{did}").get_data(as_text=True)
    for plat in ("naver", "tistory", "velog"):
        assert f'data-platform="{plat}"' in html
    assert "<h2>소제목</h2>" in html and "<table>" in html  # the HTML the publishers send
    assert "<script>x</script>" not in html  # raw HTML in a draft is escaped, as when published
    assert 'data-gate="length"' in html and "too short" in html and "71%" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # every asset is the desk's own


def test_edit_keeps_original_rescores_and_shows_diff(cfg, db, client, monkeypatch):
    did = make_draft(cfg, db)
    import bot.voice.style

    seen = []

    def fake_check(cfg_, db_, d, **_kw):  # scoring is tested on its own; here: it is called on the edit
        seen.append(d["body_markdown"])
        return {"score": {"fidelity": 0.93, "fidelity_plain": 0.9, "reliable": True},
                "gates": [{"name": "length", "passed": True, "detail": "long enough"}], "passed": True}

    monkeypatch.setattr(bot.voice.style, "check_draft", fake_check)
    edited = "# 봄 산책\n\n고친 첫 문단.\n\n둘째 문단."
    r = client.post(f"/drafts/{did}/edit", data={"csrf": csrf(client), "text": edited})
    assert r.status_code == 302
    d = drafts.get(db, did)
    assert d["body_markdown"] == "고친 첫 문단.\n\n둘째 문단." and "첫 문단입니다." in d["original_body"]
    assert seen == ["고친 첫 문단.\n\n둘째 문단."] and d["score"]["fidelity"] == 0.93
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "93%" in html and "저장하고 다시 채점했습니다" in html
    assert "수정 전: style 71%" in html  # review.rescore keeps the score before the edit
    assert '<span class="dadd">+고친 첫 문단.</span>' in html and '<span class="ddel">-첫 문단입니다.</span>' in html
    r = client.post(f"/drafts/{did}/edit", data={"csrf": csrf(client), "text": "no title line"})
    assert r.status_code == 400 and "# Title" in r.get_data(as_text=True)
    r = client.post("/preview", data={"text": "# 제목\n\n**굵게**"}, headers={"X-CSRF-Token": csrf(client)})
    assert "<strong>굵게</strong>" in r.get_data(as_text=True)


def test_reject_needs_reason_and_lists_by_state(cfg, db, client):
    a, b = make_draft(cfg, db), make_draft(cfg, db, title="두 번째")
    t = csrf(client)
    assert client.post(f"/drafts/{a}/reject", data={"csrf": t, "reason": " "}).status_code == 400
    client.post(f"/drafts/{a}/reject", data={"csrf": t, "reason": "말투가 딱딱함"})
    assert drafts.get(db, a)["review_reason"] == "말투가 딱딱함"
    db["publications"].insert({"draft_id": b, "platform": "tistory", "state": "published",
                               "url": "https://me.tistory.com/12", "updated_at": "2026-01-01T00:00:00+00:00",
                               "idempotency_key": "k"}, alter=True)
    drafts.set_status(db, b, "published")
    assert "말투가 딱딱함" in text(client.get("/drafts?state=rejected"))
    html = client.get("/drafts?state=published").get_data(as_text=True)
    assert 'href="https://me.tistory.com/12"' in html and "두 번째" in html
    assert "봄 산책" not in text(client.get("/drafts?state=published"))


def test_queue_round_trip_keeps_comments(cfg, db, client, tmp_path: Path):
    qpath = tmp_path / "topics.yaml"
    qpath.write_text(QUEUE, encoding="utf-8")
    page = text(client.get("/queue"))
    assert page.index("망원동 빵집") < page.index("봄 산책")
    t = csrf(client, "/queue")
    spring = topics.topic_id("봄 산책")
    assert client.post(f"/queue/{spring}/move", data={"csrf": t, "to": "up"}).status_code == 302
    assert [e.topic for e in topics.read_file(qpath).entries] == ["봄 산책", "망원동 빵집 지도 만들기"]
    body = qpath.read_text(encoding="utf-8")
    assert body.startswith("# 내 글감\n\n# 봄 글\n- topic: 봄 산책") and "# 빵 이야기\n- 망원동" in body
    assert "# 첫 글" in body
    client.post("/queue/add", data={"csrf": t, "topic": "장마철 제습기", "tags": "가전, 여름",
                                    "not_before": "2026-07-01", "platform": ["tistory"]})
    e = topics.read_file(qpath).entries[-1]
    assert (e.topic, e.tags, e.platforms, e.not_before.date().isoformat()) == (
        "장마철 제습기", ["가전", "여름"], ["tistory"], "2026-07-01")
    client.post(f"/queue/{spring}/edit", data={"csrf": t, "topic": "봄 산책", "tags": "봄, 한강", "notes": "짧게"})
    e = topics.read_file(qpath).entries[0]
    assert (e.tags, e.notes) == (["봄", "한강"], "짧게") and "# 봄 글" in qpath.read_text(encoding="utf-8")
    gen = Generation(title="봄 산책", body_markdown="본문", tags=[], adapter_version=None, base_model="x", params={},
                     duration_s=1.0, new_tokens=1)
    bread = topics.topic_id("망원동 빵집 지도 만들기")
    did = drafts.create(db, cfg, {"id": bread, "topic": "망원동 빵집 지도 만들기"}, gen)
    topics.set_state(db, bread, "drafted")
    assert f'href="/drafts/{did}" data-draft-link' in client.get("/queue").get_data(as_text=True)
    client.post(f"/queue/{spring}/skip", data={"csrf": t})
    assert topics.get(db, spring)["state"] == "skipped"
    client.post(f"/queue/{spring}/skip", data={"csrf": t, "undo": "1"})
    assert topics.get(db, spring)["state"] == "queued"
    client.post(f"/queue/{topics.topic_id('장마철 제습기')}/remove", data={"csrf": t})
    assert "장마철" not in qpath.read_text(encoding="utf-8")
    r = client.post("/queue/add", data={"csrf": t, "topic": "봄  산책"})
    assert r.status_code == 400 and "already in the queue" in r.get_data(as_text=True)


def test_runs_status_and_login_upload(cfg, db, client, tmp_path: Path):
    setup_logging(cfg.data_path, console=False)
    with job_run(db, "crawl") as run:
        from loguru import logger

        logger.info("read {} posts", 7)
        run.count("posts", 7)
    with pytest.raises(RuntimeError), job_run(db, "draft"):
        raise RuntimeError("model missing")
    page = text(client.get("/runs"))
    assert "수집" in page and "성공" in page and "model missing" in page
    page = text(client.get("/runs?job=draft"))
    assert "model missing" in page and "posts=7" not in page
    assert "posts=7" in text(client.get("/runs?status=ok&days=1"))
    assert "posts=7" not in text(client.get("/runs?status=failed"))
    run_id = next(db.query("select id from runs where job = 'crawl'"))["id"]
    assert "read 7 posts" in text(client.get(f"/runs/{run_id}"))
    db["adapters"].insert({"version": "v1", "created_at": "2026-03-01T00:00:00+00:00", "path": "x",
                           "status": "active", "reason": "better",
                           "metrics": json.dumps({"held_out_ppl_adapter": 21.5, "held_out_ppl_base": 30.1})},
                          alter=True)
    html = client.get("/status").get_data(as_text=True)
    assert "<svg" in html and "21.5" in html and 'data-job="draft"' in html
    assert "2026-03-01 09:00" in html  # stored UTC, shown in schedule.timezone (Asia/Seoul)
    t = csrf(client, "/status")
    state = {"cookies": [{"name": "TSSESSION", "value": "abc", "domain": ".tistory.com", "path": "/"}], "origins": []}
    from io import BytesIO

    r = client.post("/logins/tistory", data={"csrf": t, "state": (BytesIO(json.dumps(state).encode()), "s.json")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    saved = cfg.data_path / "sessions" / "tistory.json"
    assert json.loads(saved.read_text())["cookies"][0]["value"] == "abc" and saved.stat().st_mode & 0o777 == 0o600
    r = client.post("/logins/tistory", data={"csrf": t, "state": (BytesIO(b"not json"), "s.json")},
                    content_type="multipart/form-data")
    assert r.status_code == 400


def test_catalog_covers_every_message():
    """Every string the desk marks for translation has a Korean translation in the one catalog."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1]
    po = root / "bot/shell/desk/locale/ko/LC_MESSAGES/messages.po"
    with po.open("rb") as fh:
        ko = {m.id: m.string for m in read_po(fh) if m.id}
    method_map = [("bot/shell/desk/**.py", "python"), ("bot/shell/cli/ui.py", "python"),
                  ("bot/shell/cli/topics.py", "python"), ("bot/shell/desk/templates/**.html", "jinja2")]
    skip = {".venv", ".git", "node_modules", "data", "shared", "bench", "examples"}
    found = {msg for _f, _l, msg, _c, _ctx in extract_from_dir(
        str(root), method_map, keywords={"_": None, "_t": None}, directory_filter=lambda d: Path(d).name not in skip)}
    assert len(found) > 100
    assert sorted(m for m in found if not ko.get(m)) == []


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and re.match(r"blogbot \d+\.\d+", r.out)


def test_deploy_files_run_real_commands(cli):
    """The systemd units and the compose file start commands and options that exist."""
    import shlex

    import yaml

    root = Path(__file__).resolve().parents[1]
    commands = []
    for unit in ("blogbot.service", "blogbot-ui.service"):
        text = (root / "deploy" / unit).read_text(encoding="utf-8")
        line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
        commands.append(shlex.split(line.split("/bin/blogbot", 1)[1]))
        assert "WantedBy=default.target" in text
    compose = yaml.safe_load((root / "compose.yaml").read_text(encoding="utf-8"))
    for svc in compose["services"].values():
        assert svc["command"][0] == "blogbot"
        commands.append(svc["command"][1:])
    assert ["ui", "--host", "0.0.0.0", "--port", "8770"] in commands and ["run"] in commands
    for args in commands:
        r = cli(*args[:1], "--help")
        assert r.code == 0, args
        for opt in (a for a in args if a.startswith("--")):
            assert opt in r.out, (args, opt)


def test_style_chart_beside_the_author(cfg, db, client, monkeypatch):
    """The chart is drawn from the author's profile and the draft's own features, once per version of the text."""
    from types import SimpleNamespace

    from bot.voice.style import features, voice

    sample = "오늘은 한강에 갔어요. 바람이 좋더라고요! 다음에 또 가야지 ㅎㅎ"
    author = features.features(features.analyze(sample).counts)
    calls = []

    def fake_load(cfg_, db_):  # fitting the real style model takes minutes; its chart input is a profile
        calls.append(1)
        return SimpleNamespace(profile=lambda: {"features": author})

    monkeypatch.setattr(voice, "load", fake_load)
    did = make_draft(cfg, db)
    assert f'data-src="/drafts/{did}/style.png"' in client.get(f"/drafts/{did}").get_data(as_text=True)
    r = client.get(f"/drafts/{did}/style.png")
    assert r.status_code == 200 and r.data[:8] == b"\x89PNG\r\n\x1a\n" and len(r.data) > 10_000
    client.get(f"/drafts/{did}/style.png")
    assert len(calls) == 1  # kept for this version of the text
    assert len(list((cfg.data_path / "style").glob(f"desk-draft-{did}-*.png"))) == 1


def test_publish_now_and_redraft_run_the_jobs(cfg, db, client, monkeypatch):
    """Publish now and write again run the same jobs as the CLI and the scheduler (jobs.run_job), in the background."""
    import jobs

    calls = []

    def fake_run_job(name, cfg_, db_, **options):
        calls.append((name, {k: v for k, v in options.items() if k != "events"}))
        if name == "draft":
            raise RuntimeError("no model here")  # a failing job does not take the desk down

    monkeypatch.setattr(jobs, "run_job", fake_run_job)
    a, b = make_draft(cfg, db), make_draft(cfg, db, title="다시 쓸 글")
    t = csrf(client)
    r = client.post(f"/drafts/{a}/publish", data={"csrf": t})
    assert r.status_code == 302 and r.headers["Location"].startswith("/runs")
    assert drafts.get(db, a)["status"] == "approved"  # publishing now is approving it first
    client.post(f"/drafts/{b}/redraft", data={"csrf": t})
    for th in client.application.config["THREADS"]:
        th.join(10)
    # two background threads: either may reach the job first
    assert sorted(calls) == [("draft", {"topic": "봄 산책"}), ("publish", {"draft_id": a})]
    assert drafts.get(db, b)["status"] == "rejected"
    assert client.application.config["JOBS"] == {}
    make_draft(cfg, db, status="published")
    r = client.post("/drafts/3/redraft", data={"csrf": t})
    assert r.status_code == 400 and len(calls) == 2


def test_ui_port_in_use_is_a_clean_error(cli, monkeypatch):
    import socket

    monkeypatch.setenv("LANG", "en_US.UTF-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("ui", "--port", str(port))
    assert r.code == 2 and f"cannot listen on port {port}" in r.err and "ui.port" in r.err


def test_banner_says_what_needs_a_person(cfg, db, client, tmp_path):
    """Left running for months: every page says when the scheduler is off or a platform needs a login."""
    (tmp_path / "config.yaml").write_text("data_dir: data\ntopics_file: topics.yaml\npublish:\n  tistory:\n"
                                          "    enabled: true\n    account: me\n", encoding="utf-8")
    from platforms import load_config

    c = make_app(load_config(tmp_path / "config.yaml"), TOKEN).test_client()
    c.get(f"/drafts?token={TOKEN}")
    html = c.get("/queue").get_data(as_text=True)
    assert 'data-alert="scheduler"' in html and "스케줄러가 꺼져 있습니다" in html
    assert 'data-alert="login"' in html and "tistory에 발행하려면 로그인이 필요합니다" in html
    from platforms import session

    session.save_state(load_config(tmp_path / "config.yaml"), "tistory", {"cookies": [], "origins": []})
    assert 'data-alert="login"' not in c.get("/queue").get_data(as_text=True)
