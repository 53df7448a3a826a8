"""The style background follows the language of the author's posts: Korean bloggers are told apart from the invented
Korean authors, English ones from the English essayists shipped in bot/voice/data/background-en."""

from __future__ import annotations

from pathlib import Path

from _style_corpus import BACKGROUND

from bot.core.posts import live_posts, save_post
from bot.voice.style import voice
from bot.voice.style.voice import BUILTIN_BACKGROUNDS, background_texts, read_folder, texts_language

ENGLISH = BUILTIN_BACKGROUNDS["en"]
KOREAN_AUTHORS = {d.name for d in BACKGROUND.iterdir() if d.is_dir()}


def _store_untitled(db, files: list[Path]) -> None:
    """The essays as a blogger's posts, untitled where the reader named them after their file (as bench/style stores
    them): the texts the background holds."""
    from platforms.files.read import read_file

    for f in files:
        for post in read_file(f):
            post.title = "" if post.title == f.stem else post.title
            save_post(db, post)


def test_each_language_gets_its_own_builtin_authors(cfg) -> None:
    en, ko = background_texts(cfg, "en"), background_texts(cfg, "ko")
    assert set(en) == {"qq", "tt", "uu", "ww"} and set(ko) == KOREAN_AUTHORS
    assert all(len(texts) >= 15 for texts in en.values())
    assert all(texts_language(texts) == "en" for texts in en.values())
    assert all(texts_language(texts) == "ko" for texts in ko.values())
    assert set(background_texts(cfg, "other")) == KOREAN_AUTHORS  # no built-in authors of its own: the Korean ones
    cfg.style.background_builtin = False
    assert background_texts(cfg, "en") == {}


def test_a_file_named_title_is_not_part_of_the_text(tmp_path: Path) -> None:
    """The essays have no titles: the reader names such a post after its file, which is no word of the author's."""
    essays = read_folder(ENGLISH)["qq"]
    assert not any(t.startswith("qq_") for t in essays)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "post-1.md").write_text("# A real title\n\nThe body of the post.\n", encoding="utf-8")
    (tmp_path / "a" / "post-2.txt").write_text(("A long first line. " * 8) + "\n\nMore.\n", encoding="utf-8")
    got = read_folder(tmp_path)["a"]
    assert got[0] == "A real title\n\nThe body of the post."
    assert got[1].startswith("A long first line.")


def test_texts_language_is_the_majority() -> None:
    assert texts_language(["오늘은 비가 왔다.", "커피를 마셨다.", "Hello there."]) == "ko"
    assert texts_language(["It rained today.", "I had coffee.", "비가 왔다."]) == "en"
    assert texts_language([]) == "ko" and texts_language(["1234", "  "]) == "ko"


def test_an_english_author_is_fitted_against_the_english_authors(cfg, db) -> None:
    """The whole path: English posts in the store -> the fitted voice compares them with the English essayists
    (here qq's own essays as the author: the background leaves out a text that is the author's own)."""
    _store_untitled(db, sorted((ENGLISH / "qq").glob("*.txt")))
    voice._MEMO.clear()
    v = voice.load(cfg, db)
    assert v.lang == "en" and set(v.background_authors) == {"tt", "uu", "ww"}, v.background_authors
    assert v.reliable, v.reason
    other = read_folder(ENGLISH / "uu")["uu"][0]
    own = read_folder(ENGLISH / "qq")["qq"][0]
    assert v.score(own, cfg.style.max_chars)["p_masked"] > v.score(other, cfg.style.max_chars)["p_masked"]


def test_the_voice_measure_reads_posts_in_the_authors_language(cfg, db) -> None:
    from bot.voice import tune

    _store_untitled(db, sorted((ENGLISH / "qq").glob("*.txt"))[:10])
    own = live_posts(db)
    others = tune.other_authors(cfg, own)
    assert len(others) == cfg.tune.voice_posts
    assert texts_language([p.body_markdown for p in others]) == "en"
    english = {t[: cfg.tune.voice_chars] for ts in background_texts(cfg, "en").values() for t in ts}
    assert all(p.body_markdown in english for p in others)
    assert not any(p.body_markdown in {q.body_markdown[: cfg.tune.voice_chars] for q in own} for p in others)
