"""Exactly once with more than one publisher: two real publisher processes on one data dir (the second waits or
gives up with the holder named), a live owner's `publishing` row never taken for a leftover, reconcile trusting only
the draft's own key (same-title drafts), and publication state per (draft, platform)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _scheduler_fakes import FakeJobs

from bot.core import drafts, ledger
from bot.core.records import Draft, Generation, PublishResult
from bot.core.store import open_db
from jobs import publish as publish_job
from platforms import load_config
from platforms.publishkit import found, matches, to_html

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
PLATS = ["tistory", "naver", "velog"]
CHILD = """import json, sys
from _scheduler_fakes import FakeJobs
from bot.core.store import open_db
from platforms import load_config
cfg = load_config(sys.argv[1])
print(json.dumps(FakeJobs().publish(cfg, open_db(cfg.data_path), wait_s=float(sys.argv[2]))), flush=True)
"""


def _config(tmp_path: Path, extra: str = ""):
    lines = ["data_dir: data", "topics_file: topics.yaml", "publish:"]
    lines += [f"  {p}: {{enabled: true, account: me, daily_cap: 50, min_interval_minutes: 0, jitter_minutes: 0}}"
              for p in PLATS]
    (tmp_path / "config.yaml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def _approved(cfg, db, title: str, body: str = "같은 첫 문장으로 시작하는 글입니다. 그다음은 다르다.",
              platforms: list[str] | None = None) -> int:
    gen = Generation(title=title, body_markdown=body, tags=[], adapter_version=None, base_model="t", params={},
                     duration_s=1.0, new_tokens=5)
    topic = {"id": f"t{db['drafts'].count}", "topic": title}  # its own topic: its own publish key
    i = drafts.create(db, cfg, topic, gen, platforms=platforms or PLATS)
    drafts.set_status(db, i, "approved")
    return i


def _remote(cfg) -> list[str]:
    p = Path(cfg.data_path) / "remote_blog.txt"
    return p.read_text().split() if p.exists() else []


def _spawn(tmp_path: Path, wait_s: float, hold: str = "") -> subprocess.Popen:
    script = tmp_path / "publisher.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{ROOT}", "FAKE_HOLD": hold, "FAKE_HOLD_DIR": str(tmp_path)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "config.yaml"), str(wait_s)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"publisher exited ({proc.returncode}) early:\n{proc.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_second_publisher_process_gives_up_naming_the_first(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    ids = [_approved(cfg, db, f"글 {n}") for n in range(3)]
    first = _spawn(tmp_path, 0, hold="publish")
    try:
        _wait_for(tmp_path / "publish.started", first)  # posted on the blog, not yet recorded: the risky moment
        second = _spawn(tmp_path, 0)
        assert _result(second) == {"busy": 1}
        skipped = db.execute("select status, details from runs where pid = ?", [second.pid]).fetchall()
        assert skipped[0][0] == "skipped" and f"pid {first.pid} on " in json.loads(skipped[0][1])["reason"]
    finally:
        (tmp_path / "publish.go").write_text("")
    assert _result(first) == {"published": 9}
    keys = _remote(cfg)
    assert sorted(keys) == sorted(ledger.idempotency_key(i, p) for i in ids for p in PLATS)  # each exactly once
    assert {drafts.get(db, i)["status"] for i in ids} == {"published"}


def test_second_publisher_process_waits_for_the_first(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    ids = [_approved(cfg, db, f"글 {n}") for n in range(2)]
    first = _spawn(tmp_path, 0, hold="publish")
    try:
        _wait_for(tmp_path / "publish.started", first)
        second = _spawn(tmp_path, 60)  # waits on the lock while the first holds its first post
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # it must still be waiting, having posted nothing
            assert second.poll() is None and len(_remote(cfg)) == 1
            time.sleep(0.1)
    finally:
        (tmp_path / "publish.go").write_text("")
    assert _result(first) == {"published": 6}
    assert _result(second) == {}  # then finds nothing approved: every publication is already out
    assert sorted(_remote(cfg)) == sorted(ledger.idempotency_key(i, p) for i in ids for p in PLATS)


def test_live_owners_publishing_row_is_left_alone(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    d = _approved(cfg, db, "글", platforms=["tistory"])
    pub_id = ledger.begin(db, d, "tistory")
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        db["publications"].update(pub_id, {"owner_pid": owner.pid})  # another live process is publishing it
        assert ledger.live_owner(ledger.get(db, d, "tistory")) is not None
        assert FakeJobs().publish(cfg, db) == {"in_flight": 1}
        assert _remote(cfg) == [] and ledger.get(db, d, "tistory")["state"] == "publishing"
    finally:
        owner.kill()
        owner.wait()
    assert ledger.live_owner(ledger.get(db, d, "tistory")) is None  # its process is gone: a leftover
    assert FakeJobs().publish(cfg, db) == {"published": 1}  # looked at the blog first, found nothing, published
    assert _remote(cfg) == [ledger.idempotency_key(d, "tistory")]


def test_live_owner_on_another_host_counts_while_its_heartbeat_is_fresh(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    d = _approved(cfg, db, "글", platforms=["naver"])
    pub_id = ledger.begin(db, d, "naver")
    db["publications"].update(pub_id, {"owner_host": "other-box", "owner_pid": 1})
    assert "other-box" in ledger.live_owner(ledger.get(db, d, "naver"))
    db["publications"].update(pub_id, {"heartbeat_at": "2020-01-01T00:00:00+00:00"})
    assert ledger.live_owner(ledger.get(db, d, "naver")) is None


# --- reconcile trusts only the draft's own key ---------------------------------------------------------------


class TitleBlog:
    """A blog that stores (title, HTML body with the key comment) and finds posts with the real matching policy."""

    def __init__(self, posts: list) -> None:
        self.posts = posts

    def publish(self, draft: Draft, dry_run: bool = False) -> PublishResult:
        if not dry_run:
            self.posts.append((draft.title, to_html(draft.body_markdown, draft.key)))
        return PublishResult(url=f"https://blog.example/{len(self.posts)}", remote_id=str(len(self.posts)),
                             verified=True)

    def find_published(self, draft: Draft) -> PublishResult | None:
        maybe = None
        for n, (title, body) in enumerate(self.posts, 1):
            kind = matches(draft, title, body)
            if kind == "key":
                return found(kind, f"https://blog.example/{n}", str(n))
            maybe = maybe or found(kind, f"https://blog.example/{n}", str(n))
        return maybe

    def artifacts(self, step: str) -> str:
        return ""


def _draft(i: int, key: str) -> Draft:
    return Draft(id=i, title="주간 장보기 기록", body_markdown="이번 주에도 장을 봤다. 우유와 달걀을 샀다.", tags=[],
                 key=key)


def test_matches_only_the_drafts_own_key():
    d27, d28 = _draft(27, "bb-27aaaa"), _draft(28, "bb-28bbbb")
    post27 = ("주간 장보기 기록", to_html(d27.body_markdown, d27.key))
    assert matches(d27, *post27) == "key"
    assert matches(d28, *post27) is None  # same title, same opening, another draft's key: never this draft's
    assert matches(d28, "주간 장보기 기록", to_html(d28.body_markdown)) == "possible"  # no key at all: ask a person
    assert matches(d28, "다른 제목", to_html(d28.body_markdown, d28.key)) is None


def test_retry_never_claims_another_same_title_drafts_post(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    posts: list = []
    blog = lambda platform: TitleBlog(posts)  # noqa: E731
    body = "이번 주에도 장을 봤다. 우유와 달걀을 샀다."
    d27 = _approved(cfg, db, "주간 장보기 기록", body, platforms=["tistory"])
    d28 = _approved(cfg, db, "주간 장보기 기록", body, platforms=["tistory"])
    ledger.mark_needs_login(db, d28, "tistory", "captcha shown")  # draft 28 met a captcha after an attempt
    db["publications"].update(ledger.get(db, d28, "tistory")["id"], {"attempts": 1})
    assert publish_job.run(cfg, db, publishers=blog) == {"published": 2}
    assert len(posts) == 2  # draft 28 went out itself instead of taking draft 27's URL
    assert ledger.get(db, d27, "tistory")["url"] != ledger.get(db, d28, "tistory")["url"]


def test_keyless_lookalike_goes_to_review_not_claimed(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    body = "이번 주에도 장을 봤다. 우유와 달걀을 샀다."
    posts: list = [("주간 장보기 기록", to_html(body))]  # posted by hand earlier: no blogbot key
    blog = lambda platform: TitleBlog(posts)  # noqa: E731
    d = _approved(cfg, db, "주간 장보기 기록", body, platforms=["tistory"])
    ledger.mark(db, ledger.begin(db, d, "tistory"), "failed", "TransientError: 503")
    counts = publish_job.run(cfg, db, publishers=blog)
    assert counts == {"uncertain": 1} and len(posts) == 1
    row = ledger.get(db, d, "tistory")
    assert row["state"] == "uncertain" and row["url"] == "https://blog.example/1"
    got = drafts.get(db, d)
    assert got["status"] == "pending_review" and "possibly already published" in got["review_reason"]
    db.execute("update publications set updated_at = '2020-01-01T00:00:00+00:00'")  # then a person approves
    drafts.set_status(db, d, "approved")
    assert publish_job.run(cfg, db, publishers=blog) == {"published": 1}
    assert len(posts) == 2 and drafts.get(db, d)["status"] == "published"


# --- publication state per (draft, platform) -------------------------------------------------------------------


def test_publish_one_platform_leaves_the_others_due(tmp_path):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    d = _approved(cfg, db, "글", platforms=["tistory", "naver"])
    jobs = FakeJobs()
    assert jobs.publish(cfg, db, platform="tistory") == {"published": 1}
    assert drafts.get(db, d)["status"] == "approved"  # naver is still due
    assert ledger.summary(db, d) == {"tistory": "published"}
    assert jobs.publish(cfg, db, platform="tistory") == {}  # nothing more there
    assert jobs.publish(cfg, db) == {"published": 1}
    assert drafts.get(db, d)["status"] == "published"
    assert sorted(_remote(cfg)) == sorted(ledger.idempotency_key(d, p) for p in ("tistory", "naver"))


@pytest.mark.parametrize("wait", [0.0, 0.5])
def test_lock_wait_is_bounded(tmp_path, wait):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    _approved(cfg, db, "글")
    proc = _spawn(tmp_path, 0, hold="publish")
    try:
        _wait_for(tmp_path / "publish.started", proc)
        t0 = time.monotonic()
        assert publish_job.run(cfg, db, publishers=lambda p: None, wait_s=wait) == {"busy": 1}
        assert wait <= time.monotonic() - t0 < wait + 5
    finally:
        (tmp_path / "publish.go").write_text("")
    assert _result(proc) == {"published": 3}


def test_cli_publish_while_another_run_holds_the_lock(tmp_path, cli):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    _approved(cfg, db, "글")
    proc = _spawn(tmp_path, 0, hold="publish")
    try:
        _wait_for(tmp_path / "publish.started", proc)
        r = cli("publish", "--wait", "0.3")
        assert r.code == 1 and "another publish run is working" in r.err and f"pid {proc.pid}" in r.err, r.err
        assert cli("publish", "--platform", "myspace").code == 2
    finally:
        (tmp_path / "publish.go").write_text("")
    assert _result(proc) == {"published": 3}


@pytest.mark.parametrize("counts,status", [
    ({"published": 2}, "ok"), ({"needs_login": 3}, "failed"), ({"failed": 3}, "failed"),
    ({"published": 1, "failed": 2}, "partial"), ({"uncertain": 1}, "partial"), ({"reconciled": 1}, "ok"),
    ({}, "ok")])
def test_run_status_follows_the_counts(counts, status):
    assert publish_job.outcome(counts) == status  # never "ok: failed=3"


def test_a_person_claims_the_lookalike_as_the_drafts_own_post(tmp_path, cli):
    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    body = "이번 주에도 장을 봤다. 우유와 달걀을 샀다."
    posts: list = [("주간 장보기 기록", to_html(body))]  # e.g. Naver dropped the key of the draft's own post
    blog = lambda platform: TitleBlog(posts)  # noqa: E731
    d = _approved(cfg, db, "주간 장보기 기록", body, platforms=["naver", "tistory"])
    ledger.mark(db, ledger.begin(db, d, "naver"), "failed", "killed after the click")
    assert publish_job.run(cfg, db, publishers=blog, platform="naver") == {"uncertain": 1}
    assert "--claim" in drafts.get(db, d)["review_reason"]
    assert cli("publish", str(d), "--claim").code == 2  # needs --platform
    r = cli("publish", str(d), "--platform", "naver", "--claim")
    assert r.code == 0 and "https://blog.example/1" in r.out, r.err
    assert ledger.get(db, d, "naver")["state"] == "published" and len(posts) == 1  # nothing posted
    assert drafts.get(db, d)["status"] == "approved"  # tistory is still due
    assert cli("publish", str(d), "--platform", "naver", "--claim").code == 2  # nothing uncertain any more
    assert publish_job.run(cfg, db, publishers=blog) == {"published": 1}
    assert drafts.get(db, d)["status"] == "published" and len(posts) == 2


def test_scheduler_publish_meets_a_cli_publish_in_another_process(tmp_path):
    from bot.shell.runner import Runner

    cfg = _config(tmp_path)
    db = open_db(cfg.data_path)
    ids = [_approved(cfg, db, f"글 {n}") for n in range(2)]
    proc = _spawn(tmp_path, 0, hold="publish")  # `blogbot publish` in another process, mid-post
    try:
        _wait_for(tmp_path / "publish.started", proc)
        assert Runner(cfg, registry=FakeJobs().registry(), isolate=[]).fire("publish") == "ok"
        row = db.execute("select status, details from runs where job = 'publish' order by id desc").fetchone()
        assert row[0] == "skipped" and f"pid {proc.pid}" in json.loads(row[1])["reason"]
    finally:
        (tmp_path / "publish.go").write_text("")
    assert _result(proc) == {"published": 6}
    assert sorted(_remote(cfg)) == sorted(ledger.idempotency_key(i, p) for i in ids for p in PLATS)
