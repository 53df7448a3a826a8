"""Stored posts: upsert outcomes, marking gone, and blogbot's own publications kept out of the corpus."""

from __future__ import annotations

from bot.core.posts import live_posts, mark_gone, save_post
from bot.core.records import Post


def post(sid: str, title: str = "제목", body: str = "본문입니다", platform: str = "tistory", url: str | None = None):
    return Post(platform=platform, source_id=sid, title=title, body_markdown=body, url=url)


def test_outcomes_and_mark_gone(db) -> None:
    assert save_post(db, post("1"))[0] == "new"
    assert save_post(db, post("1"))[0] == "unchanged"
    assert save_post(db, post("1", body="고친 본문"))[0] == "updated"
    assert save_post(db, post("2", body="고친  본문"))[0] == "duplicate"
    assert mark_gone(db, "tistory", "1", "private") and not mark_gone(db, "tistory", "1", "private")
    assert live_posts(db) == []
    assert db["posts"].count == 1


def test_own_publications_are_not_training_data(db) -> None:
    save_post(db, post("1", "내가 쓴 글", url="https://a.tistory.com/1"))
    save_post(db, post("2", "봇이 쓴 글", "다른 본문", url="https://a.tistory.com/2"))
    save_post(db, post("3", "봇이 쓴 다른 글", "세번째 본문", url="https://a.tistory.com/entry/x"))
    d1 = db["drafts"].insert({"title": "봇이 쓴 글", "status": "published"}).last_pk
    d2 = db["drafts"].insert({"title": "제목이 바뀐 글", "status": "published"}).last_pk
    db["publications"].insert({"draft_id": d1, "platform": "tistory", "idempotency_key": "k1", "state": "published",
                               "url": "https://other.example/2"})
    db["publications"].insert({"draft_id": d2, "platform": "tistory", "idempotency_key": "k2", "state": "published",
                               "url": "https://a.tistory.com/entry/x"})
    assert [p.title for p in live_posts(db)] == ["내가 쓴 글"]
    assert len(live_posts(db, include_generated=True)) == 3


def test_a_post_carrying_the_bot_mark_is_never_trained_on_whatever_the_ledger_knows(db) -> None:
    """A fresh data dir (empty ledger) crawls the bot's earlier posts: the mark the publisher left keeps them out."""
    from platforms.publishkit import to_html, to_markdown
    from platforms.tistory.read import parse_page as tistory_page
    from platforms.velog.read import parse_page as velog_page

    html = to_html("봇이 쓴 글의 본문입니다.\n\n두 번째 문단.", key="d7-tistory")
    page = (f'<html><head><meta property="og:title" content="봇이 쓴 글"></head><body>'
            f'<div class="tt_article_useless_p_margin contents_style">{html}</div></body></html>')
    crawled = tistory_page(page, "https://me.tistory.com/7")
    assert "<!-- blogbot:d7-tistory -->" in crawled.body_markdown  # the reader keeps the mark
    answer = {"data": {"post": {"id": "v1", "title": "벨로그 봇 글", "body": to_markdown("본문", key="d8-velog"),
                                "url_slug": "s", "user": {"username": "me"}}}}
    save_post(db, crawled)
    save_post(db, velog_page(answer, "https://velog.io/@me/s"))
    save_post(db, post("9", "내 글", "blogbot: 이라는 도구를 써 봤다 (표시가 아닌 본문 속 낱말)"))
    assert db["publications"].count == 0  # the ledger knows none of them
    assert [p.title for p in live_posts(db)] == ["내 글"]
    assert len(live_posts(db, include_generated=True)) == 3
