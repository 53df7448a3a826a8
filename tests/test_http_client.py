"""The polite client: retries and backoff, Retry-After, pacing, concurrency, robots.txt, redirects, encodings."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from bot.core.config import CrawlConfig
from bot.core.errors import TransientError
from platforms.http import HttpRefused, PoliteClient, PostGone, decode_body, retry_after_s


def _client(handler, sleeps: list | None = None, **cfg) -> PoliteClient:
    base = dict(min_delay_s=0, retries=3, backoff_s=1.0, max_backoff_s=60, respect_robots=False)
    base.update(cfg)
    return PoliteClient(CrawlConfig(**base), transport=httpx.MockTransport(handler),
                        sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def test_retries_5xx_with_exponential_backoff_then_succeeds() -> None:
    calls, sleeps = [], []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(503) if len(calls) < 3 else httpx.Response(200, text="ok")

    page = _client(handler, sleeps).get("https://a.test/x")
    assert page.text == "ok" and len(calls) == 3
    assert sleeps == [1.0, 2.0]


def test_500_storm_is_bounded_and_ends_in_transient_error() -> None:
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(500)

    with pytest.raises(TransientError, match="HTTP 500 after 4 attempts"):
        _client(handler).get("https://a.test/x")
    assert len(calls) == 4


def test_429_honours_retry_after_and_timeouts_are_retried() -> None:
    sleeps: list[float] = []
    state = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        if state["n"] == 2:
            raise httpx.ReadTimeout("slow", request=req)
        return httpx.Response(200, text="fine")

    assert _client(handler, sleeps).get("https://a.test/x").text == "fine"
    assert sleeps == [7.0, 2.0]
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_not_found_and_forbidden_map_to_outcomes() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if req.url.path == "/gone" else 403)

    c = _client(handler)
    with pytest.raises(PostGone) as gone:
        c.get("https://a.test/gone")
    assert gone.value.status == "deleted"
    with pytest.raises(HttpRefused, match="HTTP 403"):
        c.get("https://a.test/other")


def test_redirect_loop_is_detected() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        nxt = "/b" if req.url.path == "/a" else "/a"
        return httpx.Response(302, headers={"Location": nxt})

    with pytest.raises(HttpRefused, match="redirect loop"):
        _client(handler).get("https://a.test/a")


def test_user_agent_and_conditional_requests() -> None:
    seen = {}

    def handler(req: httpx.Request) -> httpx.Response:
        seen.update(req.headers)
        if req.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, text="body",
                              headers={"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})

    c = _client(handler, user_agent="blogbot-test/1")
    first = c.get("https://a.test/p")
    assert first.etag == '"v1"' and first.last_modified and seen["user-agent"] == "blogbot-test/1"
    again = c.get("https://a.test/p", etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and seen["if-modified-since"] == first.last_modified


def test_robots_txt_is_honoured_by_default() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/robots.txt":
            return httpx.Response(200, text="User-agent: *\nDisallow: /private\n")
        return httpx.Response(200, text="ok")

    c = _client(handler, respect_robots=True)
    assert c.get("https://a.test/public").text == "ok"
    with pytest.raises(HttpRefused, match="robots.txt"):
        c.get("https://a.test/private/1")
    assert c.requests["a.test robots.txt"] == 1  # fetched once per host
    assert _client(handler, respect_robots=False).get("https://a.test/private/1").text == "ok"


def test_min_delay_paces_requests_to_one_host() -> None:
    stamps = []

    def handler(req: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return httpx.Response(200)

    c = PoliteClient(CrawlConfig(min_delay_s=0.05, respect_robots=False), transport=httpx.MockTransport(handler))
    for _ in range(3):
        c.get("https://a.test/x")
    assert all(b - a >= 0.045 for a, b in zip(stamps, stamps[1:], strict=False))


def test_per_host_concurrency_limit() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def handler(req: httpx.Request) -> httpx.Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.03)
        with lock:
            active[0] -= 1
        return httpx.Response(200)

    c = _client(handler, per_host_concurrency=2)
    threads = [threading.Thread(target=c.get, args=("https://a.test/x",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_mis_declared_encodings_are_decoded() -> None:
    text = "<html><body>한글 본문</body></html>"
    assert decode_body(text.encode("utf-8"), "text/html; charset=iso-8859-1") == text  # UTF-8 under a wrong label
    assert decode_body(text.encode("euc-kr"), "text/html; charset=utf-8") == text  # EUC-KR under a UTF-8 label
    meta = '<meta charset="euc-kr"><p>안녕하세요</p>'
    assert decode_body(meta.encode("euc-kr"), None) == meta
