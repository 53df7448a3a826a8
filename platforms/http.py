"""The polite HTTP client every reader uses: timeouts, bounded retries, per-host pacing, robots.txt, decoding."""

from __future__ import annotations

import email.utils
import re
import threading
import time
import urllib.robotparser
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from loguru import logger

from bot.core.config import CrawlConfig
from bot.core.errors import BlogbotError, ParseError, TransientError

MAX_REDIRECTS = 10
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


class PostGone(BlogbotError):
    """A definite answer that a post is not readable any more: deleted (404/410) or private."""

    def __init__(self, url: str, status: str = "deleted", detail: str = "") -> None:
        self.url, self.status = url, status
        super().__init__(f"{url}: post is {status}" + (f" ({detail})" if detail else ""))


class HttpRefused(BlogbotError):
    """A 4xx answer other than 404/410/429, a redirect loop, or a path robots.txt forbids. Not retried."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(f"{url}: {detail}")


@dataclass
class Page:
    """One answer: decoded text, final URL, validators for conditional requests."""

    url: str
    status: int
    content: bytes
    headers: dict[str, str]
    text: str = ""
    not_modified: bool = False

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ParseError(f"{self.url}: malformed JSON ({exc})") from None


def decode_body(content: bytes, content_type: str | None) -> str:
    """Bytes → text that survives mis-declared encodings: valid UTF-8 wins, then the declared charset."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = []
    m = re.search(r"charset=([\w\-]+)", content_type or "", re.I)
    if m:
        declared.append(m.group(1))
    m2 = META_CHARSET.search(content[:4096])
    if m2:
        declared.append(m2.group(1).decode("ascii", "ignore"))
    for enc in declared:
        if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
            continue
        try:
            return content.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    try:  # Korean blogs: the legacy encoding is CP949 (a superset of EUC-KR) far more often than anything else
        return content.decode("cp949")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(content).best()
    return str(best) if best is not None else content.decode("utf-8", errors="replace")


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass
class _Host:
    sem: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: float = 0.0
    robots: urllib.robotparser.RobotFileParser | None = None
    robots_checked: bool = False


class PoliteClient:
    """httpx with manners. `requests` counts requests per host (robots.txt included, under its own key)."""

    def __init__(self, cfg: CrawlConfig | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg or CrawlConfig()
        self.sleep = sleep
        self.requests: Counter[str] = Counter()
        self._hosts: dict[str, _Host] = {}
        self._hosts_lock = threading.Lock()
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.cfg.timeout_s), follow_redirects=False, transport=transport,
            headers={"User-Agent": self.cfg.user_agent, "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public -------------------------------------------------------------------------------------------

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None,
            etag: str | None = None, last_modified: str | None = None) -> Page:
        """GET with retries; 304 gives `Page.not_modified`; 404/410 raise PostGone; redirects followed."""
        hdrs = dict(headers or {})
        if etag:
            hdrs["If-None-Match"] = etag
        if last_modified:
            hdrs["If-Modified-Since"] = last_modified
        if params:
            url = str(httpx.URL(url, params=params))
        return self._request("GET", url, hdrs, None)

    def post_json(self, url: str, payload: dict, headers: dict | None = None) -> Page:
        hdrs = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
        return self._request("POST", url, hdrs, payload)

    # --- internals ----------------------------------------------------------------------------------------

    def _host(self, url: str) -> _Host:
        key = urlsplit(url).netloc
        with self._hosts_lock:
            if key not in self._hosts:
                self._hosts[key] = _Host(threading.BoundedSemaphore(self.cfg.per_host_concurrency))
            return self._hosts[key]

    def _pace(self, host: _Host, url: str) -> None:
        """The one politeness delay: at least `crawl.min_delay_s` between request starts to one host."""
        with host.lock:
            wait = host.last + self.cfg.min_delay_s - time.monotonic()
            if wait > 0:
                logger.debug("politeness delay {:.2f}s before {}", wait, url)
                self.sleep(wait)
            host.last = time.monotonic()

    def _allowed(self, url: str) -> bool:
        if not self.cfg.respect_robots:
            return True
        host = self._host(url)
        with host.lock:
            if not host.robots_checked:
                host.robots_checked = True
                parts = urlsplit(url)
                robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
                self.requests[f"{parts.netloc} robots.txt"] += 1
                try:
                    r = self._http.get(robots_url)
                    if r.status_code == 200:
                        rp = urllib.robotparser.RobotFileParser()
                        rp.parse(decode_body(r.content, r.headers.get("content-type")).splitlines())
                        host.robots = rp
                except httpx.HTTPError as exc:
                    logger.warning("robots.txt of {} unreadable ({}); proceeding", parts.netloc, exc)
        return host.robots is None or host.robots.can_fetch(self.cfg.user_agent, url)

    def _request(self, method: str, url: str, headers: dict, payload: dict | None) -> Page:
        seen: list[str] = []
        while True:
            if not self._allowed(url):
                raise HttpRefused(url, "robots.txt disallows this path (crawl.respect_robots)")
            resp = self._send(method, url, headers, payload)
            if resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                seen.append(url)
                url = urljoin(url, resp.headers["location"])
                if url in seen or len(seen) > MAX_REDIRECTS:
                    raise HttpRefused(url, f"redirect loop ({' -> '.join(seen[-4:])} -> {url})")
                if resp.status_code == 303:
                    method, payload = "GET", None
                continue
            break
        status = resp.status_code
        if status == 304:
            return Page(url, status, b"", dict(resp.headers), not_modified=True)
        if status in (404, 410):
            raise PostGone(url, "deleted", f"HTTP {status}")
        if status >= 400:
            raise HttpRefused(url, f"HTTP {status}")
        content = resp.content
        return Page(url, status, content, dict(resp.headers), decode_body(content, resp.headers.get("content-type")))

    def _send(self, method: str, url: str, headers: dict, payload: dict | None) -> httpx.Response:
        """One request with bounded retries on timeouts, connection errors, 5xx and 429."""
        host = self._host(url)
        attempts = self.cfg.retries + 1
        last_err = ""
        for attempt in range(attempts):
            with host.sem:
                self._pace(host, url)
                self.requests[urlsplit(url).netloc] += 1
                try:
                    resp = self._http.request(method, url, headers=headers, json=payload)
                    resp.read()
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    resp, last_err = None, f"{type(exc).__name__}: {exc}"
            if resp is not None and resp.status_code != 429 and resp.status_code < 500:
                return resp
            wait = min(self.cfg.max_backoff_s, self.cfg.backoff_s * (2 ** attempt))
            if resp is not None:
                last_err = f"HTTP {resp.status_code}"
                ra = retry_after_s(resp.headers.get("retry-after"))
                if ra is not None:
                    wait = min(self.cfg.max_backoff_s, max(wait, ra))
            if attempt + 1 < attempts:
                logger.info("{} {}: {}; retry {}/{} in {:.1f}s", method, url, last_err, attempt + 1,
                            attempts - 1, wait)
                self.sleep(wait)
        raise TransientError(f"{method} {url}: {last_err} after {attempts} attempts")


@dataclass
class Fetched:
    """What a reader's conditional fetch returns: a post, or `not_modified`, plus the page's validators."""

    post: Any = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
