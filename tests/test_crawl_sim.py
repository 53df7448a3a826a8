"""End-to-end crawls against the simulated blogs: full, incremental, edits, deletions, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from bot.core.config import Config, CrawlConfig, Source
from bot.core.posts import live_posts
from bot.core.records import normalize_text
from bot.core.store import loads, open_db
from platforms.sandbox.blogs import Faults, SimStore, generate
from platforms.sandbox.blogs_app import make_blog_app
from platforms.sandbox.server import serving as serve

ACCOUNTS = {"naver": "nv", "tistory": "ts", "velog": "vg"}


@pytest.fixture
def blogs():
    store = SimStore()
    for plat, acc in ACCOUNTS.items():
        generate(store, plat, acc, 45)
    faults = Faults(slow_s=1.5)
    with serve(make_blog_app(store, faults)) as base:
        yield store, faults, base


def _cfg(tmp_path: Path, base: str, **crawl) -> Config:
    opts = dict(min_delay_s=0, retries=1, backoff_s=0.01, timeout_s=0.5)
    opts.update(crawl)
    return Config(data_dir=tmp_path / "data", crawl=CrawlConfig(**opts), sources=[
        Source(platform="naver", blog_id="nv", base_url=base),
        Source(platform="tistory", blog="ts", base_url=f"{base}/tistory/ts"),
        Source(platform="velog", username="vg", base_url=base)])


def _crawl(cfg: Config, **kw) -> tuple[dict, dict]:
    from jobs import crawl

    db = open_db(cfg.data_path)
    try:
        counts = crawl.run(cfg, db, **kw)
        last = next(db.query("select * from runs where job = 'crawl' order by id desc limit 1"))
        return counts, {"status": last["status"], **loads(last["details"], {})}
    finally:
        db.close()


def _posts(cfg: Config, status: str | None = None) -> list[dict]:
    db = open_db(cfg.data_path)
    try:
        sql = "select * from posts" + (" where status = ?" if status else "")
        return list(db.query(sql, (status,) if status else ()))
    finally:
        db.close()


def test_full_then_incremental_crawl(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    counts, _ = _crawl(cfg, full=True)
    assert counts["new"] == 135 and counts["failed"] == 0
    db = open_db(cfg.data_path)
    stored = {(p.platform, p.source_id): p for p in live_posts(db)}
    db.close()
    for plat, acc in ACCOUNTS.items():
        for sp in store.posts(plat, acc):
            post = stored[(plat, f"velog-{sp.id}" if plat == "velog" else sp.id)]
            assert post.title == sp.title and post.published_at == sp.published_at and post.tags == sp.tags
            if sp.editor != "se3":  # the simulated SE3 code component carries no language
                assert " ".join(post.body_markdown.split()) == " ".join(normalize_text(sp.body_markdown).split())

    faults.requests.clear()
    counts, _ = _crawl(cfg)
    assert counts["new"] == 0 and counts["failed"] == 0
    per = {"naver": sum(v for k, v in faults.requests.items() if k.startswith(("/api/", "/PostView"))),
           "tistory": sum(v for k, v in faults.requests.items() if k.startswith("/tistory/")),
           "velog": faults.requests["/graphql"]}
    assert all(n <= 2 for n in per.values()), per

    for plat, acc in ACCOUNTS.items():
        generate(store, plat, acc, 46)  # regenerating adds post 46 (the same 45 come back unchanged)
    counts, _ = _crawl(cfg)
    assert counts["new"] == 3 and counts["updated"] == 0


def test_edits_and_deletions_between_crawls(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    _crawl(cfg, full=True)
    newest_velog = store.posts("velog", "vg")[0]
    store.edit("velog", "vg", newest_velog.id, body_markdown="고친 본문입니다.")
    store.edit("tistory", "ts", "10", title="고친 제목")
    store.delete("tistory", "ts", "20")
    store.delete("naver", "nv", "220000000007")
    store.edit("velog", "vg", "3", visibility="private")
    counts, _ = _crawl(cfg)  # incremental: sees the edited newest velog post only
    assert counts["updated"] == 1 and counts["gone"] == 0
    counts, details = _crawl(cfg, full=True)
    assert counts["updated"] == 1  # the tistory title edit
    assert counts["gone"] == 3 and counts["failed"] == 0
    gone = {(p["platform"], p["source_id"]): p["status"] for p in _posts(cfg) if p["status"] != "live"}
    assert gone == {("tistory", "20"): "deleted", ("naver", "220000000007"): "deleted", ("velog", "velog-3"): "deleted"}
    velog = {p["source_id"]: p for p in _posts(cfg)}
    assert velog[f"velog-{newest_velog.id}"]["body_markdown"] == "고친 본문입니다."


def test_private_answer_on_fetch_marks_private_and_definite_404_marks_deleted(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    _crawl(cfg, full=True)
    faults.by_key.update({"220000000005": "private", "tistory:12": "404"})
    counts, _ = _crawl(cfg, full=True)
    status = {(p["platform"], p["source_id"]): p["status"] for p in _posts(cfg)}
    assert status[("naver", "220000000005")] == "private"
    assert status[("tistory", "12")] == "deleted"
    assert counts["gone"] == 2 and counts["failed"] == 0


@pytest.mark.parametrize("platform,key,fault", [
    ("naver", "220000000004", "login"), ("naver", "220000000008", "captcha"), ("naver", "220000000010", "nobody"),
    ("naver", "220000000011", "truncated"), ("naver", "220000000013", "loop"), ("naver", "220000000014", "500"),
    ("tistory", "7", "nobody"), ("tistory", "8", "truncated"), ("tistory", "9", "slow"),
    ("velog", "5", "badjson"), ("velog", "6", "gqlerror"),
])
def test_bad_page_is_recorded_and_the_crawl_goes_on(tmp_path: Path, blogs, platform, key, fault) -> None:
    store, faults, base = blogs
    faults.by_key[f"{platform}:{key}"] = fault
    cfg = _cfg(tmp_path, base)
    counts, details = _crawl(cfg, full=True, platform=platform)
    assert counts["failed"] == 1 and counts["new"] == 44
    assert details["status"] == "partial"
    [failure] = details["failures"]
    page_key = quote(store.get("velog", "vg", key).slug) if platform == "velog" else key
    assert page_key in failure["url"] and failure["error"]
    ids = {p["source_id"] for p in _posts(cfg)}
    assert (f"velog-{key}" if platform == "velog" else key) not in ids  # never stored as an empty post
    assert all(p["body_markdown"].strip() for p in _posts(cfg))


def test_mis_declared_encoding_is_read_correctly(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    faults.by_key["tistory:15"] = "euckr"
    cfg = _cfg(tmp_path, base)
    counts, _ = _crawl(cfg, full=True, platform="tistory")
    assert counts["failed"] == 0
    post = next(p for p in _posts(cfg) if p["source_id"] == "15")
    assert post["title"] == store.get("tistory", "ts", "15").title


def test_500_storm_ends_with_a_clear_failed_count_and_marks_nothing(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    _crawl(cfg, full=True)
    faults.storm = True
    faults.requests.clear()
    counts, details = _crawl(cfg, full=True)
    assert counts["failed"] == 3 and counts["gone"] == 0 and details["status"] == "partial"
    assert faults.requests["total"] <= 3 * 2 + 1  # bounded: (retries + 1) per source listing, tistory RSS skipped
    assert all(p["status"] == "live" for p in _posts(cfg))


def test_malformed_listing_json_is_a_failure_not_a_deletion(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    _crawl(cfg, full=True)
    faults.list_fault = "badjson"
    counts, details = _crawl(cfg, full=True, platform="velog")
    assert counts["failed"] == 1 and counts["gone"] == 0
    assert "malformed GraphQL JSON" in details["failures"][0]["error"]


def test_cli_crawl_and_parse(tmp_path: Path, blogs, cli, shared: Path) -> None:
    store, faults, base = blogs
    (tmp_path / "config.yaml").write_text(
        f"data_dir: data\nsources:\n  - {{platform: velog, username: vg, base_url: '{base}'}}\n"
        "crawl: {min_delay_s: 0, retries: 0}\n", encoding="utf-8")
    r = cli("crawl", "--platform", "velog", "--full")
    assert r.code == 0, r.err
    assert "new 45" in r.out and "failed 0" in r.out
    r = cli("crawl", "--platform", "nope")
    assert r.code == 2 and "nope" in r.err
    page = shared / "fixtures/platforms/naver/postview-se3-legacy.html"
    r = cli("parse", "naver", str(page))
    assert r.code == 0 and "title: 3월 25일 일요일" in r.out and r.out.rstrip().endswith("힘들다그냥")
    r = cli("parse", "tistory", f"{base}/tistory/ts/3")
    assert r.code == 0 and store.get("tistory", "ts", "3").title in r.out
    r = cli("parse", "naver", str(tmp_path / "missing.html"))
    assert r.code == 2 and "missing.html" in r.err


def test_full_recrawl_uses_conditional_requests(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    cfg = _cfg(tmp_path, base)
    _crawl(cfg, full=True, platform="tistory")
    store.edit("tistory", "ts", "30", body_markdown="새 본문.")
    counts, _ = _crawl(cfg, full=True, platform="tistory")
    assert counts["unchanged"] == 44 and counts["updated"] == 1
    assert faults.requests["304"] == 44  # the server offered ETags; unchanged pages came back empty


def test_tistory_slug_permalinks_through_paged_lists_without_sitemap(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    faults.tistory_sitemap = False
    faults.tistory_slug_urls = True
    cfg = _cfg(tmp_path, base)
    counts, _ = _crawl(cfg, full=True, platform="tistory")
    assert counts["new"] == 45 and counts["failed"] == 0
    assert faults.requests["/tistory/ts/"] == 6  # 5 pages of 10, then an empty page ends the walk
    ids = {p["source_id"] for p in _posts(cfg)}
    assert ids == {str(i) for i in range(1, 46)}  # the numeric entryId from the page, not the slug
    counts, _ = _crawl(cfg, platform="tistory")
    assert counts["new"] == 0 and counts["unchanged"] == 1


def test_cross_posted_duplicate_does_not_break_the_incremental_stop(tmp_path: Path, blogs) -> None:
    store, faults, base = blogs
    naver_newest, tistory_newest = store.posts("naver", "nv")[0], store.posts("tistory", "ts")[0]
    store.edit("tistory", "ts", tistory_newest.id, title=naver_newest.title, body_markdown=naver_newest.body_markdown)
    naver_newest.editor = "se2"  # same Markdown back from both pages
    cfg = _cfg(tmp_path, base)
    counts, _ = _crawl(cfg, full=True)
    assert counts["duplicate"] == 1 and counts["new"] == 134
    faults.requests.clear()
    counts, _ = _crawl(cfg, platform="tistory")
    assert counts["new"] == 0 and faults.requests["/tistory/ts/rss"] == 1
    assert sum(v for k, v in faults.requests.items() if k.startswith("/tistory/ts/")) == 1
