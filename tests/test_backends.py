"""The openai backend against a real OpenAI-compatible server (llama.cpp's, on the embedded GGUF, with and without
an exported LoRA) and a scripted one (429 then success, 5xx, a dropped stream, an unknown model, reasoning)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from _llama_server import LlamaServer, ScriptedServer, embedded_gguf, send_json, send_stream, sse_chunk
from _lora_adapter import make_adapter

from bot.core import config
from bot.core.errors import ConfigError, ModelError, TransientError
from bot.core.records import Post

KEY = "sk-test-4f9a2b7c1d"
POSTS = [
    ("동네 빵집 소금빵 후기", "오늘은 동네 빵집에 다녀왔어요 ㅎㅎ\n\n소금빵이 정말 맛있었어요! 다음에 또 갈 거예요~"),
    ("주말 등산 이야기", "주말에 북한산에 올랐어요.\n\n날씨가 맑아서 기분이 좋았어요 ㅎㅎ 내려와서 국밥 먹었어요!"),
    ("카페 투어 기록", "요즘 카페 투어에 빠졌어요~\n\n크루아상이 맛있었어요. 빵 좋아하시는 분 추천해요!"),
]


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return embedded_gguf(tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    s = LlamaServer(gguf, key=KEY, log=tmp_path_factory.mktemp("log") / "plain.log")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def adapter(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("adapters") / "v0001", gguf, b_scale=0.05)


@pytest.fixture(scope="module")
def lora_server(gguf: Path, adapter: Path, tmp_path_factory: pytest.TempPathFactory):
    from bot.voice.backends.lora_gguf import to_gguf

    lora = to_gguf(adapter, tmp_path_factory.mktemp("export") / "v0001.gguf", gguf)
    s = LlamaServer(gguf, lora=lora, alias="v0001", log=tmp_path_factory.mktemp("log") / "lora.log")
    yield s
    s.stop()


def make_cfg(tmp_path: Path, url: str, extra: str = "", **model: object) -> config.Config:
    m = {"backend": "openai", "base_url": url, "name": "gemma", "max_tokens": 24, "max_retries": 1,
         "timeout_s": 60, "example_tokens": 400, **model}
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in m.items() if v is not None)
    p = tmp_path / "config.yaml"
    p.write_text(f"data_dir: data\ntopics_file: topics.yaml\nmodel:\n{lines}generate:\n  temperature: 0\n{extra}",
                 encoding="utf-8")
    return config.load(p)


def add_posts(cfg: config.Config) -> None:
    from bot.core.posts import save_post
    from bot.core.store import open_db

    db = open_db(cfg.data_path)
    for i, (title, body) in enumerate(POSTS):
        save_post(db, Post("files", f"p{i}", title, body, tags=["일상"]))
    db.close()


# --- the real server ----------------------------------------------------------------------------------------------


def test_chat_draft_from_a_real_server_carries_the_voice_brief_and_usage(tmp_path, server, monkeypatch) -> None:
    from bot.voice.generate import load_backend

    monkeypatch.setenv("BLOGBOT_LLAMA", KEY)
    cfg = make_cfg(tmp_path, server.url, api_key_secret="llama")
    add_posts(cfg)
    streamed: list[str] = []
    gen = load_backend(cfg).generate("빵집에서 산 크루아상", ["빵"], seed=1, on_text=streamed.append, notes="아침 7시")
    assert gen.body_markdown.strip() and "\ufffd" not in "".join(streamed)
    p = gen.params
    assert p["backend"] == "openai" and p["model"] == "gemma" and p["notes"] is True
    assert p["usage"]["prompt_tokens"] > 100 and gen.usage["completion_tokens"] == gen.new_tokens > 0
    # the related posts went along as the author's own earlier answers, bakery ones first
    assert p["examples"][0] in ("동네 빵집 소금빵 후기", "카페 투어 기록") and len(p["examples"]) == 3
    assert p["lang"] == "ko" and p["finish_reason"] == "length"
    assert KEY not in json.dumps(asdict(gen), ensure_ascii=False, default=str)


def test_a_wrong_key_is_one_clear_line_naming_the_setting(tmp_path, server, monkeypatch) -> None:
    from bot.voice.generate import load_backend

    monkeypatch.setenv("BLOGBOT_LLAMA", "sk-wrong-000000000")
    cfg = make_cfg(tmp_path, server.url, api_key_secret="llama")
    with pytest.raises(ModelError) as e:
        load_backend(cfg).generate("빵집 이야기", [])
    msg = str(e.value)
    assert msg.startswith("model.api_key_secret:") and "HTTP 401" in msg and "\n" not in msg
    assert "sk-wrong-000000000" not in msg and KEY not in msg


def test_a_missing_secret_is_a_config_error(tmp_path, server) -> None:
    from bot.voice.generate import load_backend

    with pytest.raises(ConfigError, match=r"model.api_key_secret: the secret 'llama' is not set.*BLOGBOT_LLAMA"):
        load_backend(make_cfg(tmp_path, server.url, api_key_secret="llama"))


def test_an_unreachable_server_names_base_url(tmp_path) -> None:
    from _llama_server import free_port

    from bot.voice.generate import load_backend

    cfg = make_cfg(tmp_path, f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(ModelError, match=r"^model.base_url: cannot reach http://127.0.0.1:\d+/v1 after 0 retries"):
        load_backend(cfg).generate("빵집 이야기", [])


def test_a_served_adapter_writes_through_completions(tmp_path, server, lora_server, adapter, monkeypatch) -> None:
    """The same prompt, greedy: the server carrying the exported LoRA writes something else than the plain one,
    and the draft records the adapter version it was served as."""
    from bot.voice.generate import load_backend

    monkeypatch.setenv("BLOGBOT_LLAMA", KEY)
    plain = load_backend(make_cfg(tmp_path, server.url, api="completions", api_key_secret="llama"), adapter,
                         "v0001").generate("빵집 이야기", ["빵"], seed=1)
    cfg = make_cfg(tmp_path, lora_server.url, api="completions", name="v0001")
    served = load_backend(cfg, adapter, "v0001").generate("빵집 이야기", ["빵"], seed=1)
    assert served.adapter_version == "v0001" and plain.adapter_version is None
    assert served.body_markdown != plain.body_markdown
    assert served.params["api"] == "completions" and served.params["usage"]["completion_tokens"] > 0


def test_the_draft_job_stores_usage_and_status_totals_it(tmp_path, server, tiny_base, monkeypatch) -> None:
    from bot.core.store import open_db
    from bot.shell.report import gather
    from jobs import draft as draft_job

    monkeypatch.setenv("BLOGBOT_LLAMA", KEY)
    cfg = make_cfg(tmp_path, server.url, api_key_secret="llama", base=str(tiny_base))
    add_posts(cfg)
    db = open_db(cfg.data_path)
    draft_id = draft_job.run(cfg, db, topic="빵집 이야기")
    row = next(db.query("select params from drafts where id = ?", [draft_id]))
    assert json.loads(row["params"])["usage"]["completion_tokens"] > 0
    usage = gather(cfg, db)["model_usage"]
    assert usage["drafts"] == 1 and usage["by_model"]["gemma"]["prompt_tokens"] > 100
    logs = (cfg.data_path / "logs" / "generations.jsonl").read_text(encoding="utf-8")
    assert "usage" in logs and KEY not in logs and KEY not in row["params"]
    monkeypatch.setenv("BLOGBOT_LLAMA", "sk-wrong-000000000")
    with pytest.raises(ModelError):
        draft_job.run(cfg, db, topic="카페 이야기")
    assert db["drafts"].count == 1  # nothing half-stored


# --- a scripted server: what a real one cannot show ---------------------------------------------------------------

OK = [sse_chunk("# 빵집\n\n오늘은 빵집에 "), sse_chunk("다녀왔어요."), sse_chunk(finish="stop"),
      sse_chunk(usage={"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59, "cost": 0.00012})]


def run_scripted(tmp_path: Path, script, models: list[str] | None = None, **model: object):
    from bot.voice.generate import load_backend

    s = ScriptedServer(script, models)
    try:
        gen = load_backend(make_cfg(tmp_path, s.url, **model)).generate("빵집 이야기", [])
        return gen, s
    finally:
        s.stop()


def test_429_then_success_is_retried(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BLOGBOT_DS", KEY)

    def script(h, body, n):
        if n == 0:
            send_json(h, 429, {"error": {"message": "rate limited"}}, {"retry-after-ms": "10"})
        else:
            send_stream(h, OK)

    gen, s = run_scripted(tmp_path, script, api_key_secret="ds")
    assert len(s.requests) == 2 and s.headers[1]["authorization"] == f"Bearer {KEY}"
    assert gen.title == "빵집" and gen.body_markdown == "오늘은 빵집에 다녀왔어요."
    assert gen.params["usage"] == {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59, "cost": 0.00012}
    assert s.requests[1]["stream_options"] == {"include_usage": True} and s.requests[1]["stream"] is True


def test_5xx_every_time_fails_after_the_retries(tmp_path) -> None:
    def script(h, body, n):
        send_json(h, 503, {"error": {"message": "overloaded"}}, {"retry-after-ms": "10"})

    with pytest.raises(TransientError) as e:
        run_scripted(tmp_path, script, max_retries=2)
    assert "answered HTTP 503 after 2 retries" in str(e.value) and "model.max_retries" in str(e.value)


def test_a_dropped_stream_is_retried_then_completes(tmp_path) -> None:
    def script(h, body, n):
        send_stream(h, OK[:1], cut=True) if n == 0 else send_stream(h, OK)

    gen, s = run_scripted(tmp_path, script)
    assert len(s.requests) == 2 and gen.body_markdown == "오늘은 빵집에 다녀왔어요."


def test_a_stream_that_keeps_breaking_is_a_transient_error(tmp_path) -> None:
    def script(h, body, n):
        send_stream(h, OK[:1], cut=True)

    with pytest.raises(TransientError, match="broke off 2 times"):
        run_scripted(tmp_path, script, max_retries=1)


def test_an_unknown_model_names_the_setting_and_what_is_served(tmp_path) -> None:
    def script(h, body, n):
        send_json(h, 404, {"error": {"message": f"model {body['model']} not found"}})

    with pytest.raises(ModelError, match=r"^model.name: .* has no model 'gemma'; it serves: deepseek-chat, "
                                         r"deepseek-reasoner \(HTTP 404"):
        run_scripted(tmp_path, script, models=["deepseek-chat", "deepseek-reasoner"])


def test_reasoning_never_reaches_the_post(tmp_path) -> None:
    def script(h, body, n):
        send_stream(h, [sse_chunk(reasoning="먼저 생각해 보면..."), sse_chunk("<think>속으로 고민</think>"),
                        *OK])

    seen: list[str] = []
    from bot.voice.generate import load_backend

    s = ScriptedServer(script)
    try:
        gen = load_backend(make_cfg(tmp_path, s.url, name="deepseek-reasoner")).generate("빵집", [],
                                                                                          on_text=seen.append)
    finally:
        s.stop()
    assert gen.body_markdown == "오늘은 빵집에 다녀왔어요." and "생각" not in "".join(seen) + gen.title
    assert "고민" not in "".join(seen)


def test_cost_is_estimated_from_prices_when_not_reported(tmp_path) -> None:
    chunks = [*OK[:3], sse_chunk(usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500})]
    gen, _ = run_scripted(tmp_path, lambda h, b, n: send_stream(h, chunks), price_in_per_mtok=0.27,
                          price_out_per_mtok=1.1)
    assert gen.params["usage"]["cost"] == pytest.approx((1000 * 0.27 + 500 * 1.1) / 1e6)
    assert gen.params["usage"]["cost_estimated"] is True
