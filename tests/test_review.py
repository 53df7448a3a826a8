"""Manual review: list, show with the score summary, edit in $EDITOR (original kept), approve, reject with a reason."""

from __future__ import annotations

import sys

import pytest

from bot.core import drafts
from bot.core.errors import InputError
from bot.core.store import dumps
from bot.shell import review


def make_draft(cfg, db, title="봄 산책", body="첫 문단입니다.\n\n둘째 문단.", status="pending_review") -> int:
    gen = drafts.Generation(title=title, body_markdown=body, tags=["산책"], adapter_version="v1",
                            base_model="fake", params={}, duration_s=1.0, new_tokens=10)
    did = drafts.create(db, cfg, {"id": "t1", "topic": "봄 산책 이야기"}, gen)
    drafts.set_status(db, did, status, "gates failed: length")
    return did


def editor(tmp_path, code: str) -> str:
    script = tmp_path / "ed.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n" + code, encoding="utf-8")
    return f"{sys.executable} {script}"


def test_list_show_and_summary(cfg, db):
    a = make_draft(cfg, db)
    make_draft(cfg, db, title="승인됨", status="approved")
    db["drafts"].update(a, {"score": dumps({"fidelity": 0.87, "fidelity_plain": 0.9, "distance": 0.31,
                                            "reliable": True}),
                            "gates": dumps([{"name": "length", "passed": False, "detail": "120 chars < 300"},
                                            {"name": "copy", "passed": True, "detail": ""}])})
    assert [d["id"] for d in review.pending(db)] == [a]
    d = review.show(db, a)
    assert d["summary"].splitlines() == [
        "style 87% — the style classifier rates it 87% as typical of you as your own posts",
        "  FAIL length: 120 chars < 300", "  pass copy"]  # a score stored before the distance-derived headline
    assert review.show(db, make_draft(cfg, db))["summary"] is None  # never scored


def test_show_says_how_the_draft_was_chosen_among_its_candidates():
    three = {"n_candidates": 3, "candidate_index": 1,
             "best_of": {"n_max": 3, "budget_s": 300.0, "seconds": 81.5, "stopped_by": "n_candidates"}}
    assert review.best_of(three) == "best of 3 candidates written in 81.5 s: candidate 2 sounds most like you x topic"
    two = {"n_candidates": 2, "candidate_index": 0,
           "best_of": {"n_max": 3, "budget_s": 60.0, "seconds": 52.0, "stopped_by": "draft_minutes"}}
    assert review.best_of(two).endswith("the 1-minute budget (generate.draft_minutes) left no time for more")
    one = {"n_candidates": 1, "best_of": {"n_max": 3, "budget_s": 60.0, "seconds": 70.2, "stopped_by": "draft_minutes"}}
    assert review.best_of(one).startswith("one candidate: it took 70.2 s")
    assert review.best_of({"n_candidates": 1}) is None and review.best_of(None) is None  # written alone
    sel = [{"index": 0, "passed": False, "value": 0.8, "copy_within_yours": False, "chosen": False},
           {"index": 1, "passed": False, "value": 0.5, "copy_within_yours": True, "chosen": True},
           {"index": 2, "passed": False, "value": 0.3, "copy_within_yours": False, "chosen": False}]
    assert review.best_of({**three, "selection": sel}).endswith(
        "candidate 2 sounds most like you x topic (candidate 1 scored higher but copied more of your posts than your "
        "posts copy each other)")
    sel[0]["passed"] = True  # a candidate that passed every gate was never in the running against a failing one
    assert review.best_of({**three, "selection": sel}) == review.best_of(three)


@pytest.fixture
def fake_check(monkeypatch):
    """check_draft stand-in: passes exactly when the body says 고친, so a rescore is visible."""
    import bot.voice.style

    calls = []

    def check(cfg, db, d, notes=None):
        calls.append((d["body_markdown"], notes))
        ok = "고친" in d["body_markdown"]
        return {"score": {"style": 0.9 if ok else 0.2, "style_source": "distance", "distance": 0.1 if ok else 1.4,
                          "reliable": True},
                "gates": [{"name": "sense", "passed": ok, "detail": "ok" if ok else "word salad"}], "passed": ok}

    monkeypatch.setattr(bot.voice.style, "check_draft", check)
    return calls


def test_edit_recomputes_score_and_gates_and_shows_the_diff(tmp_path, cfg, db, monkeypatch, fake_check):
    did = make_draft(cfg, db)
    before = bot_style_check(cfg, db, did)
    assert not before["passed"]
    edited = "# 봄 산책\\n\\n고친 첫 문단입니다.\\n\\n둘째 문단.\\n"
    monkeypatch.setenv("EDITOR", editor(tmp_path, f"p.write_text('{edited}')"))
    assert review.edit(cfg, db, did) is True
    d = review.show(db, did)
    assert d["score"]["style"] == 0.9 and all(g["passed"] for g in d["gates"])  # recomputed on the edited text
    assert d["score"]["before_edit"]["failed"] == ["sense"]
    assert "before the edit: style 20%" in d["summary"] and "pass sense" in d["summary"]
    assert "-첫 문단입니다." in d["diff"] and "+고친 첫 문단입니다." in d["diff"]
    assert fake_check[-1][0] == "고친 첫 문단입니다.\n\n둘째 문단."


