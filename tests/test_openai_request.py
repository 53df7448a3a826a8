"""What the openai backend sends, per server and model: a standard request by default (DeepSeek, OpenAI), the
sampling extras under llama.cpp's or vLLM's names, model.extra_body, reasoning models' rules (the token limit's name,
room for the thinking, no temperature/top_p), a 400 about a parameter as one line naming the setting; and the
brief's example turn for a post without a title. Recorded on a scripted server, and once on llama.cpp's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _llama_server import LlamaServer, ScriptedServer, embedded_gguf, send_json, send_stream, sse_chunk

from bot.core import config
from bot.core.errors import ConfigError, ModelError
from bot.core.records import Post
from bot.voice.backends import openai_request as rq

OK = [sse_chunk("# 빵집\n\n오늘은 빵집에 "), sse_chunk("다녀왔어요."), sse_chunk(finish="stop"),
      sse_chunk(usage={"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59})]
UNTITLED = [sse_chunk("오늘은 빵집에 다녀왔어요. 소금빵이 맛있었어요."), sse_chunk(finish="stop")]
COMPLETION = [f"data: {json.dumps(c)}\n\n".encode() for c in (
    {"id": "c", "object": "text_completion", "created": 0, "model": "m",
     "choices": [{"index": 0, "text": "오늘은 빵집에 다녀왔어요.", "finish_reason": None}]},
    {"id": "c", "object": "text_completion", "created": 0, "model": "m",
     "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})]
NOT_SENT = {"top_k", "repeat_penalty", "repetition_penalty", "max_completion_tokens"}


def make_cfg(tmp_path: Path, url: str = "https://api.deepseek.com/v1", title_step: bool = True,
             **model: object) -> config.Config:
    m = {"backend": "openai", "base_url": url, "name": "deepseek-chat", "max_retries": 0, "timeout_s": 30,
         **model}
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in m.items() if v is not None)
    p = tmp_path / "config.yaml"
    p.write_text(f"data_dir: data\ntopics_file: topics.yaml\nmodel:\n{lines}generate:\n"
                 f"  title_step: {json.dumps(title_step)}\n", encoding="utf-8")
    return config.load(p)


def answer(chunks: list[bytes], title: str = "소금빵 먹은 날"):
    """A script: streamed draft requests get `chunks`; the title step's plain request gets `title`."""

    def script(h, body, n):
        if body.get("stream"):
            send_stream(h, chunks)
        else:
            send_json(h, 200, {"id": "t", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": title}}],
                               "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}})
    return script


def draft(tmp_path: Path, script, owner: str = "t", models: tuple[str, ...] = ("m",), **model: object):
    from bot.voice.generate import load_backend

    s = ScriptedServer(script, list(models), owner=owner)
    try:
        gen = load_backend(make_cfg(tmp_path, s.url, **model)).generate("빵집 이야기", ["빵"], seed=3)
        return gen, s.requests
    finally:
        s.stop()


# --- the rules, without a server ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "url", "want"), [
    ("deepseek-chat", "https://api.deepseek.com/v1", (False, True, "max_tokens")),
    ("deepseek-reasoner", "https://api.deepseek.com/v1", (True, False, "max_tokens")),
    ("o3-mini", "https://api.openai.com/v1", (True, False, "max_completion_tokens")),
    ("gpt-5", "https://api.openai.com/v1", (True, False, "max_completion_tokens")),
    ("gpt-5.1-2025-11-13", "https://example.org/v1", (True, False, "max_completion_tokens")),
    ("gpt-4o", "https://api.openai.com/v1", (False, True, "max_completion_tokens")),  # OpenAI takes it for all
    ("my-o3", "https://x.openai.azure.com/openai/v1", (False, True, "max_completion_tokens")),
    ("openai/o4-mini", "https://openrouter.ai/api/v1", (True, False, "max_tokens")),  # a router translates
    ("olmo-2-7b", "http://127.0.0.1:8000/v1", (False, True, "max_tokens")),
    ("qwen2.5:7b", "http://127.0.0.1:11434/v1", (False, True, "max_tokens")),
])
def test_reasoning_rules_by_name_and_host(tmp_path, name, url, want) -> None:
    r = rq.rules(make_cfg(tmp_path, url, name=name).model, kind="llamacpp")
    assert (r.reasoning, r.sampling, r.limit_param) == want
    assert r.extras == ("llamacpp" if r.sampling else "none")  # a reasoning model gets no sampling knobs


