"""Local-file ingestion: formats, encodings, incremental re-runs, dedupe, bad input, a kill mid-way."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MD = ("---\ntitle: 봄 산책\ndate: 2024-03-02\ntags: [산책, 봄]\ncategory: 일상\n---\n"
      "오늘은 망원동을 걸었당 ㅎㅎ\n\n벚꽃이 피었어용 🍀\n")


def posts(db) -> list[dict]:
    return list(db.query("select * from posts order by id"))


def test_markdown_front_matter(tmp_path: Path, cli, db) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.md").write_text(MD, encoding="utf-8")
    r = cli("ingest", "in")
    assert r.code == 0, r.err
    (p,) = posts(db)
    assert p["title"] == "봄 산책" and p["category"] == "일상" and p["tags"] == '["산책", "봄"]'
    assert p["published_at"].startswith("2024-03-02T00:00:00+09:00")
    assert p["body_markdown"] == "오늘은 망원동을 걸었당 ㅎㅎ\n\n벚꽃이 피었어용 🍀"


@pytest.mark.parametrize("encoding,prefix", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp949", b""),
                                              ("euc-kr", b""), ("utf-16", b"")])
def test_encodings(tmp_path: Path, cli, db, encoding: str, prefix: bytes) -> None:
    text = "옛날 블로그 글\n그때는 이렇게 썼었다."
    if encoding == "cp949":
        text += " 똠방각하 뷁!"  # characters outside EUC-KR that only CP949 encodes
    (tmp_path / "old.txt").write_bytes(prefix + text.encode(encoding))
    assert cli("ingest", "old.txt").code == 0
    (p,) = posts(db)
    assert p["title"] == "옛날 블로그 글" and p["body_markdown"].startswith("그때는 이렇게 썼었다.")


def test_html_is_converted_to_markdown(tmp_path: Path, cli, db) -> None:
    (tmp_path / "p.html").write_text(
        "<html><head><title>제목</title></head><body><article><h1>제목</h1><p>첫 <b>굵게</b> 문단</p>"
        "<ul><li>하나</li><li>둘</li></ul><script>x()</script></article></body></html>", encoding="utf-8")
    assert cli("ingest", "p.html").code == 0
    (p,) = posts(db)
    assert p["title"] == "제목"
    assert p["body_markdown"] == "첫 **굵게** 문단\n\n- 하나\n- 둘"


WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>blog</title>
<item><title>첫 글</title><link>https://b.example/1</link><wp:post_id>1</wp:post_id><wp:post_type>post</wp:post_type>
<wp:status>publish</wp:status><wp:post_date>2019-05-01 10:00:00</wp:post_date>
<category domain="category" nicename="d">일기</category><category domain="post_tag" nicename="t">태그</category>
<content:encoded><![CDATA[<p>워드프레스 <em>본문</em></p>]]></content:encoded></item>
<item><title>첨부</title><wp:post_id>2</wp:post_id><wp:post_type>attachment</wp:post_type><wp:status>inherit</wp:status>
<content:encoded><![CDATA[]]></content:encoded></item>
<item><title>초안</title><wp:post_id>3</wp:post_id><wp:post_type>post</wp:post_type><wp:status>draft</wp:status>
<content:encoded><![CDATA[<p>미완성</p>]]></content:encoded></item>
</channel></rss>"""


def test_wordpress_export(tmp_path: Path, cli, db) -> None:
    (tmp_path / "export.xml").write_text(WXR, encoding="utf-8")
    assert cli("ingest", "export.xml").code == 0
    (p,) = posts(db)
    assert (p["title"], p["body_markdown"], p["category"], p["url"]) == ("첫 글", "워드프레스 *본문*", "일기",
                                                                         "https://b.example/1")
    assert p["tags"] == '["태그"]' and p["published_at"].startswith("2019-05-01T10:00:00+09:00")


