"""Webhooks against a local receiver on 127.0.0.1: the four formats, event filters, failures that never stop a job."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from _scheduler_fakes import FakeBlog, FakeJobs
from loguru import logger

from bot.core import config
from bot.core.errors import AuthExpired
from bot.shell import notify
from bot.shell.runner import Runner
from jobs import publish as publish_job
from platforms import load_config


class Receiver:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, json.loads(body)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def logs():
    lines: list[str] = []
    hid = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(hid)


def cfg_hooks(tmp_path, hooks: str) -> config.Config:
    (tmp_path / "config.yaml").write_text(f"data_dir: data\ntopics_file: topics.yaml\nwebhooks:\n{hooks}",
                                          encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


HOOKS = """\
  - {url_secret: hook_json, format: json, events: [published, failed, needs_login, review]}
  - {url_secret: hook_slack, format: slack, events: [published]}
  - {url_secret: hook_discord, format: discord, events: [published, review]}
  - {url_secret: hook_tg, format: telegram, chat_id: "-100123", events: [published]}
"""


def test_four_formats_delivered(tmp_path, monkeypatch, receiver):
    for name in ("json", "slack", "discord", "tg"):
        monkeypatch.setenv(f"BLOGBOT_HOOK_{name.upper()}", f"{receiver.url}/{name}")
    cfg = cfg_hooks(tmp_path, HOOKS)
    assert notify.send(cfg, "published", "sandbox: 봄 산책 https://blog.example/1", {"draft_id": 1}) == 4
    got = dict(receiver.requests)
    assert got["/json"]["event"] == "published" and got["/json"]["data"] == {"draft_id": 1}
    assert got["/json"]["text"] == "sandbox: 봄 산책 https://blog.example/1" and got["/json"]["at"].startswith("20")
    assert got["/slack"] == {"text": "✅ blogbot published: sandbox: 봄 산책 https://blog.example/1"}
    assert got["/discord"] == {"content": "✅ blogbot published: sandbox: 봄 산책 https://blog.example/1"}
    assert got["/tg"]["chat_id"] == "-100123" and "봄 산책" in got["/tg"]["text"]
    receiver.requests.clear()
    assert notify.send(cfg, "review", "draft #2 waits", {}) == 2  # only the hooks subscribed to it
    assert sorted(p for p, _ in receiver.requests) == ["/discord", "/json"]
    with pytest.raises(ValueError, match="unknown event"):
        notify.send(cfg, "exploded", "x")


def test_failures_are_logged_never_fatal(tmp_path, monkeypatch, logs):
    monkeypatch.setattr(notify, "BACKOFF_S", 0.01)
    bad = Receiver(status=500)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        monkeypatch.setenv("BLOGBOT_H500", bad.url + "/x")
        monkeypatch.setenv("BLOGBOT_HDEAD", f"http://127.0.0.1:{dead_port}/token-SECRET")
        monkeypatch.setenv("BLOGBOT_HSLOW", f"http://127.0.0.1:{silent.getsockname()[1]}/token-SECRET")
        cfg = cfg_hooks(tmp_path, "  - {url_secret: h500}\n  - {url_secret: hdead}\n"
                                  "  - {url_secret: hslow, timeout_s: 0.3}\n  - {url_secret: hmissing}\n"
                                  "  - {url_secret: h500, format: telegram}\n")
        t0 = time.monotonic()
        assert notify.send(cfg, "failed", "job crawl failed") == 0
        assert time.monotonic() - t0 < 5
    finally:
        bad.close()
        silent.close()
    text = "\n".join(logs)
    assert "webhook h500 (json): delivery of 'failed' failed after 4 attempt(s): HTTP 500" in text
    assert len(bad.requests) == notify.ATTEMPTS  # a 5xx is retried, boundedly
    assert "webhook hdead (json): delivery of 'failed' failed after 4 attempt(s): ConnectError" in text
    # (the silent listener's backlog fills after the first try: later tries time out connecting)
    assert re.search(r"webhook hslow \(json\): delivery of 'failed' failed after 4 attempt\(s\): (Read|Connect)Timeout",
                     text)
    lost = notify.failed_deliveries(cfg)  # recorded, without the URL
    assert [x["hook"] for x in lost] == ["webhook h500 (json)", "webhook hdead (json)", "webhook hslow (json)"]
    assert all(x["event"] == "failed" and x["attempts"] == 4 for x in lost)
    assert "token-SECRET" not in (cfg.data_path / "logs" / notify.FAILED_LOG).read_text()
    assert "the secret hmissing is not set" in text
    assert "a telegram webhook needs `chat_id`" in text
    assert "token-SECRET" not in text  # the URL is a secret: never logged


class Flaky(Receiver):
    """Answers the given statuses in turn, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = list(statuses)
        outer = self
        handler = self.server.RequestHandlerClass
        base = handler.do_POST

        def do_post(h) -> None:
            outer.status = outer.statuses.pop(0) if outer.statuses else 200
            base(h)

        handler.do_POST = do_post