def test_explicit_settings_win_over_auto(tmp_path) -> None:
    m = make_cfg(tmp_path, name="o3-mini", reasoning=False, max_tokens_param="max_tokens",
                 sampling_extras="vllm").model
    r = rq.rules(m, kind=None)
    assert (r.reasoning, r.sampling, r.limit_param, r.extras) == (False, True, "max_tokens", "vllm")
    r = rq.rules(make_cfg(tmp_path, name="my-deployment", reasoning=True).model, kind="vllm")
    assert (r.reasoning, r.sampling, r.extras) == (True, False, "none") and r.why == "model.reasoning: true"
    seen = rq.rules(make_cfg(tmp_path, name="qwen3-8b").model, kind="llamacpp", seen_reasoning=True)
    assert (seen.reasoning, seen.sampling, seen.extras) == (True, True, "llamacpp")  # served: sampling kept


def test_extra_body_cannot_replace_what_blogbot_builds(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"model.extra_body cannot set messages, stream"):
        make_cfg(tmp_path, extra_body={"stream": False, "messages": [], "min_p": 0.05})
    assert make_cfg(tmp_path, extra_body={"min_p": 0.05}).model.extra_body == {"min_p": 0.05}
    with pytest.raises(ConfigError, match="model.reasoning"):
        make_cfg(tmp_path, reasoning="sometimes")


@pytest.mark.parametrize(("msg", "param", "sent", "starts"), [
    ("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
     "max_tokens", {}, "model.max_tokens_param: 'm' at http://h/v1 does not take max_tokens: set "
                       "model.max_tokens_param: max_completion_tokens"),
    ("Unsupported value: 'temperature' does not support 0.8 with this model. Only the default (1) value is "
     "supported.", "temperature", {}, "model.reasoning: 'm' at http://h/v1 rejects temperature"),
    ("Unrecognized request argument supplied: top_k", None, {"top_k": 50},
     "model.sampling_extras: 'm' at http://h/v1 does not know top_k (sent as sampling_extras llamacpp): set "
     "model.sampling_extras: none"),
    ("Unrecognized request argument supplied: min_p", None, {"min_p": 0.1},
     "model.extra_body: 'm' at http://h/v1 rejects min_p: remove it from model.extra_body"),
    ("Invalid max_tokens value, the valid range of max_tokens is [1, 8192]", None, {},
     "model.max_tokens: 'm' at http://h/v1 refused max_tokens=9000"),
])
def test_a_400_about_a_parameter_names_the_setting(tmp_path, msg, param, sent, starts) -> None:
    m = make_cfg(tmp_path, "http://h/v1", name="m", sampling_extras="llamacpp",
                 extra_body={"min_p": 0.1} if "min_p" in sent else {}).model
    r = rq.rules(m)
    req = {"max_tokens": 9000, "temperature": 0.8, "extra_body": sent}
    err = rq.param_error(400, {"error": {"message": msg, "param": param}}, msg, req, m, r)
    assert isinstance(err, ConfigError) and str(err).startswith(starts) and "\n" not in str(err)
    assert rq.param_error(400, {}, "context length exceeded by the messages", req, m, r) is None
    assert rq.param_error(500, {}, msg, req, m, r) is None


# --- what reaches the server --------------------------------------------------------------------------------------


def test_default_request_is_standard_for_an_api(tmp_path) -> None:
    """DeepSeek/OpenAI (a /models that names no llama.cpp or vLLM): only OpenAI's own fields, nothing in extra."""
    gen, reqs = draft(tmp_path, answer(OK), owner="deepseek")
    body = reqs[0]
    assert not NOT_SENT & set(body) and body["max_tokens"] > 100 and body["temperature"] == 0.8
    assert body["top_p"] == 0.92 and body["seed"] == 3 and body["stream"] is True
    assert gen.params["sampling_extras"] == "none" and gen.params["extra_body"] == {}
    gen, reqs = draft(tmp_path, answer(COMPLETION), owner="deepseek", api="completions", reasoning=False)
    assert not NOT_SENT & set(reqs[0]) and "prompt" in reqs[0]  # the completions road sends none either