def test_rerun_is_incremental_edit_updates_and_dedupe(tmp_path: Path, cli, db) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.md").write_text(MD, encoding="utf-8")
    (d / "b.txt").write_text("다른 글\n본문 둘", encoding="utf-8")
    (d / "copy.md").write_text(MD.replace("\n\n", "\n\n\n"), encoding="utf-8")  # same text, other layout
    (d / "image.png").write_bytes(b"\x89PNG\x00\x00")  # not a known extension inside a folder: ignored
    assert cli("ingest", "in").code == 0
    assert len(posts(db)) == 2
    first_run = db.execute("select counts from runs order by id desc").fetchone()[0]
    assert '"duplicate": 1' in first_run and '"new": 2' in first_run
    assert cli("ingest", "in").code == 0
    assert '"unchanged": 3' in db.execute("select counts from runs order by id desc").fetchone()[0]
    (d / "a.md").write_text(MD.replace("벚꽃이", "목련이"), encoding="utf-8")
    assert cli("ingest", "in").code == 0
    rows = posts(db)
    assert len(rows) == 2
    assert "목련이" in rows[0]["body_markdown"] and rows[0]["updated_at"]
    assert '"updated": 1' in db.execute("select counts from runs order by id desc").fetchone()[0]


@pytest.mark.parametrize("name,data,msg", [
    ("empty.md", b"  \n", "empty file"),
    ("bin.md", b"abc\x00\x01\x02def", "binary file"),
    ("bad.txt", bytes([0x80, 0xFF, 0xFE, 0x81]) * 50 + b"\x00", "binary file"),
    ("undecodable.txt", bytes(range(0x80, 0xA0)) * 20, "undecodable text"),
    ("fm.md", "---\n- a\n- b\n---\n본문".encode(), "fm.md:2: front matter must be a mapping"),
    ("fmbad.md", "---\ntitle: [x\n---\n본문".encode(), "malformed front matter"),
    ("wxr.xml", b"<rss><channel><item>", "not a valid XML file"),
    ("big.md", b"x" * 2_000_001, "file too large"),
    ("doc.pdf", b"%PDF-1.4", "unsupported file type .pdf"),
])
def test_bad_input_exit_2_names_file_writes_nothing(tmp_path: Path, cli, db, name: str, data: bytes,
                                                     msg: str) -> None:
    (tmp_path / "good.md").write_text(MD, encoding="utf-8")
    (tmp_path / name).write_bytes(data)
    r = cli("ingest", "good.md", name)
    assert r.code == 2
    assert name in r.err and msg in r.err
    assert posts(db) == [] and db["files"].count == 0


def test_missing_path(cli, db) -> None:
    r = cli("ingest", "nowhere")
    assert r.code == 2 and "nowhere: no such file or folder" in r.err


def test_size_cap_is_configurable(tmp_path: Path, cli, db) -> None:
    (tmp_path / "config.yaml").write_text("data_dir: data\ningest:\n  max_file_bytes: 10\n")
    (tmp_path / "a.md").write_text(MD, encoding="utf-8")
    r = cli("ingest", "a.md")
    assert r.code == 2 and "ingest.max_file_bytes 10" in r.err


