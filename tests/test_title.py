"""The draft's title in the author's way: the title step on the embedded model (llama.cpp and torch), the openai
backend taking the response's `# title` (a real llama.cpp server) or asking for one, the fallback to the topic line
with its reason, the cleaning of a title, and the title gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _llama_server import LlamaServer, ScriptedServer, embedded_gguf, send_json, send_stream, sse_chunk

from bot.core import config
from bot.core.config import GatesConfig
from bot.core.records import Post
from bot.voice import title as T
from bot.voice.style.gates import title_copies_topic, title_gate
from bot.voice.text import split_title

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo" / "posts"
TOPIC = "봄 산책 이야기"


def demo_posts(n: int = 12) -> list[Post]:
    from platforms.files.read import read_file

    return [read_file(f)[0] for f in sorted(DEMO.glob("*.md"))[:n]]


def store(cfg: config.Config, posts: list[Post]) -> None:
    from bot.core.posts import save_post
    from bot.core.store import open_db

    db = open_db(cfg.data_path)
    for p in posts:
        save_post(db, p)
    db.close()


def clean_one_line(title: str) -> None:
    from bot.voice.style.sense import broken

    assert title.strip() and "\n" not in title and not title.startswith("#") and broken(title) == 0
    assert title[0] not in "\"'“「" and not title_copies_topic(title, TOPIC)


# --- pieces -------------------------------------------------------------------------------------------------------


def test_a_completion_is_cleaned_to_one_title_line() -> None:
    assert T.clean(' "봄바람 맞으며 한강까지 걸었어용"\n\n글: 다음') == "봄바람 맞으며 한강까지 걸었어용"
    assert T.clean("\n\n# 제목: **봄 산책**, 망원까지 \ufffd") == "봄 산책, 망원까지"
    assert T.clean("「겨울, 강릉의 바다」") == "겨울, 강릉의 바다" and T.clean("“열린 따옴표만") == "열린 따옴표만"
    assert T.clean("\n \n") == "" and T.clean(" 3월의 봄, 3월의 봄, 3월의 봄, 3") == "3월의 봄"
    assert T.problem("봄 봄 봄 산책", TOPIC) == "repeats itself"
    assert split_title("# 빵집 나들이\n\n빵집에 다녀왔어요.", True) == ("빵집 나들이", "빵집에 다녀왔어요.")
    assert split_title("오늘은 빵집에 다녀왔어요.", True) == (None, "오늘은 빵집에 다녀왔어요.")


def test_problems_and_topic_lines() -> None:
    assert title_copies_topic("봄 산책, 이야기!", TOPIC) and not title_copies_topic("봄 산책 다녀왔어용", TOPIC)
    assert T.problem("", TOPIC) == "empty" and T.problem("봄 산책 이야기", TOPIC) == "the topic line copied"
    assert T.problem("긕긕 산책", TOPIC) == "broken characters"
    assert T.problem("새해 첫 끼", TOPIC, past={"새해 첫 끼"}) == "a past title copied"
    assert "over twice" in T.problem("가" * 50, TOPIC, longest=20)
    assert T.problem("올해 첫 봄 산책 다녀왔어용", TOPIC, longest=30) is None
    assert T.topic_line("새해 첫 끼는 역시 떡국이지용") == "새해 끼 떡국"
    assert T.topic_line("편의점 알바 첫날", ["알바"]) == "알바"  # its nouns are the title itself: the tags
    posts = demo_posts(6)
    shots = T.pairs(None, posts, "떡국", k=3)
    assert len(shots) == 3 and shots[-1][1] == posts[0].title  # the most related pair sits last, next to the draft
    p = T.prompt(posts[1].body_markdown, shots)
    assert p.count("제목:") == 4 and p.endswith("제목:") and all(len(o) <= T.OPENING_CHARS for o, _ in shots)


def test_the_title_gate_fails_a_copied_topic_and_passes_an_author_like_title() -> None:
    g, lengths = GatesConfig(), {"n": 12, "min": 14, "median": 22, "max": 30}
    ok = title_gate(g, "올해 첫 봄 산책, 망원한강공원까지 걸었어용", TOPIC, lengths)
    assert ok["passed"] and ok["figure"] == {"chars": 24, "copied_topic": False, "broken": 0}
    assert ok["threshold"] == {"max_chars": 45, "copied_topic": False, "broken": 0}
    copied = title_gate(g, " 봄 산책  이야기 ", TOPIC, lengths)
    assert not copied["passed"] and "topic line copied" in copied["detail"] and copied["figure"]["copied_topic"]
    assert not title_gate(g, "", TOPIC, lengths)["passed"]
    long = title_gate(g, "가" * 46, TOPIC, lengths)
    assert not long["passed"] and "over your longest (30)" in long["detail"]
    assert title_gate(g, "가" * 46, TOPIC, None)["passed"]  # the author's title lengths unknown
    assert not title_gate(g, "# # # - # 365일", TOPIC, lengths)["passed"]
    assert T.problem(T.clean("# # # - # # # . # # # 365일 # # #"), TOPIC) == "mostly not letters"
    bad = title_gate(g, "봄 산책 긕", TOPIC, lengths)
    assert not bad["passed"] and "broken" in bad["detail"]


# --- the title step on the embedded model -------------------------------------------------------------------------


def embedded_cfg(tmp_path: Path, cache: Path, backend: str) -> config.Config:
    p = tmp_path / "config.yaml"
    p.write_text(f"data_dir: data\ntopics_file: topics.yaml\nmodel:\n  backend: {backend}\n  cache_dir: {cache}\n"
                 "  threads: 1\ngenerate:\n  max_new_tokens: 40\n  temperature: 0\n", encoding="utf-8")
    return config.load(p)


def test_llamacpp_draft_gets_a_title_written_by_the_model(tmp_path, embedded_cache) -> None:
    from bot.voice.backends.llamacpp import LlamaCppBackend

    cfg = embedded_cfg(tmp_path, embedded_cache, "llamacpp")
    store(cfg, demo_posts())
    with LlamaCppBackend(cfg) as b:
        gen = b.generate(TOPIC, ["산책"], seed=1)
    p = gen.params
    assert p["title_source"] == "model", p
    clean_one_line(gen.title)
    assert gen.title != p["title_raw"] or "\n" not in p["title_raw"]
    assert 0 < p["title_tokens"] <= T.MAX_NEW_TOKENS and p["title_prompt_tokens"] > 100 and p["title_s"] > 0
    assert p["title_pairs"] == T.PAIRS and gen.body_markdown.strip()


def test_torch_draft_with_the_embedded_base_gets_a_model_title(tmp_path, embedded_cache) -> None:
    from bot.voice.generate import LocalBackend

    cfg = embedded_cfg(tmp_path, embedded_cache, "local")
    posts = demo_posts()
    store(cfg, posts)
    b = LocalBackend(cfg)
    gen = b.generate(TOPIC, ["산책"], seed=1)
    assert gen.params["title_source"] == "model", gen.params
    clean_one_line(gen.title)
    title, info = b.titles.write(gen.body_markdown, TOPIC, ["산책"], posts[3:4])  # the step itself, on torch
    clean_one_line(title)
    assert 0 < info["title_tokens"] <= T.MAX_NEW_TOKENS and info["title_prompt_tokens"] > 100
    assert posts[3].title in info["title_past"] and info["title_pairs"] == T.PAIRS


# --- the openai backend -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    gguf = embedded_gguf(tmp_path_factory.mktemp("gguf"))
    s = LlamaServer(gguf, log=tmp_path_factory.mktemp("log") / "server.log")
    yield s
    s.stop()


def openai_cfg(tmp_path: Path, url: str, **model: object) -> config.Config:
    m = {"backend": "openai", "base_url": url, "name": "gemma", "max_tokens": 60, "max_retries": 1, "timeout_s": 60,
         "example_tokens": 400, **model}
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in m.items())
    p = tmp_path / "config.yaml"
    p.write_text(f"data_dir: data\ntopics_file: topics.yaml\nmodel:\n{lines}generate:\n  temperature: 0\n",
                 encoding="utf-8")
    return config.load(p)


def test_openai_chat_from_a_real_server_takes_the_responses_title(tmp_path, server) -> None:
    from bot.voice.generate import load_backend

    cfg = openai_cfg(tmp_path, server.url)
    store(cfg, demo_posts(6))
    gen = load_backend(cfg).generate(TOPIC, ["산책"], seed=1)
    p = gen.params
    assert p["title_source"] == "draft" and "title_tokens" not in p  # no second request
    clean_one_line(gen.title)
    assert gen.usage["completion_tokens"] == gen.new_tokens


def test_the_brief_asks_for_a_title_in_the_authors_way() -> None:
    from bot.voice.backends import brief

    cfg = config.Config(model={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "name": "m",
                               "example_tokens": 2000})
    posts = demo_posts(6)
    msgs, _ = brief.messages(cfg, TOPIC, ["산책"], None, posts)
    assert "제목은 주제 문장을 그대로 옮기지 말고" in msgs[0]["content"]
    turns = list(zip(msgs[1:-1:2], msgs[2:-1:2], strict=True))
    assert turns  # each example: asked as a topic line, answered with the author's own, different title
    for ask, answer in turns:
        topic = ask["content"].split("\n")[0].removeprefix("주제: ")
        title = answer["content"].split("\n")[0].removeprefix("# ")
        assert title in {p.title for p in posts} and not title_copies_topic(title, topic)


def answer(body: dict, title: str = "봄바람 맞으며 망원까지 걸었어용") -> tuple[int, dict]:
    """A non-streamed chat answer (the title request)."""
    return 200, {"id": "t", "object": "chat.completion", "created": 0, "model": "m",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": f'"{title}"'},
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 300, "completion_tokens": 12, "total_tokens": 312}}


BODY = [sse_chunk("오늘은 한강까지 걸었어요. "), sse_chunk("벚꽃이 피기 시작했어요."), sse_chunk(finish="stop"),
        sse_chunk(usage={"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59})]


def scripted(tmp_path: Path, script):
    from bot.voice.generate import load_backend

    s = ScriptedServer(script)
    try:
        cfg = openai_cfg(tmp_path, s.url)
        store(cfg, demo_posts(6))
        return load_backend(cfg).generate(TOPIC, ["산책"]), s
    finally:
        s.stop()


@pytest.mark.parametrize("first", [BODY, [sse_chunk("# 봄 산책 이야기\n\n"), *BODY]], ids=["no title", "topic copied"])
def test_openai_asks_for_a_title_when_the_response_has_none_of_its_own(tmp_path, first) -> None:
    def script(h, body, n):
        send_stream(h, first) if body.get("stream") else send_json(h, *answer(body))

    gen, s = scripted(tmp_path, script)
    assert len(s.requests) == 2 and s.requests[1]["max_tokens"] == T.MAX_NEW_TOKENS
    assert s.requests[1]["temperature"] == 0 and not s.requests[1]["stream"]
    shown = s.requests[1]["messages"][-1]["content"]
    assert shown.count("제목:") == T.PAIRS + 1 and shown.endswith("제목:") and "오늘은 한강까지" in shown
    p = gen.params
    assert gen.title == "봄바람 맞으며 망원까지 걸었어용" and p["title_source"] == "model"
    assert gen.body_markdown == "오늘은 한강까지 걸었어요. 벚꽃이 피기 시작했어요."
    assert p["title_tokens"] == 12 and p["title_prompt_tokens"] == 300
    assert p["title_usage"]["completion_tokens"] == 12 and p["usage"]["completion_tokens"] == 21
    assert gen.new_tokens == 9  # the body's tokens; the usage counts both requests


def test_a_failed_or_copied_title_falls_back_to_the_topic_with_the_reason(tmp_path) -> None:
    def script(h, body, n):
        send_stream(h, BODY) if body.get("stream") else send_json(h, 400, {"error": {"message": "bad request"}})

    gen, _ = scripted(tmp_path, script)
    assert gen.title == TOPIC and gen.params["title_source"] == "topic"
    assert "request failed" in gen.params["title_reason"] and "HTTP 400" in gen.params["title_reason"]

    def copies(h, body, n):
        send_stream(h, BODY) if body.get("stream") else send_json(h, *answer(body, title="봄 산책 이야기"))

    gen, _ = scripted(tmp_path, copies)
    assert gen.title == TOPIC and gen.params["title_source"] == "topic"
    assert "the topic line copied" in gen.params["title_reason"]


def test_title_step_off_keeps_the_topic_line_and_the_gate_accepts_it() -> None:
    from bot.core.config import Config
    from bot.core.records import Post
    from bot.voice.style.gates import title_gate
    from bot.voice.title import TitleStep

    calls = []
    posts = [Post("files", str(i), f"지난 글 제목 {i}", "본문입니다. " * 20) for i in range(3)]
    cfg = Config(generate={"title_step": False})
    step = TitleStep(cfg, lambda prompt: calls.append(prompt) or ("모델 제목", 3, 10), posts)
    title, info = step(None, "본문입니다. 오늘은 산책을 했다.", TOPIC)
    assert (title, info["title_source"], calls) == (TOPIC, "topic", [])
    assert "generate.title_step is off" in info["title_reason"]
    cfg.generate.title_step = True
    title, info = step(None, "본문입니다. 오늘은 산책을 했다.", TOPIC)
    assert len(calls) == 1 and info["title_source"] == "model" and title == "모델 제목"
    # the gate: a copied topic fails only while the step is on (check_text passes no topic when it is off)
    assert not title_gate(cfg.gates, TOPIC, TOPIC, None)["passed"]
    assert title_gate(cfg.gates, TOPIC, "", None)["passed"]


# --- review edit rescoring the title ------------------------------------------------------------------------------


def test_a_drafts_title_is_gated_and_rescored_after_review_edit(cfg, db) -> None:
    from _style_corpus import ingest_demo

    from bot.core import drafts
    from bot.core.records import Generation
    from bot.shell.review import rescore
    from bot.voice.style import check_draft
    from platforms.files.read import read_file

    post = read_file(ingest_demo(db)[0])[0]  # a held-out post of the demo author
    gen = Generation(title=TOPIC, body_markdown=post.body_markdown, tags=post.tags, adapter_version=None,
                     base_model="test", params={}, duration_s=1.0, new_tokens=10)
    did = drafts.create(db, cfg, {"id": None, "topic": TOPIC}, gen)
    r = check_draft(cfg, db, drafts.get(db, did))
    (g,) = [x for x in r["gates"] if x["name"] == "title"]
    assert not g["passed"] and "topic line copied" in g["detail"] and g["threshold"]["max_chars"] >= 20
    drafts.edit(db, cfg, did, post.title, post.body_markdown)
    rescore(cfg, db, did)
    (g,) = [x for x in drafts.get(db, did)["gates"] if x["name"] == "title"]
    assert g["passed"] and g["figure"]["chars"] == len(post.title), g
