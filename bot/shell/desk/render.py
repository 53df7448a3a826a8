"""What the desk shows of a draft: its post as each platform will show it (the HTML the publisher sends, in a frame
styled like that platform's post view), the edit's diff against the generated original, the score in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

# The look of each platform's post view, approximated with local CSS (static/platforms.css): the class of the frame,
# the platform's name as people say it, and the blog's usual fonts.
PLATFORM_LOOK = {
    "naver": {"label": "네이버 블로그", "css": "pv-naver"},
    "tistory": {"label": "티스토리", "css": "pv-tistory"},
    "velog": {"label": "velog", "css": "pv-velog"},
}


def post_html(markdown: str) -> Markup:
    """The body as the publishers send it (platforms.publishkit.to_html: CommonMark, tables, no raw HTML)."""
    from platforms.publishkit import to_html

    return Markup(to_html(markdown or ""))


def previews(draft: dict[str, Any], targets: list[str]) -> list[dict[str, Any]]:
    """One preview per target platform: {platform, label, css, html}."""
    html = post_html(draft.get("body_markdown") or "")
    out = []
    for p in targets or ["naver"]:
        look = PLATFORM_LOOK.get(p, {"label": p, "css": "pv-plain"})
        out.append({"platform": p, "label": look["label"], "css": look["css"], "html": html})
    return out


def diff_lines(diff: str | None) -> list[tuple[str, str]]:
    """review.edit_diff's unified diff (generated original → current text) as [(kind, line)], kind in ' ', '+', '-',
    '@'; [] when the draft was never edited."""
    out = []
    for line in (diff or "").splitlines():
        if line.startswith(("---", "+++")):
            continue
        out.append((line[:1] if line[:1] in "+-@" else " ", line))
    return out


def fidelity(score: dict[str, Any] | None) -> str:
    """The headline style figure (the one `blogbot review show` prints: derived from the distance) and what it
    means in words; "" when the draft has no score."""
    from bot.voice.style import in_words

    if not isinstance(score, dict):
        return ""
    value = score.get("style", score.get("fidelity"))
    if value is None:
        return ""
    words = in_words(score)
    return f"{value:.0%}" + (f" — {words}" if words else "")


def gate_counts(gates: list[dict[str, Any]] | None) -> tuple[int, int]:
    gates = gates or []
    return sum(1 for x in gates if x.get("passed")), len(gates)


def screenshot(cfg: Any, draft_id: int, platform: str) -> Path | None:
    """The newest dry-run screenshot of the real editor for this draft and platform, when the publisher kept one
    (<data_dir>/artifacts/<driver>/<time>-dry-run-<platform>-draft-<id>/screenshot.png)."""
    root = cfg.data_path / "artifacts"
    if not root.is_dir():
        return None
    mark = f"dry-run-{platform}-draft-{draft_id}/"  # jobs.publish saves the filled editor of a dry run so
    shots = [p for p in root.rglob("*.png") if mark in p.as_posix()]
    return max(shots, key=lambda p: p.stat().st_mtime) if shots else None
