"""The review desk in a real browser (Debian's Chromium under Playwright): the token once in the address then the
cookie, refusal without it, approving a draft, editing one (live preview, save, the new score on the page), and
reordering topics with topics.yaml keeping its comments."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from conftest import NEEDS_CHROMIUM
from test_desk import QUEUE, make_draft

from bot.core import drafts, topics

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]
TOKEN = "browser-token-xyz"


@pytest.fixture
def desk(cfg):
    from bot.shell.desk import make_server

    server = make_server(cfg, "127.0.0.1", 0, token=TOKEN)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul")
    p = ctx.new_page()
    external = []
    p.on("request", lambda r: external.append(r.url) if not r.url.startswith("http://127.0.0.1:") else None)
    yield p
    ctx.close()
    assert external == []  # the desk never makes the browser reach outside this computer


def base(server) -> str:
    return server.url.split("/?token=")[0]


def test_refused_without_token(desk, page):
    r = page.goto(base(desk) + "/drafts")
    assert r.status == 403 and "token" in page.content()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base(desk) + "/queue")
    assert err.value.code == 403
    r = page.goto(base(desk) + "/drafts?token=wrong")
    assert r.status == 403


def test_token_login_approve_and_edit_rescored(cfg, db, desk, page, monkeypatch):
    from playwright.sync_api import expect

    import bot.voice.style

    def paragraphs_score(cfg_, db_, d, **_kw):  # a stand-in scorer: the real one fits a model (minutes on 2 cores)
        n = len([p for p in d["body_markdown"].split("\n\n") if p.strip()])
        return {"score": {"fidelity": min(1.0, n / 4), "fidelity_plain": 0.5, "reliable": True},
                "gates": [{"name": "length", "passed": n >= 3, "detail": f"{n} paragraphs"}], "passed": n >= 3}

    monkeypatch.setattr(bot.voice.style, "check_draft", paragraphs_score)
    a = make_draft(cfg, db, title="승인할 글")
    b = make_draft(cfg, db, title="고칠 글", body="한 문단.\n\n두 문단.")
    page.goto(desk.url)
    assert "token=" not in page.url  # the token became a cookie and left the address bar
    expect(page.locator("h1")).to_have_text("초안")
    page.get_by_role("link", name="승인할 글").click()
    page.locator("[data-action=approve]").click()
    expect(page.locator(".meta [data-status]")).to_have_attribute("data-status", "approved")
    assert drafts.get(db, a)["status"] == "approved"

    page.goto(base(desk) + f"/drafts/{b}")
    expect(page.locator(".fidelity")).to_contain_text("71%")
    editor = page.locator("#editor")
    editor.fill("# 고칠 글\n\n첫 문단.\n\n둘째 **문단**.\n\n셋째 문단.\n\n넷째 문단.")
    expect(page.locator("#live-preview strong")).to_have_text("문단")  # the live preview, rendered by the desk
    page.locator("[data-action=save]").click()
    expect(page.locator(".fidelity")).to_contain_text("100%")
    expect(page.locator('[data-gate="length"]')).to_have_class("pass")
    expect(page.locator(".diff .dadd").first).to_be_visible()
    assert drafts.get(db, b)["score"]["fidelity"] == 1.0


def test_reorder_topics_keeps_comments(cfg, db, desk, page, tmp_path):
    from playwright.sync_api import expect

    qpath = tmp_path / "topics.yaml"
    qpath.write_text(QUEUE, encoding="utf-8")
    page.goto(desk.url)
    page.get_by_role("link", name="글감 대기열").click()
    items = page.locator("ol.queue > li")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-topic", "망원동 빵집 지도 만들기")
    items.nth(1).locator("[data-move=up]").click()
    expect(page.locator("ol.queue > li").first).to_have_attribute("data-topic", "봄 산책")
    text = qpath.read_text(encoding="utf-8")
    assert [e.topic for e in topics.read_file(qpath).entries] == ["봄 산책", "망원동 빵집 지도 만들기"]
    for comment in ("# 내 글감", "# 빵 이야기", "# 첫 글", "# 봄 글"):
        assert comment in text
    assert text.index("# 봄 글") < text.index("봄 산책") < text.index("# 빵 이야기") < text.index("망원동")
    page.locator("#add-topic input[name=topic]").fill("장마철 제습기")
    page.locator("#add-topic button").click()
    expect(page.locator("ol.queue > li").last).to_have_attribute("data-topic", "장마철 제습기")
    assert "# 내 글감" in qpath.read_text(encoding="utf-8")