@pytest.mark.parametrize(("owner", "setting", "want"), [
    ("llamacpp", "auto", {"top_k": 50, "repeat_penalty": 1.15}),
    ("vllm", "auto", {"top_k": 50, "repetition_penalty": 1.15}),
    ("t", "vllm", {"top_k": 50, "repetition_penalty": 1.15}),
    ("llamacpp", "none", {}),
])
def test_sampling_extras_go_under_the_servers_names(tmp_path, owner, setting, want) -> None:
    gen, reqs = draft(tmp_path, answer(OK), owner=owner, sampling_extras=setting,
                      extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    sent = {k: v for k, v in reqs[0].items() if k in NOT_SENT}
    assert sent == want and reqs[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert gen.params["extra_body"] == {**want, "chat_template_kwargs": {"enable_thinking": False}}


def test_an_openai_reasoning_model_gets_max_completion_tokens_and_no_sampling(tmp_path) -> None:
    gen, reqs = draft(tmp_path, answer(UNTITLED), owner="openai", name="o4-mini")
    body, title = reqs
    assert "max_tokens" not in body and body["max_completion_tokens"] > 8000
    assert not {"temperature", "top_p", "top_k", "repeat_penalty"} & set(body)
    # the title step's request follows the same rules, with room for the thinking
    assert title["stream"] is False and "temperature" not in title and title["max_completion_tokens"] == 32 + 8000
    assert gen.title == "소금빵 먹은 날" and gen.params["title_source"] == "model"
    assert gen.params["reasoning"] is True and gen.params["temperature"] is None
    assert gen.params["max_tokens_param"] == "max_completion_tokens"


def test_deepseek_reasoner_keeps_max_tokens_with_room_to_think(tmp_path) -> None:
    plain, _ = draft(tmp_path, answer(OK), name="deepseek-chat")
    gen, reqs = draft(tmp_path, answer(OK), name="deepseek-reasoner")
    assert reqs[0]["max_tokens"] == plain.params["max_tokens"] + 8000 and "temperature" not in reqs[0]
    gen, reqs = draft(tmp_path, answer(OK), name="deepseek-reasoner", max_tokens=3000)
    assert reqs[0]["max_tokens"] == 3000  # the user's limit as given (the reasoning counts in it)


def test_a_served_model_that_reasons_through_its_limit_is_asked_again_with_room(tmp_path) -> None:
    def script(h, body, n):
        if n == 0:  # all reasoning, cut by the limit
            send_stream(h, [sse_chunk(reasoning="먼저 생각해 보면 "), sse_chunk(reasoning="빵집은"),
                            sse_chunk(finish="length")])
        else:
            answer(OK)(h, body, n)

    gen, reqs = draft(tmp_path, script, owner="llamacpp", name="qwen3-8b")
    assert len(reqs) == 2 and reqs[1]["max_tokens"] == reqs[0]["max_tokens"] + 8000
    assert reqs[1]["temperature"] == 0.8 and reqs[1]["top_k"] == 50  # it took them: still sent
    assert gen.body_markdown == "오늘은 빵집에 다녀왔어요." and "생각" not in gen.body_markdown + gen.title
    assert gen.params["reasoning_rule"] == "model.reasoning: auto (the server sent reasoning text)"


def test_a_reasoning_model_that_spends_the_whole_limit_names_the_setting(tmp_path) -> None:
    def script(h, body, n):
        send_stream(h, [sse_chunk(reasoning="생각 " * 5), sse_chunk(finish="length")])

    with pytest.raises(ModelError, match=r"^model.reasoning_tokens: 'deepseek-reasoner' at .* spent its whole limit "
                                         r"\(\d+ tokens\) reasoning"):
        draft(tmp_path, script, name="deepseek-reasoner")
    with pytest.raises(ModelError, match=r"^model.max_tokens: .*\(2000 tokens\)"):
        draft(tmp_path, script, name="deepseek-reasoner", max_tokens=2000)


def test_a_server_refusing_a_parameter_is_one_line_naming_the_setting(tmp_path) -> None:
    def script(h, body, n):
        send_json(h, 400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this "
                                                "model. Use 'max_completion_tokens' instead.",
                                     "type": "invalid_request_error", "param": "max_tokens",
                                     "code": "unsupported_parameter"}})

    with pytest.raises(ConfigError) as e:
        draft(tmp_path, script, name="my-o3", reasoning=True)
    assert str(e.value).startswith("model.max_tokens_param: 'my-o3' at http://127.0.0.1:") and "\n" not in str(e.value)

    def no_top_k(h, body, n):
        msg = "Unrecognized request argument supplied: top_k" if "top_k" in body else "?"
        send_json(h, 400, {"error": {"message": msg, "type": "invalid_request_error", "param": None}})

    with pytest.raises(ConfigError, match=r"^model.sampling_extras: .* set model.sampling_extras: none"):
        draft(tmp_path, no_top_k, sampling_extras="llamacpp")


