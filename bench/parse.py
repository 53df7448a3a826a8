"""Reading benchmark on real saved pages (tests/fixtures/pages/ and ../shared/fixtures/platforms/): for each page the
similarity of the piped `blogbot parse` output to its hand-checked expected Markdown, the share of its image and link
URLs kept intact, the code blocks kept, the parse time; then pages/s over all of them.
Run: .venv/bin/python bench/parse.py [--seconds S] [--json]. Targets: similarity >= 0.93, URLs >= 90 %, no code block
lost, >= 200 pages/s."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGE_DIRS = (ROOT / "tests" / "fixtures" / "pages", ROOT.parent / "shared" / "fixtures" / "platforms")
FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)
URL = re.compile(r"\]\((\S+?)\)(?=\s|$|[^\w)])|<(https?://[^>\s]+)>")
FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
TARGETS = {"similarity": 0.93, "urls": 0.90, "pages_per_s": 200}


def pages() -> list[tuple[str, Path, Path]]:
    """(platform, page, expected .md) of every saved page that has an expected Markdown beside it."""
    out = []
    for base in PAGE_DIRS:
        for exp in sorted(base.glob("*/*.expected.md")) if base.is_dir() else []:
            page = next((p for p in (exp.with_name(exp.name.replace(".expected.md", ext)) for ext in (".html", ".json"))
                         if p.is_file()), None)
            if page is not None:
                out.append((exp.parent.name, page, exp))
    return out


def split(text: str) -> tuple[dict, str]:
    """(front matter, body) of a Markdown document."""
    import yaml

    m = FRONT.match(text)
    return (yaml.safe_load(m.group(1)) or {}, text[m.end():].strip()) if m else ({}, text.strip())


def urls(md: str) -> list[str]:
    return [a or b for a, b in URL.findall(md)]


def code_blocks(md: str) -> list[str]:
    return [m.group(2).strip("\n") for m in FENCE.finditer(md)]


def measure(got: str, expected: str) -> dict:
    """Similarity, URLs intact and code blocks kept of one page's body against its expected body."""
    want_urls, want_code = urls(expected), code_blocks(expected)
    return {
        "similarity": round(difflib.SequenceMatcher(None, got, expected, autojunk=False).ratio(), 4),
        "urls": f"{sum(u in got for u in want_urls)}/{len(want_urls)}",
        "urls_ratio": round(sum(u in got for u in want_urls) / len(want_urls), 4) if want_urls else 1.0,
        "code_kept": f"{sum(c in got for c in want_code)}/{len(want_code)}",
        "code_lost": sum(c not in got for c in want_code),
    }


def cli_output(platform: str, page: Path, url: str) -> str:
    """What `blogbot parse PLATFORM PAGE --url URL > file` writes (a real subprocess, stdout a pipe)."""
    r = subprocess.run([sys.executable, "-m", "bot.shell.cli", "parse", platform, str(page), "--url", url],
                       cwd=ROOT, capture_output=True, text=True, encoding="utf-8", check=False,
                       env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    if r.returncode:
        raise RuntimeError(f"blogbot parse {platform} {page}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
    return r.stdout


def throughput(items: list[tuple[str, str, str]], seconds: float) -> tuple[float, float]:
    """(pages/s of CPU time, pages/s of wall time) of the parsers over the pages, one core. The CPU figure is the
    parser's own speed; the wall figure also counts whatever else the machine is running."""
    import importlib

    parsers = {p: importlib.import_module(f"platforms.{p}.read").parse_page for p, _, _ in items}
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for plat, text, url in items:
            parsers[plat](text, url)
            n += 1
    return n / (time.process_time() - cpu), n / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to time the parsers")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    import importlib

    rows, items, ok = [], [], True
    for platform, page, exp in pages():
        meta, want = split(exp.read_text(encoding="utf-8"))
        url = str(meta.get("source") or page.resolve().as_uri())
        text = page.read_text(encoding="utf-8")
        parse = importlib.import_module(f"platforms.{platform}.read").parse_page
        t0 = time.process_time()
        parse(text, url)
        ms = (time.process_time() - t0) * 1000
        got = split(cli_output(platform, page, url))[1]
        m = measure(got, want)
        good = (m["similarity"] >= TARGETS["similarity"] and m["urls_ratio"] >= TARGETS["urls"]
                and m["code_lost"] == 0)
        ok &= good
        rows.append({"page": f"{platform}/{page.name}", "ms": round(ms, 2), **m, "ok": good})
        items.append((platform, text, url))
    rate, wall = throughput(items, args.seconds) if items else (0.0, 0.0)
    ok &= rate >= TARGETS["pages_per_s"]
    result = {"pages": rows, "pages_per_s": round(rate, 1), "pages_per_s_wall": round(wall, 1), "targets": TARGETS,
              "all_ok": ok}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            print(f"{r['page']:55s} sim {r['similarity']:.3f}  urls {r['urls']:>7s}  code {r['code_kept']:>5s}  "
                  f"{r['ms']:7.2f} ms  {'ok' if r['ok'] else 'BELOW TARGET'}")
        print(f"{len(rows)} pages, {rate:.0f} pages/s of CPU time ({wall:.0f} of wall time; one core, parse only); "
              f"all targets met: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
