"""`blogbot status` counts the drafts held back for a person, and why (a failed sense gate first)."""

from __future__ import annotations

from bot.core import drafts
from bot.core.records import Generation
from bot.shell.report import gather


def _draft(db, cfg, n: int, reason: str) -> int:
    gen = Generation(title=f"글 {n}", body_markdown="본문입니다.", tags=[], adapter_version=None, base_model="t",
                     params={}, duration_s=1.0, new_tokens=3)
    i = drafts.create(db, cfg, {"id": f"t{n}", "topic": f"주제 {n}"}, gen)
    drafts.set_status(db, i, "pending_review", reason)
    return i


def test_status_counts_drafts_held_back_and_why(cfg, db, cli):
    _draft(db, cfg, 1, "nonsense: the sense gate failed (also layout)")
    _draft(db, cfg, 2, "nonsense: the sense gate failed")
    _draft(db, cfg, 3, "gates failed: layout, copy")
    _draft(db, cfg, 4, "manual review")
    approved = _draft(db, cfg, 5, "gates failed: copy")
    drafts.set_status(db, approved, "approved")  # a person let it go: no longer held back
    assert gather(cfg, db)["held_back"] == {"nonsense (sense gate)": 2, "layout": 1, "copy": 1, "manual review": 1}
    r = cli("status")
    assert r.code == 0 and "held back" in r.out and "nonsense (sense gate) 2" in r.out


def test_two_drafts_written_in_the_same_second_get_different_keys(cfg, db):
    """The reconcile key must tell drafts apart even without a topic (it decides which post is whose)."""
    gen = Generation(title="같은 제목", body_markdown="같은 본문", tags=[], adapter_version=None, base_model="t",
                     params={}, duration_s=1.0, new_tokens=3)
    a, b = drafts.create(db, cfg, None, gen), drafts.create(db, cfg, None, gen)
    assert drafts.get(db, a)["publish_key"] != drafts.get(db, b)["publish_key"]
