"""Bad-input matrix: each case is a config.yaml / topics.yaml / input file / command line a user could get wrong.
For every case it prints the exit code, the first error line and whether the store changed. A case passes when the
command exits 2 (refused up front) with a message naming the file and line (or the argument) and no row of the
store changed (a failed run in the run log is reported as such).

    .venv/bin/python bench/bad_input.py [--only SUBSTRING] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = "data_dir: data\ntopics_file: topics.yaml\n"


@dataclass
class Case:
    name: str
    config: str = ""  # appended to BASE
    topics: str | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    cmd: tuple[str, ...] = ("config", "check")
    expect: str = ""  # a regex the error must match (besides exit 2)
    mode: int | None = None  # chmod of secrets.env


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    # --- config.yaml: shape, keys, types ---
    add(Case("config: not a mapping", config="- a\n- b\n", expect=r"config.yaml:\d+"))
    add(Case("config: unknown top-level key", config="pubish: {}\n", expect=r"config.yaml:3 pubish: unknown key"))
    add(Case("config: unknown nested key", config="crawl: {timout_s: 3}\n", expect=r"crawl.timout_s: unknown key"))
    add(Case("config: malformed YAML", config="crawl: {timeout_s: 3\n", expect=r"config.yaml:\d+: malformed YAML"))
    add(Case("config: tab indentation", config="crawl:\n\ttimeout_s: 3\n", expect=r"config.yaml:\d+"))
    add(Case("config: duplicate top-level key", config="review: auto\nreview: manual\n",
             expect=r"config.yaml:4 review: the key is given twice \(lines 3 and 4\)"))
    add(Case("config: duplicate nested key", config="crawl:\n  retries: 1\n  retries: 2\n",
             expect=r"config.yaml:5 retries: the key is given twice"))
    add(Case("config: duplicate platform section", config="publish:\n  tistory: {}\n  tistory: {}\n",
             expect=r"tistory: the key is given twice"))
    add(Case("config: review value", config="review: sometimes\n",
             expect=r"config.yaml:3 review: .*'auto' or 'manual'"))
    add(Case("config: data_dir is a list", config="data_dir: [a]\n", expect=r"config.yaml:\d+ data_dir"))
    for key, bad in [("timeout_s", "-1"), ("timeout_s", "soon"), ("retries", "-2"), ("retries", "1.5"),
                     ("per_host_concurrency", "0"), ("min_delay_s", "-0.1"), ("respect_robots", "maybe"),
                     ("backoff_s", "[1]")]:
        add(Case(f"crawl.{key}: {bad}", config=f"crawl:\n  {key}: {bad}\n", expect=rf"config.yaml:4 crawl.{key}"))
    for tz in ("Mars/Olympus_Mons", "Asia/Seol", "KST+9", "utc+09:00", ""):
        add(Case(f"crawl.timezone: {tz!r}", config=f"crawl:\n  timezone: '{tz}'\n",
                 expect=r"config.yaml:4 crawl.timezone: unknown timezone .*valid: .*Asia/Seoul"))
    for tz in ("Mars/Olympus_Mons", "Seoul"):
        add(Case(f"browser.timezone: {tz!r}", config=f"browser:\n  timezone: {tz}\n",
                 expect=r"config.yaml:4 browser.timezone: unknown timezone"))
        add(Case(f"schedule.timezone: {tz!r}", config=f"schedule:\n  timezone: {tz}\n",
                 expect=r"config.yaml:4 schedule.timezone: unknown timezone"))
    add(Case("browser.locale: 12", config="browser:\n  locale: 12\n", expect=r"config.yaml:4 browser.locale"))
    for loc in ("xx-NOPE", "korean", "ko_KR_x", "KO-kr", "zz-ZZ"):
        add(Case(f"browser.locale: {loc!r}", config=f"browser:\n  locale: {loc}\n",
                 expect=r"config.yaml:4 browser.locale: .* is not a locale; valid: .*ko-KR"))
    for field_, bad in [("timeout_ms", "10"), ("navigation_timeout_ms", "0"), ("overlay_wait_ms", "-5"),
                        ("headless", "sometimes")]:
        add(Case(f"browser.{field_}: {bad}", config=f"browser:\n  {field_}: {bad}\n",
                 expect=rf"config.yaml:4 browser.{field_}"))
    for cron in ("0 25 * * *", "every day", "* * *", "61 * * * *"):
        add(Case(f"schedule.crawl.cron: {cron!r}", config=f"schedule:\n  crawl: {{cron: '{cron}'}}\n",
                 expect=r"config.yaml:4 schedule.crawl.cron: invalid cron expression"))
    # --- publish ---
    for name in ("myspace", "tistroy", "Naver", "wordpress"):
        add(Case(f"publish.{name}: unknown platform", config=f"publish:\n  {name}: {{enabled: true}}\n",
                 expect=rf'config.yaml:4 publish.{name}: no platform named "{name}".*known: naver'))
        add(Case(f"publish.default_platforms: [{name}]",
                 config=f"publish:\n  default_platforms:\n    - tistory\n    - {name}\n",
                 expect=rf'config.yaml:6 publish.default_platforms: no platform named "{name}".*known:'))
    for field_, bad in [("daily_cap", "-1"), ("min_interval_minutes", "-5"), ("visibility", "secret"),
                        ("mode", "robot"), ("enabled", "perhaps")]:
        add(Case(f"publish.tistory.{field_}: {bad}", config=f"publish:\n  tistory:\n    {field_}: {bad}\n",
                 expect=rf"config.yaml:5 publish.tistory.{field_}"))
    add(Case("publish.lock_wait_s: -1", config="publish:\n  lock_wait_s: -1\n", expect=r"publish.lock_wait_s"))
    # --- sources ---
    for url, hint in [("https://blog.naver.com/foo123", "platform: naver, blog_id: foo123"),
                      ("blog.naver.com/PostList.naver?blogId=bar", "platform: naver, blog_id: bar"),
                      ("https://myblog.tistory.com/", "platform: tistory, blog: myblog"),
                      ("https://velog.io/@kim/posts", "platform: velog, username: kim"),
                      ("https://example.com/blog", "platform: naver, blog_id: myblog")]:
        add(Case(f"sources: URL {url}", config=f"sources:\n  - {url}\n",
                 expect=r"config.yaml:4 sources.0: .* is an address.*" + re.escape("{" + hint)))
    add(Case("sources: URL as blog_id", config="sources:\n  - {platform: naver, blog_id: 'https://blog.naver.com/x'}\n",
             expect=r"platform: naver, blog_id: x"))
    add(Case("sources: unknown platform", config="sources:\n  - {platform: myspace, blog: x}\n",
             expect=r'sources.0: no platform named "myspace" to read from'))
    add(Case("sources: missing account", config="sources:\n  - {platform: tistory}\n",
             expect=r"sources.0: a tistory source needs `blog`"))
    # --- secrets ---
    add(Case("secrets_file missing", config="secrets_file: secrets.env\n",
             expect=r"config.yaml:3 secrets_file: .*does not exist"))
    add(Case("secrets_file mode 0644", config="secrets_file: secrets.env\n", files={"secrets.env": "A=b\n"},
             mode=0o644, expect=r"config.yaml:3 secrets_file: .*readable by others \(mode 644\).*chmod 600"))
    add(Case("secrets_file mode 0640", config="secrets_file: secrets.env\n", files={"secrets.env": "A=b\n"},
             mode=0o640, expect=r"readable by others \(mode 640\)"))
    add(Case("secrets_file is a folder", config="secrets_file: sec\n", files={"sec/x": ""},
             expect=r"secrets_file: .*is not a file"))
    add(Case("webhook format", config="webhooks:\n  - {url_secret: h, format: teams}\n",
             expect=r"config.yaml:4 webhooks.0.format"))
    add(Case("webhook event", config="webhooks:\n  - {url_secret: h, events: [exploded]}\n",
             expect=r"config.yaml:4 webhooks.0.events.0"))
    # --- topics.yaml ---
    tl = ("topics", "list")
    for date in ("2025-13-45", "2025-02-30", "2024-00-10", "2025-12-32"):
        add(Case(f"topics: not_before {date}", topics=f"- topic: 장보기\n  not_before: {date}\n", cmd=tl,
                 expect=rf"topics.yaml:2 not_before: '{date}' is not a date .*valid: YYYY-MM-DD"))
    add(Case("topics: not_before text", topics="- topic: 장보기\n  not_before: next week\n", cmd=tl,
             expect=r"topics.yaml:2 0.not_before"))
    for name in ("myspace", "tistroy", "files"):
        add(Case(f"topics: platforms [{name}]", topics=f"- topic: 장보기\n  platforms: [tistory, {name}]\n", cmd=tl,
                 expect=rf'topics.yaml:2 0.platforms: no platform named "{name}" to publish to; known:'))
    add(Case("topics: platforms a string", topics="- topic: 장보기\n  platforms: tistory\n", cmd=tl,
             expect=r"topics.yaml:2 0.platforms"))
    add(Case("topics: duplicate key", topics="- topic: 가\n  tags: [a]\n  tags: [b]\n", cmd=tl,
             expect=r"topics.yaml:3 tags: the key is given twice \(lines 2 and 3\)"))
    add(Case("topics: unknown key", topics="- topic: 가\n  tag: [a]\n", cmd=tl, expect=r"topics.yaml:2 0.tag: unknown"))
    add(Case("topics: a mapping, not a list", topics="topic: 가\n", cmd=tl, expect=r"topics.yaml:1: expected a list"))
    add(Case("topics: empty topic", topics="- topic: ''\n", cmd=tl, expect=r"topics.yaml:1 0.topic"))
    add(Case("topics: too long", topics="- " + "가" * 300 + "\n", cmd=tl, expect=r"topics.yaml:1 0.topic: .*too long"))
    add(Case("topics: a number", topics="- 42\n", cmd=tl, expect=r"topics.yaml:1 \[0\]: expected a topic"))
    add(Case("topics: malformed YAML", topics="- [가\n", cmd=tl, expect=r"topics.yaml:\d+: malformed YAML"))
    add(Case("topics: not UTF-8", topics=None, files={"topics.yaml": "- 장보기\n".encode("cp949")}, cmd=tl,
             expect=r"topics.yaml: not UTF-8"))
    add(Case("topics add --platforms myspace", cmd=("topics", "add", "새 글", "--platforms", "myspace"),
             expect=r'--platforms: no platform named "myspace"'))
    # --- files to ingest ---
    ing = ("ingest", "in")
    add(Case("ingest: unclosed front matter", files={"in/a.md": "---\ntitle: 봄\ndate: 2024-03-02\n\n본문\n"}, cmd=ing,
             expect=r"a.md:1: the front matter opened here is never closed"))
    add(Case("ingest: malformed front matter", files={"in/a.md": "---\ntitle: [봄\n---\n본문\n"}, cmd=ing,
             expect=r"a.md:\d+: malformed front matter"))
    add(Case("ingest: front matter a list", files={"in/a.md": "---\n- a\n---\n본문\n"}, cmd=ing,
             expect=r"a.md:2: front matter must be a mapping"))
    add(Case("ingest: missing path", cmd=("ingest", "nowhere"), expect=r"nowhere"))
    add(Case("ingest: bad date", files={"in/a.md": "---\ntitle: 봄\ndate: someday\n---\n본문\n"}, cmd=ing,
             expect=r"a.md"))
    # --- command lines ---
    add(Case("publish --platform myspace", cmd=("publish", "--platform", "myspace"),
             expect=r'--platform: no platform named "myspace"'))
    add(Case("publish 999 (no such draft)", cmd=("publish", "999"), expect=r"no draft with id 999"))
    add(Case("log --since yesterday", cmd=("log", "--since", "yesterday"), expect=r"--since: expected 2d"))
    add(Case("log 9999", cmd=("log", "9999"), expect=r"no run with id 9999"))
    add(Case("restore junk", files={"junk.db": os.urandom(4096)}, cmd=("restore", "junk.db", "--yes"),
             expect=r"junk.db: not a blogbot backup"))
    add(Case("restore missing", cmd=("restore", "none.db", "--yes"), expect=r"none.db: file not found"))
    add(Case("login myspace", cmd=("login", "myspace", "--check"), expect=r'no platform named "myspace"'))
    add(Case("crawl --platform myspace", cmd=("crawl", "--platform", "myspace"), expect=r"myspace"))
    add(Case("config file missing", cmd=("-c", "nope.yaml", "status"), expect=r"nope.yaml: file not found"))
    return out


def _digest(data: Path) -> tuple[str, str]:
    """(the store's rows except the run log, the run log's rows) as hashes."""
    import sqlite3

    con = sqlite3.connect(data / "blogbot.db")
    try:
        h, runs = hashlib.sha256(), hashlib.sha256()
        for (t,) in con.execute("select name from sqlite_master where type = 'table' order by name"):
            for r in con.execute(f'select * from "{t}" order by rowid'):
                (runs if t == "runs" else h).update(repr(r).encode())
        return h.hexdigest(), runs.hexdigest()
    finally:
        con.close()


def run_case(case: Case, root: Path) -> dict:
    from loguru import logger

    from bot.core.store import open_db
    from bot.shell.cli import main

    d = Path(tempfile.mkdtemp(dir=root))
    (d / "config.yaml").write_text(BASE, encoding="utf-8")
    open_db(d / "data").close()  # a store exists: did the bad input change it?
    (d / "config.yaml").write_text(BASE + case.config, encoding="utf-8")
    if case.topics is not None:
        (d / "topics.yaml").write_text(case.topics, encoding="utf-8")
    for rel, content in case.files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if case.mode is not None:
        os.chmod(d / "secrets.env", case.mode)
    before = _digest(d / "data")
    cwd = os.getcwd()
    os.chdir(d)
    os.environ["BLOGBOT_CONFIG"] = str(d / "config.yaml")
    err, out = io.StringIO(), io.StringIO()
    try:
        logger.remove()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(list(case.cmd))
            except Exception as exc:  # a traceback is a finding, not a crash of the bench
                code, _ = 99, err.write(f"TRACEBACK {type(exc).__name__}: {exc}\n")
    finally:
        os.chdir(cwd)
    text = err.getvalue()
    line = next((ln for ln in text.splitlines() if ln.startswith(("error:", "TRACEBACK"))), text.strip()[:200])
    after = _digest(d / "data")
    changed = "yes" if after[0] != before[0] else ("run log only" if after[1] != before[1] else "no")
    ok = code == 2 and changed != "yes" and bool(re.search(case.expect, text.replace("\n", " ")))
    return {"case": case.name, "exit": code, "message": line.removeprefix("error: "), "store_changed": changed,
            "ok": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run the cases whose name contains this")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    todo = [c for c in cases() if not args.only or args.only in c.name]
    with tempfile.TemporaryDirectory() as root:
        rows = [run_case(c, Path(root)) for c in todo]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        for r in rows:
            mark = "ok  " if r["ok"] else "FAIL"
            print(f"{mark} exit={r['exit']} store changed: {r['store_changed']:<12} {r['case']}\n"
                  f"      {r['message']}")
    bad = [r for r in rows if not r["ok"]]
    logged = sum(r["store_changed"] == "run log only" for r in rows)
    print(f"\n{len(rows)} cases: {len(rows) - len(bad)} refused up front (exit 2, file:line or argument named, "
          f"no data row changed; {logged} of them left a failed run in the run log), {len(bad)} not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
