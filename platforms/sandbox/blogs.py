"""The read side of simulated blogs: renderers of each platform's public pages and a Flask app serving them.

Storage-agnostic. `make_blog_app(store, faults)` serves, for every platform, what the readers parse:
  Naver   GET /api/blogs/<blogId>/post-list?page=&itemCount=   GET /PostView.naver?blogId=&logNo=
  Tistory GET /tistory/<blog>/rss | /sitemap.xml | /?page=n | /<id> | /entry/<slug>
          (Source.base_url = <server>/tistory/<blog>)
  Velog   POST /graphql  (posts(username, cursor, limit), post(username, url_slug))
  all     GET /robots.txt
`store` is any object with two methods (SimStore below is the in-memory one; the publishing sandbox passes its own):
  store.posts(platform: str, account: str) -> list[SimPost]   # newest first, private ones included, deleted absent
  store.get(platform: str, account: str, key: str) -> SimPost | None   # key = SimPost.id or SimPost.slug
Faults (`Faults`) make the server misbehave per post key or globally; `faults.requests` counts what was asked.
`serve(app)` runs any Flask app on 127.0.0.1, port 0, in a thread: `with serve(app) as base_url: ...`.
The Flask side (`make_blog_app`) lives in blogs_app.py, the Naver renderers in blogs_naver.py; server.py serves.
"""

from __future__ import annotations

import html as H
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


@dataclass
class SimPost:
    """One post of a simulated blog, as plain data."""

    id: str
    title: str
    body_markdown: str
    published_at: datetime
    slug: str = ""
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    updated_at: datetime | None = None
    visibility: str = "public"  # public | private
    editor: str = "se4"  # Naver only: se4 | se3 | se2


@dataclass
class Faults:
    """Knobs: `by_key["platform:key" or "key"] = fault` (404, deleted, private, login, captcha, nobody, truncated,
    euckr, loop, slow, 500, badjson, gqlerror); `storm` answers 500 to everything; `requests` counts by route."""

    by_key: dict[str, str] = field(default_factory=dict)
    storm: bool = False
    slow_s: float = 3.0
    list_fault: str | None = None  # a fault applied to listing endpoints (badjson, gqlerror, 500)
    tistory_sitemap: bool = True
    tistory_slug_urls: bool = False  # permalinks /entry/<slug> instead of /<id>
    etags: bool = True  # post pages carry an ETag and answer If-None-Match with 304
    tistory_rss_count: int = 10
    robots: str = "User-agent: *\nAllow: /\n"
    requests: Counter = field(default_factory=Counter)


