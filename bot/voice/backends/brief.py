"""The brief an API model writes from: the author's style profile in words, the author's own posts most related to
the topic (within a token budget), the topic, its tags and notes; framed in the corpus's language (Korean/English)."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from typing import Any

from bot.core.config import Config
from bot.core.records import Post

_SENT_END = re.compile(r"([가-힣]{1,3})[.!?~…]*(?=\s*(?:$|\n|[.!?~]))", re.M)


def author_posts(cfg: Config) -> list[Post]:
    """The author's live posts (blogbot's own publications left out), oldest first."""
    from bot.core.posts import live_posts
    from bot.core.store import open_db

    db = open_db(cfg.data_path)
    try:
        return [p for p in live_posts(db) if p.body_markdown.strip()]
    finally:
        db.close()


def est_tokens(text: str) -> int:
    """A server-independent token estimate: Hangul ~1.5 characters a token, other text ~4."""
    hangul = len(re.findall(r"[가-힣]", text))
    return math.ceil(hangul / 1.5 + (len(text) - hangul) / 4)


def profile(posts: list[Post]) -> dict[str, Any]:
    """The author's measurable habits: ending shares, register, first person, emoji/punctuation rates, layout,
    lengths and the most frequent sentence endings."""
    from bot.voice.style import features as F

    counts: Counter = Counter()
    endings: Counter = Counter()
    for p in posts:
        counts.update(F.analyze(f"{p.title}\n\n{p.body_markdown}").counts)
        endings.update(m.group(1)[-2:] for m in _SENT_END.finditer(p.body_markdown))
    f = F.features(counts)
    lens = sorted(len(p.body_markdown) for p in posts)
    lang = F.language(" ".join(p.body_markdown[:500] for p in posts[:20])) if posts else "ko"
    return {"lang": lang, "posts": len(posts), "features": f, "honorific": F.honorific_level(f),
            "median_chars": int(statistics.median(lens)) if lens else 900,
            "range_chars": (lens[0], lens[-1]) if lens else None,
            "endings": [e for e, n in endings.most_common(8) if n >= 2]}


def describe(prof: dict[str, Any]) -> str:
    """The profile as short lines in the corpus's language."""
    from bot.voice.style.features import ENDING_LABELS, ENDINGS

    f, ko = prof["features"], prof["lang"] != "en"
    per_post = prof["median_chars"] / 1000
    lines = []
    if ko:
        lines.append(f"- 글 길이: 보통 {prof['median_chars']}자" + (
            f" (짧게는 {prof['range_chars'][0]}자, 길게는 {prof['range_chars'][1]}자)" if prof["range_chars"] else ""))
        shares = sorted(((f["end_" + e], e) for e in ENDINGS if e != "other" and f["end_" + e] >= 0.05), reverse=True)
        if shares:
            lines.append("- 문장 끝: " + ", ".join(f"{ENDING_LABELS[e]} {s:.0%}" for s, e in shares[:4]))
        if prof["endings"]:
            lines.append("- 자주 쓰는 문장 끝 말: " + ", ".join(f"…{e}" for e in prof["endings"]))
        if f["fp_rate"] < 0.3:
            lines.append("- 1인칭(저/나)은 거의 쓰지 않음")
        else:
            who = "'저'" if f["fp_humble_share"] > 0.65 else ("'나'" if f["fp_humble_share"] < 0.35 else "'저'와 '나'")
            lines.append(f"- 1인칭: {who} 위주")
        habits = [(label, f[k] * per_post) for k, label in (("emoji", "이모지"), ("kk", "ㅋㅋ"), ("hh", "ㅎㅎ"),
                                                             ("tt", "ㅠㅠ"), ("tilde", "물결표(~)"), ("excl", "느낌표"),
                                                             ("question", "물음표"), ("ellipsis", "말줄임표"))]
        lines.append("- 글 한 편에 보통: " + ", ".join(f"{label} {n:.0f}번" for label, n in habits if n >= 0.5)
                     if any(n >= 0.5 for _, n in habits) else "- 이모지와 ㅋㅋ·ㅎㅎ 같은 표현은 거의 없음")
        lines.append(f"- 문단은 평균 {f['paragraph_chars']:.0f}자, 문장은 평균 {f['sentence_chars']:.0f}자")
        layout = [(label, f[k] * per_post) for k, label in (("headings", "소제목(#)"), ("lists", "목록"),
                                                             ("bold", "굵은 글씨"))]
        used = [f"{label} {n:.0f}개" for label, n in layout if n >= 0.5]
        lines.append("- 글 한 편에 " + ", ".join(used) if used else "- 소제목·목록·굵은 글씨는 쓰지 않음")
    else:
        lines.append(f"- length: usually {prof['median_chars']} characters")
        lines.append(f"- average sentence {f['sentence_chars']:.0f} characters, paragraph {f['paragraph_chars']:.0f}")
        habits = [(label, f[k] * per_post) for k, label in (("emoji", "emoji"), ("excl", "exclamation marks"),
                                                             ("question", "questions"), ("ellipsis", "ellipses"),
                                                             ("contractions", "contractions"), ("headings", "headings"),
                                                             ("lists", "list items"), ("bold", "bold phrases"))]
        lines.append("- per post, typically: " + ", ".join(f"{n:.0f} {label}" for label, n in habits if n >= 0.5))
    return "\n".join(lines)


