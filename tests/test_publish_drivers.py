"""The three publish drivers against the sandbox in a real Chromium: publish + read back, every selector of each
table on its step, popups, faults (captcha, expiry, 500, lost answer, silent no-op, changed selector, slow)."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import pytest
from conftest import NEEDS_CHROMIUM

import platforms
from bot.core.errors import AuthExpired, PublishRejected, SelectorNotFound, TransientError
from bot.core.records import Draft
from platforms.sandbox.app import FAULTS, set_faults
from platforms.sandbox.target import storage_state
from platforms.sandbox.urls import settings_for

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]
PLATS = ["tistory", "naver", "velog"]
_n = itertools.count(1)


@pytest.fixture
def faults(sandbox):
    yield lambda **kw: set_faults(sandbox.app, **kw)
    set_faults(sandbox.app, slow_ms=0, **{f: False for f in FAULTS})


@pytest.fixture
def make(cfg, browser, sandbox):
    """make(platform, **opts) → (publisher, account): a fresh account signed in to the sandbox."""
    from platforms.browser import BrowserSession

    cfg.browser.timeout_ms = 4000
    cfg.browser.navigation_timeout_ms = 3000
    cfg.browser.overlay_wait_ms = 500
    sessions = []

    def _make(platform: str, mode: str | None = None):
        account = f"user{next(_n)}"
        bs = BrowserSession(cfg, browser=browser)
        sessions.append(bs)
        ctx = bs.context(platform, storage_state=storage_state(sandbox.base, platform, account))
        settings = settings_for(platform, sandbox.base, account=account, mode=mode)
        return platforms.get(platform).publisher(cfg, ctx, settings), account

    yield _make
    for bs in sessions:
        bs.close()


def draft(n: int = 1, title: str | None = None) -> Draft:
    return Draft(id=n, title=title or f"발행 테스트 {n}번째 글",
                 body_markdown=f"첫 문단입니다 {n}. 오늘은 **샌드박스**에 글을 올립니다.\n\n"
                               "## 소제목\n\n- 하나\n- 둘\n\n끝.",
                 tags=["테스트", "블로그"], category="일상", key=f"bb-test{n:04d}")


@pytest.mark.parametrize("platform,mode", [("tistory", "ui"), ("tistory", "api"), ("naver", None), ("velog", "api")])
def test_publish_and_read_back(make, sandbox, platform, mode):
    pub, account = make(platform, mode)
    d = draft(1)
    res = pub.publish(d)
    assert res.verified and res.url.startswith(sandbox.base)
    posts = sandbox.store.posts(platform, account, include_private=True)
    assert len(posts) == 1 and posts[0]["title"] == d.title and "첫 문단입니다 1" in posts[0]["content"]
    if platform != "naver":
        assert posts[0]["tags"] == d.tags
    import httpx

    page = httpx.get(res.url, follow_redirects=True).text
    assert "첫 문단입니다" in page or "mainFrame" in page
    found = pub.find_published(d)
    assert found is not None and found.url == res.url
    assert found.verified == (platform != "naver")  # its own key read back (Naver's editor drops comments)
    other = Draft(id=2, title=d.title, body_markdown="전혀 다른 본문이다.", key="bb-other")
    assert pub.find_published(other) is None  # same title, not this draft
    twin = Draft(id=3, title=d.title, body_markdown=d.body_markdown, key="bb-twin")
    if platform != "naver":  # same title and opening, another draft's key: never this draft's post
        assert pub.find_published(twin) is None


def _count_one(where, sel: str, key: str) -> None:
    n = where.locator(sel).count()
    assert n == 1, f"{key}: {sel!r} matched {n} elements"


@pytest.mark.parametrize("platform", ["tistory", "naver"])
def test_every_selector_matches_exactly_one_element(make, sandbox, faults, platform):
    sel = __import__(f"platforms.{platform}.selectors", fromlist=["x"])
    pub, account = make(platform)
    page = pub.new_page()
    S = sel.SELECTORS
    if platform == "tistory":
        page.goto(pub.urls["blog"] + sel.NEWPOST)
        steps = {"editor": page, "editor_frame": page.frame_locator(S["editor_frame"])}
        for step, where in steps.items():
            for key in sel.STEPS[step]:
                _count_one(where, S[key], key)
        page.click(S["category_button"])
        _count_one(page.locator(S["category_item"]).filter(has_text="일상"), "xpath=.", "category_item")
        page.click(S["publish_layer"])
    else:
        faults(restore_popup=["naver"])
        page.goto(pub.urls["write"])
        for key in sel.STEPS["editor"] + sel.STEPS["restore_popup"]:
            _count_one(page, S[key], key)
        page.click(S["restore_cancel"])
        page.click(S["help_close"])
        page.click(S["publish_open"])
        page.click(S["category_button"])
        _count_one(page.locator(S["category_item"]).filter(has_text="일상"), "xpath=.", "category_item")
    for key in sel.STEPS["publish_layer"]:
        _count_one(page, S[key], key)
    page.goto(f"{sandbox.base}{'/tistory/auth/login' if platform == 'tistory' else '/naver/nidlogin.login'}")
    _count_one(page, S["login_or_captcha"], "login_or_captcha")


def test_velog_write_page_selectors_and_ui_path(make, sandbox):
    from platforms.velog import selectors as S

    pub, account = make("velog", mode="ui")
    page = pub.new_page()
    page.goto(pub.urls["write"])
    for key in S.STEPS["editor"]:
        _count_one(page, S.SELECTORS[key], key)
    page.click(S.SELECTORS["publish_open"])
    for key in S.STEPS["publish_screen"]:
        _count_one(page, S.SELECTORS[key], key)
    res = pub.publish(draft(7))
    assert res.verified and sandbox.store.posts("velog", account)[0]["title"] == draft(7).title


@pytest.mark.parametrize("platform", ["tistory", "naver"])
def test_draft_restore_popup_is_dismissed(make, sandbox, faults, platform):
    faults(restore_popup=[platform])
    pub, account = make(platform)
    pub.publish(draft(3))
    (post,) = sandbox.store.posts(platform, account)
    assert post["title"] == draft(3).title and "이어서 작성한" not in post["content"]


@pytest.mark.parametrize("platform", ["tistory", "naver"])
def test_changed_selector_raises_with_artifacts(make, sandbox, faults, platform):
    faults(changed_selector=[platform])
    pub, account = make(platform)
    with pytest.raises(SelectorNotFound) as ei:
        pub.publish(draft(4))
    art = Path(ei.value.artifacts)
    assert ei.value.artifacts in str(ei.value)
    assert {"screenshot.png", "page.html", "trace.zip"} <= {p.name for p in art.iterdir()}
    assert zipfile.ZipFile(art / "trace.zip").namelist()
    assert sandbox.store.posts(platform, account) == []


@pytest.mark.parametrize("platform", PLATS)
@pytest.mark.parametrize("fault", ["captcha", "session_expired"])
def test_login_page_or_captcha_is_auth_expired(make, sandbox, faults, platform, fault):
    pub, account = make(platform)
    calls = dict(sandbox.app.config["PUBLISH_CALLS"])
    faults(**{fault: [platform]})
    with pytest.raises(AuthExpired, match=f"blogbot login {platform}"):
        pub.publish(draft(5))
    assert sandbox.app.config["PUBLISH_CALLS"] == calls  # no publish attempt reached the server


@pytest.mark.parametrize("platform", PLATS)
def test_server_error_is_transient_and_publishes_nothing(make, sandbox, faults, platform):
    faults(publish_500=[platform])
    pub, account = make(platform)
    with pytest.raises(TransientError):
        pub.publish(draft(6))
    assert sandbox.store.posts(platform, account, include_private=True) == []


@pytest.mark.parametrize("platform", PLATS)
def test_lost_answer_is_found_by_reconciling(make, sandbox, faults, platform):
    faults(publish_lost=[platform])
    pub, account = make(platform)
    with pytest.raises(TransientError, match="outcome unknown|next run"):
        pub.publish(draft(8))
    assert len(sandbox.store.posts(platform, account)) == 1  # it did go out
    found = pub.find_published(draft(8))
    assert found is not None and found.verified == (platform != "naver")  # Naver's editor drops the key comment


@pytest.mark.parametrize("platform", PLATS)
def test_silent_noop_is_not_success(make, sandbox, faults, platform):
    faults(publish_noop=[platform])
    pub, account = make(platform)
    with pytest.raises((PublishRejected, TransientError)):
        pub.publish(draft(9))
    assert sandbox.store.posts(platform, account, include_private=True) == []
    assert pub.find_published(draft(9)) is None


def test_slow_server_is_waited_for(make, sandbox, faults):
    faults(slow_ms=300)
    pub, account = make("tistory")
    assert pub.publish(draft(10)).verified


@pytest.mark.parametrize("platform", PLATS)
def test_dry_run_fills_but_does_not_publish(make, sandbox, platform):
    pub, account = make(platform)
    calls = dict(sandbox.app.config["PUBLISH_CALLS"])
    res = pub.publish(draft(11), dry_run=True)
    assert res.url == "" and not res.verified
    assert sandbox.app.config["PUBLISH_CALLS"] == calls


def test_private_visibility(make, sandbox):
    pub, account = make("tistory")
    d = draft(12)
    d.visibility = "private"
    assert pub.publish(d).verified
    assert sandbox.store.posts("tistory", account, include_private=True)[0]["visibility"] == "private"


def test_empty_draft_is_refused(make):
    pub, _ = make("velog")
    with pytest.raises(PublishRejected, match="empty"):
        pub.publish(Draft(id=1, title=" ", body_markdown="본문"))


def test_closing_a_session_leaves_no_trace_folder_behind(tmp_path):
    """Playwright keeps a running trace in a temporary folder of its own; a context closed with its trace still
    running left that folder behind, one per publishing run of a long-lived scheduler."""
    import os
    import subprocess
    import sys
    import tempfile

    # A process of its own: one thread runs one Playwright, and this module's browser fixture holds it here. Its
    # driver takes its temporary folders under TMPDIR, a short path: Chromium's socket there must stay under the
    # length Unix sockets allow, which pytest's tmp_path exceeds.
    run = """if True:
        import sys
        from pathlib import Path
        from platforms import load_config
        from platforms.browser import BrowserSession, new_chunk
        tmp = Path(sys.argv[2])
        with BrowserSession(load_config(Path(sys.argv[1])), headless=True) as bs:
            ctx = bs.context("tistory", storage_state=False)
            ctx.new_page().set_content("<p>글</p>")
            new_chunk(ctx)
            print(len(list(tmp.glob("playwright-tracing-*"))))
        print(len(list(tmp.glob("playwright-tracing-*"))))
    """
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bb-", dir="/tmp") as d:
        env = {**os.environ, "TMPDIR": d, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", run, str(tmp_path / "config.yaml"), d], env=env, cwd=root,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    running, closed = out.stdout.split()
    assert running == "1"  # the trace was running: its folder existed while it did
    assert closed == "0"