def bot_style_check(cfg, db, did):
    """Score a draft as the draft job does (route), through the fake."""
    return review.rescore(cfg, db, did)


def test_edit_in_editor_keeps_the_original(tmp_path, cfg, db, monkeypatch, fake_check):
    did = make_draft(cfg, db)
    monkeypatch.setenv("EDITOR", editor(tmp_path, "p.write_text('# 봄 산책 (고침)\\n\\n고친 본문입니다.\\n')"))
    assert review.edit(cfg, db, did) is True
    d = drafts.get(db, did)
    assert (d["title"], d["body_markdown"]) == ("봄 산책 (고침)", "고친 본문입니다.")
    assert d["original_body"] == "# 봄 산책\n\n첫 문단입니다.\n\n둘째 문단."
    outbox = next((cfg.data_path / "outbox").glob(f"{did:05d}-*.md")).read_text(encoding="utf-8")
    assert "고친 본문입니다." in outbox
    monkeypatch.setenv("EDITOR", editor(tmp_path, "pass"))  # saved without a change
    assert review.edit(cfg, db, did) is False


@pytest.mark.parametrize("code, message", [
    ("sys.exit(3)", "exited with status 3; nothing was saved"),
    ("p.write_text('no title here\\n\\nbody')", "the first line must be the title"),
    ("p.write_text('# 제목만\\n')", "the body is empty"),
])
def test_a_bad_edit_saves_nothing(tmp_path, cfg, db, monkeypatch, code, message):
    did = make_draft(cfg, db)
    before = drafts.get(db, did)
    monkeypatch.setenv("EDITOR", editor(tmp_path, code))
    with pytest.raises(InputError, match=message):
        review.edit(cfg, db, did)
    after = drafts.get(db, did)
    assert (after["title"], after["body_markdown"], after["original_body"]) == (
        before["title"], before["body_markdown"], None)
    assert not list(tmp_path.glob("blogbot-draft-*"))


def test_missing_editor_is_a_clear_error(cfg, db, monkeypatch):
    did = make_draft(cfg, db)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    with pytest.raises(InputError, match="cannot start the editor '/nonexistent/editor'.*set \\$EDITOR"):
        review.edit(cfg, db, did)


def test_approve_and_reject(cfg, db):
    a, b = make_draft(cfg, db), make_draft(cfg, db, title="둘째")
    assert review.approve(db, a)["status"] == "approved"
    with pytest.raises(InputError, match="needs a reason"):
        review.reject(db, b, "  ")
    d = review.reject(db, b, "말투가 너무 딱딱함")
    assert (d["status"], d["review_reason"]) == ("rejected", "말투가 너무 딱딱함")
    assert review.approve(db, b)["status"] == "approved"  # a person may change their mind
    drafts.set_status(db, a, "published")
    with pytest.raises(InputError, match="already published"):
        review.reject(db, a, "late")
    with pytest.raises(InputError, match="no draft with id 999"):
        review.approve(db, 999)


def test_review_cli(tmp_path, cfg, db, cli, monkeypatch, fake_check):
    a = make_draft(cfg, db)
    b = make_draft(cfg, db, title="둘째 글")
    r = cli("review")
    words = r.out.split()  # the table wraps between words: a title may sit on two lines
    assert r.code == 0 and {"봄", "산책", "둘째", "글"} <= set(words) and "gates" in words and "failed:" in r.out
    r = cli("review", "show", str(a))
    assert r.code == 0 and "첫 문단입니다." in r.out and "pending_review" in r.out
    monkeypatch.setenv("EDITOR", editor(tmp_path, "p.write_text('# 새 제목\\n\\n새 본문\\n')"))
    r = cli("review", "edit", str(a))
    assert r.code == 0 and "saved (original kept); score and gates recomputed" in r.out
    r = cli("review", "show", str(a))
    assert r.code == 0 and "+새 본문" in r.out and "generated → edited" in r.out
    assert cli("review", "approve", str(a)).code == 0
    r = cli("review", "reject", str(b))
    assert r.code == 2 and "--reason" in r.err
    assert cli("review", "reject", str(b), "--reason", "주제와 다름").code == 0
    assert [d["status"] for d in drafts.by_status(db, "approved")] == ["approved"]
    assert drafts.get(db, b)["review_reason"] == "주제와 다름"
    r = cli("review", "list")
    assert r.code == 0 and "no draft waits for review" in r.out
    r = cli("review", "show", "999")
    assert r.code == 2 and "no draft with id 999" in r.err