@pytest.mark.parametrize("statuses,delivered,requests", [([503, 429], 1, 3), ([404], 0, 1), ([500] * 9, 0, 4)])
def test_transient_failures_are_retried_with_backoff(tmp_path, monkeypatch, statuses, delivered, requests):
    monkeypatch.setattr(notify, "BACKOFF_S", 0.05)
    waits: list[float] = []
    monkeypatch.setattr(notify.time, "sleep", lambda s: waits.append(s))
    r = Flaky(statuses)
    try:
        monkeypatch.setenv("BLOGBOT_HOOK", r.url + "/x")
        cfg = cfg_hooks(tmp_path, "  - {url_secret: hook}\n")
        assert notify.send(cfg, "published", "posted") == delivered
    finally:
        r.close()
    assert len(r.requests) == requests
    assert waits == [0.05 * 2 ** i for i in range(requests - 1)]  # exponential backoff between tries
    assert len(notify.failed_deliveries(cfg)) == 1 - delivered


def test_scheduler_events_reach_the_receiver(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("BLOGBOT_HOOK", receiver.url + "/all")
    cfg = cfg_hooks(tmp_path, "  - {url_secret: hook, events: [published, failed, needs_login, review]}\n")
    (tmp_path / "topics.yaml").write_text("- 가 주제\n- 나 review 주제\n", encoding="utf-8")
    fakes = FakeJobs()
    runner = Runner(cfg, registry=fakes.registry(), isolate=[])
    runner.fire("draft")
    runner.fire("publish")
    runner.fire("draft")  # goes to review
    fakes.fail.add("crawl")
    runner.fire("crawl")
    runner.open_db()["drafts"].update(2, {"status": "approved"})

    class LoggedOut(FakeBlog):
        def publish(self, draft, dry_run=False):
            raise AuthExpired(self.name, "login page shown")

    runner.registry["publish"] = lambda cfg, db, **kw: publish_job.run(
        cfg, db, publishers=lambda p: LoggedOut(fakes, cfg, p), **kw)
    runner.fire("publish")
    events = [(b["event"], b["text"]) for _, b in receiver.requests]
    assert [e for e, _ in events] == ["published", "review", "failed", "needs_login"]
    assert "https://blog.example/1" in events[0][1]
    assert "나 review 주제" in events[1][1]
    assert "job crawl failed: TransientError: fake: the blog answered 503" in events[2][1]
    assert "blogbot login sandbox" in events[3][1]


def test_webhook_down_does_not_fail_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGBOT_HOOK", "http://127.0.0.1:9/nothing")
    cfg = cfg_hooks(tmp_path, "  - {url_secret: hook, events: [published], timeout_s: 0.5}\n")
    (tmp_path / "topics.yaml").write_text("- 가 주제\n", encoding="utf-8")
    runner = Runner(cfg, registry=FakeJobs().registry(), isolate=[])
    assert runner.fire("draft") == "ok" and runner.fire("publish") == "ok"
