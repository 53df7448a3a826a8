"""Rebuild bench/style/corpora/korean-real/ from clones of the source blogs (the provenance of that corpus).

    python bench/style/corpora/build_korean_real.py --clones DIR   # DIR/<owner>+<repo>/repo: git clones (bare is fine)

Per author: the posts whose prose (front matter, code blocks, images and HTML removed) has at least MIN_HANGUL Hangul
syllables, the longest MAX_POSTS of them; written as Markdown with a small front matter (title, date, tags). The
bodies are the authors' own text, with only site artefacts removed: Liquid/kramdown tags, HTML comments, <script>
blocks and <details> tables of contents. Each author's SOURCE.md names the repository,
the commit, the licence and what was changed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent / "korean-real"
MIN_HANGUL, MAX_POSTS = 600, 24

# folder: (owner/repo, posts path regex, author as credited, blog URL, licence line)
CHIRPY = ("CC BY 4.0 — every post of the site is published with the notice \"This post is licensed under CC BY 4.0 "
          "by the author.\" (the repository's `_data/locales/*.yml`, `copyright.license`, at the commit below)")
AUTHORS = {
    "hyunjinno": ("HyunJinNo/HyunJinNo.github.io", r"^_posts/.*\.md$", "HyunJinNo",
                  "https://hyunjinno.github.io", CHIRPY),
    "psmin1994": ("Psmin1994/Psmin1994.github.io", r"^_posts/.*\.md$", "Psmin1994",
                  "https://psmin1994.github.io", CHIRPY),
    "joe2357": ("Joe2357/Joe2357.github.io", r"^_posts/.*\.md$", "Joe2357", "https://joe2357.github.io", CHIRPY),
    "chankyu99": ("Chankyu99/Chankyu99.github.io", r"^_posts/.*\.md$", "Chankyu99",
                  "https://chankyu99.github.io", CHIRPY),
    "jonghyeon": ("ShapeLayer/note.jonghyeon.me", r"^_posts/.*\.md$", "Park, Jonghyeon (ShapeLayer)",
                  "https://note.jonghyeon.me",
                  "MIT — the repository's LICENSE, \"Copyright (c) 2022 Park, Jonghyeon\" (the author), covers the "
                  "repository including its posts"),
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def prose(md: str) -> str:
    md = re.sub(r"```.*?```", "", md, flags=re.S)
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", md)
    return re.sub(r"<[^>]+>", "", md)


def clean(body: str) -> str:
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S | re.I)
    body = re.sub(r"<details\b.*?</details>", "", body, flags=re.S | re.I)
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    body = re.sub(r"\{%.*?%\}", "", body, flags=re.S)
    body = re.sub(r"^\{:[^}\n]*\}[ \t]*$\n?", "", body, flags=re.M)
    body = re.sub(r"\{:[^}\n]*\}", "", body)
    return re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"


def split_front(text: str) -> tuple[dict, str]:
    m = re.match(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", text, re.S)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[m.end():]


def build(clones: Path, folder: str) -> int:
    repo_name, pattern, credit, url, licence = AUTHORS[folder]
    repo = clones / repo_name.replace("/", "+") / "repo"
    commit = git(repo, "rev-parse", "HEAD").strip()
    rows = []
    for path in git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines():
        if not re.search(pattern, path):
            continue
        meta, body = split_front(git(repo, "show", f"HEAD:{path}"))
        hangul = len(re.findall(r"[가-힣]", prose(body)))
        if hangul >= MIN_HANGUL:
            rows.append((hangul, path, meta, body))
    rows = sorted(rows, key=lambda r: (-r[0], r[1]))[:MAX_POSTS]
    out = OUT / folder
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.md"):
        if old.name != "SOURCE.md":
            old.unlink()
    listed = []
    if licence.startswith("MIT"):  # the MIT notice travels with the copied text
        (out / "LICENSE").write_text(git(repo, "show", "HEAD:LICENSE"), encoding="utf-8")
    for i, (_, path, meta, body) in enumerate(sorted(rows, key=lambda r: r[1])):
        stem = re.sub(r"[^0-9A-Za-z._-]+", "-", Path(path).stem).strip("-")[:60] or f"post-{i}"
        title = str(meta.get("title") or Path(path).stem).strip().strip('"')
        tags = meta.get("tags") or []
        tags = [str(t) for t in (tags if isinstance(tags, list) else str(tags).replace(",", " ").split())]
        front = {"title": title, "tags": tags}
        day = re.match(r"\d{4}-\d{2}-\d{2}", str(meta.get("date") or ""))
        if day:
            front["date"] = day.group(0)
        name = f"{i:02d}-{stem}.md"
        (out / name).write_text("---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n"
                                + clean(body), encoding="utf-8")
        listed.append(f"| {name} | `{path}` |")
    (out / "SOURCE.md").write_text("\n".join([
        f"# {folder}: {credit}", "",
        f"- Blog: {url}",
        f"- Repository: https://github.com/{repo_name} at commit `{commit}`",
        f"- Licence: {licence}",
        f"- Author: {credit}. The posts below are the author's; attribution: \"{credit}, {url}\".",
        f"- Selection: posts with at least {MIN_HANGUL} Hangul syllables of prose, the {MAX_POSTS} longest "
        "(bench/style/corpora/build_korean_real.py).",
        "- Changes: front matter reduced to title, tags and day; Liquid/kramdown tags, HTML comments, <script> and "
        "<details> blocks removed. The text is otherwise unchanged.", "",
        "| file | source path |", "|---|---|", *listed, ""]), encoding="utf-8")
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clones", type=Path, required=True)
    ap.add_argument("authors", nargs="*", default=list(AUTHORS))
    args = ap.parse_args()
    for folder in args.authors:
        print(folder, build(args.clones, folder))


if __name__ == "__main__":
    main()