def pick_examples(posts: list[Post], topic: str, tags: list[str], budget: int, k: int,
                  given: list[Post] | None = None) -> list[Post]:
    """Up to k of the author's posts, most related to the topic first (those the job passed lead), within `budget`
    estimated tokens; the last one is cut at a paragraph when it does not fit whole."""
    from bot.voice.style.retrieve import related_posts

    if k <= 0 or budget <= 0 or not posts:
        return []
    ranked = list(given or []) + related_posts(posts, topic, tags, k=min(len(posts), k * 3))
    out, seen, left = [], set(), budget
    for p in ranked:
        if len(out) >= k or left < 150 or (p.platform, p.source_id) in seen:
            continue
        seen.add((p.platform, p.source_id))
        cost = est_tokens(p.title + p.body_markdown) + 20
        if cost > left:
            paras, body = p.body_markdown.split("\n\n"), ""
            for para in paras:
                if est_tokens(p.title + body + para) + 20 > left:
                    break
                body += para + "\n\n"
            if len(body) < 200:
                continue
            p = Post(p.platform, p.source_id, p.title, body.strip(), tags=p.tags)
            cost = est_tokens(p.title + p.body_markdown) + 20
        out.append(p)
        left -= cost
    return out


SYSTEM_KO = ("당신은 아래 블로그 글쓴이 본인입니다. 글쓴이의 말투, 어미, 1인칭, 이모지와 문장부호 "
             "습관, 문단과 소제목 구성, 글 길이를 그대로 따라 새 글을 한 편 씁니다. 예시 글의 "
             "문장을 그대로 베끼지 말고, 주제에 맞는 내용을 구체적이고 말이 되게 씁니다. 첫 줄은 "
             "'# 제목', 그 뒤에 마크다운 본문만 쓰고 설명이나 인사말은 덧붙이지 않습니다. 제목은 주제 문장을 "
             "그대로 옮기지 말고, 글쓴이가 예전 글에 붙인 제목처럼 길이와 말투를 맞춰 새로 짓습니다."
             "\n\n글쓴이의 문체 특징(글 {n}편에서 잰 값):\n{profile}")
SYSTEM_EN = ("You are the author of the blog below. Write one new post in the author's own voice: their register, "
             "person, emoji and punctuation habits, paragraph and heading layout and usual length. Do not copy "
             "sentences from the examples; make the content specific and sensible for the topic. First line "
             "'# Title', then the Markdown body only, no explanations. Do not copy the topic line as the title: "
             "write a new one the way the author titles their posts (length and tone).\n\nThe author's style "
             "(measured on {n} posts):\n{profile}")