# --- the brief's example turns -------------------------------------------------------------------------------------


def test_an_example_post_without_a_title_gets_a_topic_from_its_body() -> None:
    from bot.voice.backends.brief import stand_in_title

    body = "In 1941 Ball met Desi Arnaz, a Cuban-born bandleader, and they were eventually married. Later on."
    assert stand_in_title(Post("f", "1", "", body)) == "In 1941 Ball met Desi Arnaz, a Cuban-born…"
    assert stand_in_title(Post("f", "2", "", "## Insomnia models\n\nThe paper.")) == "Insomnia models"
    assert stand_in_title(Post("f", "3", "", "My trip to Busan\nWe left at seven.")) == "My trip to Busan"
    assert stand_in_title(Post("f", "4", " 제목 ", "본문")) == "제목"


def test_the_brief_never_sends_an_empty_example_turn(tmp_path) -> None:
    from bot.voice.backends import brief

    cfg = make_cfg(tmp_path, example_tokens=3000)
    essays = [Post("bench", f"e{i}", "", f"The biological model of insomnia looks at genes, part {i}. "
                                         + "Sleep research has grown over the years and the findings vary. " * 8)
              for i in range(3)]
    msgs, meta = brief.messages(cfg, "Insomnia and sleep research", [], None, essays)
    users = [x["content"] for x in msgs[1:-1] if x["role"] == "user"]
    assert len(users) == 3 and all(u.split("\n")[0] not in ("Topic:", "Topic: ") for u in users)
    assert all("biological model insomnia" in u.split("\n")[0] for u in users)
    answers = [x["content"] for x in msgs if x["role"] == "assistant"]
    assert all(a.startswith("The biological model") for a in answers)  # no made-up `# title` for the author
    assert all(t.startswith("The biological model of insomnia") for t in meta["examples"])


# --- llama.cpp's own server ---------------------------------------------------------------------------------------


def test_llama_cpp_server_is_recognised_and_takes_the_extras(tmp_path_factory, tmp_path) -> None:
    """auto reads llama.cpp's /models (owned_by llamacpp) and sends top_k/repeat_penalty; the server takes them
    and max_completion_tokens too."""
    from bot.voice.generate import load_backend

    s = LlamaServer(embedded_gguf(tmp_path_factory.mktemp("gguf")), log=tmp_path / "server.log")
    try:
        cfg = make_cfg(tmp_path, s.url, False, name="gemma", max_tokens=20, api="completions")
        backend = load_backend(cfg)
        gen = backend.generate("빵집 이야기", ["빵"], seed=1)
        assert gen.params["sampling_extras"] == "llamacpp"
        assert gen.params["extra_body"] == {"top_k": 50, "repeat_penalty": 1.15}
        assert gen.new_tokens == 20 and gen.params["finish_reason"] == "length"
        assert backend._known_models() == "; it serves: gemma"  # --alias is the model's one name, not its letters
        cfg = make_cfg(tmp_path, s.url, False, name="gemma", max_tokens=16, max_tokens_param="max_completion_tokens",
                       sampling_extras="none", example_tokens=0)
        gen = load_backend(cfg).generate("빵집 이야기", ["빵"], seed=1)
        assert gen.params["extra_body"] == {} and gen.new_tokens == 16
    finally:
        s.stop()