def test_kill_midway_leaves_consistent_db_and_rerun_completes(tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    n = 3000
    for i in range(n):
        (src / f"{i:05d}.md").write_text(f"---\ntitle: 글 {i}\n---\n본문 {i} 입니다 ㅎㅎ\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "bot.shell.cli", "ingest", str(src)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dbfile = tmp_path / "data" / "blogbot.db"
    wal = tmp_path / "data" / "blogbot.db-wal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 400_000:  # the run's one transaction is being written
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)  # polling the child's progress from the test, not waiting in product code
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"
    con = sqlite3.connect(dbfile)
    n_posts, n_files = con.execute("select (select count(*) from posts), (select count(*) from files)").fetchone()
    assert (n_posts, n_files) in ((0, 0), (n, n))  # the run is one transaction: all of it or nothing
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    con.close()
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    con = sqlite3.connect(dbfile)
    assert con.execute("select count(*) from posts").fetchone()[0] == n
    assert con.execute("select count(distinct source_id) from posts").fetchone()[0] == n


FIXTURE_PAGES = ROOT / "tests" / "fixtures" / "pages"


@pytest.mark.parametrize("platform,page,url", [
    ("tistory", "tistory/ramen4598-637.html", "https://ramen4598.tistory.com/637"),
    ("naver", "naver/se2-code-image-autolayout.html", "https://blog.naver.com/mym0404/221504285266"),
    ("naver", "naver/se4-quote-formula-code.html", "https://blog.naver.com/mym0404/222619228134"),
])
def test_saved_page_ingested_hashes_like_the_crawl(tmp_path: Path, cli, db, platform: str, page: str,
                                                   url: str) -> None:
    """One converter for every route: a post saved as .html and ingested is the post the crawl stores."""
    import importlib

    from bot.core.records import content_hash

    html = (FIXTURE_PAGES / page).read_text(encoding="utf-8")
    crawled = importlib.import_module(f"platforms.{platform}.read").parse_page(html, url)
    (tmp_path / "saved.html").write_text(html, encoding="utf-8")
    assert cli("ingest", "saved.html").code == 0
    (p,) = posts(db)
    assert p["content_hash"] == crawled.content_hash == content_hash(p["title"], p["body_markdown"])
    assert p["body_markdown"] == crawled.body_markdown


def test_generic_html_uses_the_shared_converter(tmp_path: Path) -> None:
    """A plain .html export and a Tistory page with the same body and title hash the same."""
    from platforms.files.read import read_file
    from platforms.markdown import to_markdown
    from platforms.tistory.read import parse_page

    body = ('<h2>소제목</h2><p>가 <b>굵게</b> 나 <a href="https://x.test/a_b">링크</a></p><pre class="python">'
            '<code>print(1)</code></pre><table><tr><td><b>칸</b></td><td>값</td></tr></table>'
            '<iframe src="https://www.youtube.com/embed/xyz" title="영상"></iframe>')
    (tmp_path / "post.html").write_text(f"<html><head><title>같은 글</title></head><body><article>{body}</article>"
                                        "</body></html>", encoding="utf-8")
    (ingested,) = read_file(tmp_path / "post.html")
    crawled = parse_page('<html><head><meta property="og:title" content="같은 글"></head><body><div '
                         f'class="tt_article_useless_p_margin">{body}</div><script>var T={{"entryId":3}};</script>'
                         "</body></html>", "https://me.tistory.com/3")
    assert ingested.body_markdown == to_markdown(body) == crawled.body_markdown
    assert ingested.content_hash == crawled.content_hash
    assert "[영상](https://www.youtube.com/embed/xyz)" in ingested.body_markdown
    assert "| **칸** | 값 |" in ingested.body_markdown


def test_saved_velog_page_is_ingested_as_its_markdown(tmp_path: Path) -> None:
    import json

    from platforms.files.read import read_file

    state = {"Post:1": {"id": "1", "title": "벨로그 글", "body": "## 제목\n\n본문 `코드`", "url_slug": "s",
                        "tags": {"type": "json", "json": ["a"]}, "user": {"type": "id", "id": "User:2"}},
             "User:2": {"username": "me"}}
    (tmp_path / "v.html").write_text(
        '<html><head><meta property="og:url" content="https://velog.io/@me/s"></head><body><div class="atom-one">'
        f"<h2>제목</h2></div><script>window.__APOLLO_STATE__={json.dumps(state)}</script></body></html>",
        encoding="utf-8")
    (p,) = read_file(tmp_path / "v.html")
    assert (p.title, p.body_markdown, p.tags, p.url) == ("벨로그 글", "## 제목\n\n본문 `코드`", ["a"], "https://velog.io/@me/s")