TITLE_INSTRUCTION_KO = ("아래는 한 블로그 글쓴이의 글 첫머리와 그 글에 붙인 제목입니다. 마지막 글의 제목을 같은 "
                        "글쓴이의 말투와 길이로 한 줄만 쓰세요. 제목만 쓰고 다른 말은 덧붙이지 마세요.")
TITLE_INSTRUCTION_EN = ("Below are openings of a blogger's posts, each with the title the author gave it. Write the "
                        "title of the last post, in the same author's way and length, on one line. Only the title.")


def request_text(topic: str, tags: list[str], notes: str | None, chars: int, ko: bool) -> str:
    if ko:
        lines = [f"주제: {' '.join(topic.split())}", f"태그: {', '.join(tags) or '-'}"]
        if notes and notes.strip():
            lines.append(f"메모: {notes.strip()}")
        lines.append(f"분량: 약 {chars}자")
    else:
        lines = [f"Topic: {' '.join(topic.split())}", f"Tags: {', '.join(tags) or '-'}"]
        if notes and notes.strip():
            lines.append(f"Notes: {notes.strip()}")
        lines.append(f"Length: about {chars} characters")
    return "\n".join(lines)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def stand_in_title(p: Post) -> str:
    """The topic line of an example turn: the post's own title, else — a post without one (plain text files, English
    essays) — its opening heading, its short first line, or the first words of its first sentence, so the example's
    topic line is never empty (the body is sent as the author wrote it)."""
    if p.title.strip():
        return p.title.strip()
    lines = p.body_markdown.strip().splitlines()
    first = lines[0].strip() if lines else ""
    head = _HEADING.match(first)
    if head:
        return head.group(1).strip()
    if first and len(first) <= 80 and len(lines) > 1 and not re.search(r"[.!?~…。]$", first):
        return first.strip("*_ ")  # a plain file's title line, left in the body as the author wrote it
    from bot.voice.title import opening

    sentence = re.split(r"(?<=[.!?~…])\s", opening(p.body_markdown.strip(), 200), maxsplit=1)[0]
    words = sentence.split()
    return " ".join(words[:8]).rstrip(".,;:!?~…") + ("…" if len(words) > 8 else "")


def messages(cfg: Config, topic: str, tags: list[str], notes: str | None, posts: list[Post],
             given: list[Post] | None = None, prof: dict[str, Any] | None = None
             ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The chat messages (system: the style brief; earlier turns: the author's related posts as the author's own
    answers; last turn: the topic) and what went into them (for the generation's params). `prof`: profile(posts)
    when already computed."""
    prof = prof or profile(posts)
    ko = prof["lang"] != "en"
    m = cfg.model
    chosen = pick_examples(posts, topic, tags, m.example_tokens, m.max_examples, given)
    system = (SYSTEM_KO if ko else SYSTEM_EN).format(n=prof["posts"], profile=describe(prof) if posts else "-")
    msgs = [{"role": "system", "content": system}]
    from bot.voice.title import topic_line

    titles = []
    for p in chosen:  # asked as a topic line, answered with the author's own title: no title copies its topic
        title, body = stand_in_title(p), p.body_markdown.strip()
        titles.append(title)
        msgs.append({"role": "user", "content": request_text(topic_line(title, p.tags), p.tags, None,
                                                             len(p.body_markdown), ko)})
        # a post without a title of its own is answered without one: no title is made up in the author's name
        msgs.append({"role": "assistant", "content": f"# {title}\n\n{body}" if p.title.strip() else body})
    msgs.append({"role": "user", "content": request_text(topic, tags, notes, prof["median_chars"], ko)})
    meta = {"examples": titles, "lang": prof["lang"], "profile_posts": prof["posts"],
            "typical_chars": prof["median_chars"], "brief_tokens_est": sum(est_tokens(x["content"]) for x in msgs)}
    return msgs, meta