class SimStore:
    """In-memory posts per (platform, account), with edits, deletions and visibility changes between crawls."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, SimPost]] = {}

    def add(self, platform: str, account: str, post: SimPost) -> None:
        self.data.setdefault((platform, account), {})[post.id] = post

    def posts(self, platform: str, account: str) -> list[SimPost]:
        return sorted(self.data.get((platform, account), {}).values(), key=lambda p: (p.published_at, int(p.id)),
                      reverse=True)

    def get(self, platform: str, account: str, key: str) -> SimPost | None:
        posts = self.data.get((platform, account), {})
        return posts.get(key) or next((p for p in posts.values() if p.slug == key), None)

    def edit(self, platform: str, account: str, key: str, **changes: object) -> SimPost:
        p = self.get(platform, account, key)
        assert p is not None, key
        for k, v in changes.items():
            setattr(p, k, v)
        p.updated_at = (p.updated_at or p.published_at) + timedelta(minutes=5)
        return p

    def delete(self, platform: str, account: str, key: str) -> None:
        p = self.get(platform, account, key)
        if p is not None:
            del self.data[(platform, account)][p.id]


# --- generated content in the shapes of the real pages --------------------------------------------------------

WORDS = ("오늘 아침 커피 한 잔 마시며 블로그 글을 정리했다 생각보다 시간이 오래 걸렸지만 결과는 만족스럽다 "
         "알고리즘 문제 풀이 스택 큐 그래프 탐색 여행 제주 바다 바람 맛집 국수 라면 비 오는 날 산책 도서관 "
         "공부 시험 준비 친구 주말 영화 리뷰 카메라 사진 기록 하루 마무리").split()
LANGS = ("python", "cpp", "javascript", "java", "")


def _sentence(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(5, 12))
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"**{words[i]}**"
    return " ".join(words) + rng.choice((".", "다.", "요.", "!"))


def sample_markdown(rng: random.Random, lists: bool = True) -> str:
    """A post body mixing what real posts hold: paragraphs, headings, code, quotes, lists, tables, links, images."""
    blocks = [_sentence(rng) for _ in range(rng.randint(1, 3))]
    for _ in range(rng.randint(2, 6)):
        kind = rng.choice(("p", "p", "h", "code", "quote", "list", "table", "img", "link", "hr"))
        if kind == "h":
            blocks.append(f"## {' '.join(rng.sample(WORDS, 3))}")
        elif kind == "code":
            blocks.append(f"```{rng.choice(LANGS)}\nint n = {rng.randint(1, 99)};\nprint(n * 2)\n```")
        elif kind == "quote":
            blocks.append(f"> {_sentence(rng)}")
        elif kind == "list" and lists:
            blocks.append("\n".join(f"- {' '.join(rng.sample(WORDS, 3))}" for _ in range(3)))
        elif kind == "table":
            blocks.append(f"| 항목 | 값 |\n| --- | --- |\n| {rng.choice(WORDS)} | {rng.randint(1, 9)} |")
        elif kind == "img":
            blocks.append(f"![](https://example.invalid/img/{rng.randint(1, 999)}.png)")
        elif kind == "link":
            blocks.append(f"[{rng.choice(WORDS)} 참고](https://example.invalid/ref/{rng.randint(1, 99)})")
        elif kind == "hr":
            blocks.append("---")
        else:
            blocks.append(_sentence(rng))
    return "\n\n".join(blocks)


def generate(store: SimStore, platform: str, account: str, n: int, seed: int = 0) -> list[SimPost]:
    """Fill `store` with n posts (newest has the highest id); Naver posts cycle through the three editors."""
    rng = random.Random(f"{platform}:{account}:{seed}")
    start = datetime(2019, 1, 1, 9, 0, tzinfo=KST)
    out = []
    for i in range(1, n + 1):
        pid = str(220000000000 + i) if platform == "naver" else str(i)
        title = f"{' '.join(rng.sample(WORDS, 3))} {i}"
        editor = ("se4", "se3", "se2")[i % 3] if platform == "naver" else "se4"
        p = SimPost(id=pid, title=title, body_markdown=sample_markdown(rng, lists=platform != "naver"),
                    published_at=start + timedelta(hours=7 * i), slug=f"{rng.choice(WORDS)}-글-{i}",
                    tags=rng.sample(WORDS, 2), category=rng.choice(("일상", "개발", "여행")), editor=editor)
        store.add(platform, account, p)
        out.append(p)
    return out


# --- renderers: plain records → the platforms' public shapes ------------------------------------------------

def md_html(md: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(md)


def tistory_path(p: SimPost, slug_urls: bool) -> str:
    return f"/entry/{quote(p.slug)}" if slug_urls else f"/{p.id}"


def render_tistory_post(p: SimPost, blog: str, skin: int = 0) -> str:
    """A post page; the skin shell alternates, the editor body and meta tags stay the same."""
    html = re.sub(r'<pre><code class="language-([\w+#-]+)">',
                  r'<pre data-ke-language="\1" data-ke-type="codeblock"><code>',
                  md_html(p.body_markdown)).replace("<p>", '<p data-ke-size="size16">')
    t, cfg = H.escape(p.title), json.dumps({"entryId": int(p.id), "categoryLabel": p.category}, ensure_ascii=False)
    tags = ", ".join(f'<a href="/tag/{quote(x)}" rel="tag">{H.escape(x)}</a>' for x in p.tags)
    body = (f'<div data-tistory-react-app="NaverAd"></div>'
            f'<div class="tt_article_useless_p_margin contents_style">{html}'
            f'</div><div class="another_category"><h4><a href="#">{H.escape(p.category or "")}</a></h4></div>'
            f'<div class="container_postbtn"><button>공감</button></div>')
    shell = (f'<div class="area_view">{body}</div>' if skin % 2 == 0
             else f'<article class="post"><div class="entry-content">{body}</div></article>')
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta property="og:title" content="{t}"/>'
            f'<meta property="og:url" content="https://{blog}.tistory.com/{p.id}"/>'
            f'<meta property="article:published_time" content="{p.published_at.isoformat()}"/>'
            f'<script>window.T={{config:{cfg}}};</script></head><body>{shell}'
            f'<div class="area_tag">{tags}</div></body></html>')


def render_tistory_rss(posts: list[SimPost], base: str, slug_urls: bool) -> str:
    items = "".join(f"<item><title>{H.escape(p.title)}</title><link>{base}{tistory_path(p, slug_urls)}</link>"
                    f"<description>{H.escape(md_html(p.body_markdown))}</description>"
                    f"<pubDate>{format_datetime(p.published_at)}</pubDate></item>" for p in posts)
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><generator>TISTORY</generator>'
            f"{items}</channel></rss>")


def render_tistory_sitemap(posts: list[SimPost], base: str, slug_urls: bool) -> str:
    urls = "".join(f"<url><loc>{base}{tistory_path(p, slug_urls)}</loc>"
                   f"<lastmod>{(p.updated_at or p.published_at).isoformat()}</lastmod></url>" for p in posts)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def render_tistory_list(posts: list[SimPost], page: int, base_path: str, slug_urls: bool, per: int = 10) -> str:
    links = "".join(f'<li><a class="link_category" href="{base_path}{tistory_path(p, slug_urls)}">'
                    f"{H.escape(p.title)}</a></li>" for p in posts[(page - 1) * per: page * per])
    return f'<html><body><a href="{base_path}/category">분류 전체보기</a><ul>{links}</ul></body></html>'


def velog_post_json(p: SimPost | None, username: str) -> dict:
    if p is None:
        return {"data": {"post": None}}
    return {"data": {"post": {
        "id": f"velog-{p.id}", "title": p.title, "released_at": p.published_at.isoformat(),
        "updated_at": (p.updated_at or p.published_at).isoformat(), "tags": p.tags, "body": p.body_markdown,
        "is_markdown": True, "is_private": p.visibility != "public", "is_temp": False, "url_slug": p.slug,
        "user": {"id": "u1", "username": username},
        "series": {"id": "s1", "name": p.category} if p.category else None}}}


def velog_posts_json(posts: list[SimPost], cursor: str | None, limit: int) -> dict:
    if limit > 100:
        return {"errors": [{"message": "Max limit is 100"}], "data": {"posts": None}}
    ids = [f"velog-{p.id}" for p in posts]
    if cursor and cursor not in ids:
        return {"errors": [{"message": "invalid cursor"}], "data": {"posts": None}}
    start = ids.index(cursor) + 1 if cursor else 0
    return {"data": {"posts": [{"id": f"velog-{p.id}", "title": p.title, "url_slug": p.slug,
                                "released_at": p.published_at.isoformat(), "tags": p.tags, "is_private": False,
                                "updated_at": (p.updated_at or p.published_at).isoformat()}
                               for p in posts[start:start + limit] if p.visibility == "public"]}}
