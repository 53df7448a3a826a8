"""The backend pieces without a server: config validation and masking, streaming that never shows half a character,
notes in the prompt, the llama.cpp backend with an adapter, `adapters export`, `model pull|list`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _lora_adapter import make_adapter, register_active

from bot.core import config
from bot.core.errors import ConfigError, InputError


def write_cfg(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text("data_dir: data\ntopics_file: topics.yaml\n" + body, encoding="utf-8")
    return p


# --- config -------------------------------------------------------------------------------------------------------


def test_backend_openai_needs_a_server_and_a_model(tmp_path) -> None:
    p = write_cfg(tmp_path, "model:\n  backend: openai\n")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert str(e.value).startswith(f"{p}:3 model: backend openai needs model.base_url and model.name")
    p = write_cfg(tmp_path, "model:\n  backend: openai\n  base_url: api.deepseek.com\n  name: deepseek-chat\n")
    with pytest.raises(ConfigError, match=r":5 model.base_url: must start with http:// or https://"):
        config.load(p)
    p = write_cfg(tmp_path, "model:\n  backend: ollama\n")
    with pytest.raises(ConfigError, match=r":4 model.backend: Input should be 'local', 'openai' or 'llamacpp'"):
        config.load(p)


def test_the_key_is_masked_in_config_check(tmp_path, monkeypatch, cli) -> None:
    write_cfg(tmp_path, "model:\n  backend: openai\n  base_url: https://api.deepseek.com/v1/\n  name: deepseek-chat\n"
                        "  api_key_secret: deepseek\n")
    monkeypatch.setenv("BLOGBOT_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("BLOGBOT_DEEPSEEK", "sk-live-secret-123456")
    r = cli("config", "check")
    assert r.code == 0 and "sk-live-secret-123456" not in r.out + r.err
    assert "api_key: '***'" in r.out and "base_url: https://api.deepseek.com/v1\n" in r.out


# --- text that never shows a broken character ---------------------------------------------------------------------


class ByteTokenizer:
    """Each id is one UTF-8 byte: the worst case of byte-fallback tokens."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


def test_streamed_tokens_hold_back_partial_utf8() -> None:
    import torch

    from bot.voice.generate import _Streamer

    got: list[str] = []
    s = _Streamer(ByteTokenizer(), got.append)
    s.put(torch.tensor([0]))  # the prompt
    for b in "소금빵 🥐 맛있어용".encode():
        s.put(torch.tensor([b]))
    assert "".join(got) == "소금빵 🥐 맛있어용"
    assert all("\ufffd" not in g for g in got) and len(got) == len("소금빵 🥐 맛있어용")


def test_undecodable_bytes_never_reach_the_text() -> None:
    from bot.voice.generate import HIGH_BYTE, TextStream, clean_text

    got: list[str] = []
    t = TextStream(got.append)
    t.update("빵이 \ufffd\ufffd")
    t.update("빵이 \ufffd\ufffd맛있")
    t.update("빵이 \ufffd\ufffd맛있다", final=True)
    assert "".join(got) == "빵이 맛있다"
    assert clean_text("빵\ufffd이 좋아요\u200b") == "빵이 좋아요"
    assert HIGH_BYTE.fullmatch("<0xEA>") and HIGH_BYTE.fullmatch("<0x80>") and not HIGH_BYTE.fullmatch("<0x41>")


def test_notes_reach_the_prompt() -> None:
    from bot.core.records import Post
    from bot.voice.generate import with_context

    p = with_context("주제: 빵\n태그: -\n분량: 짧음\n\n", [Post("files", "1", "소금빵", "맛있어요")], "아침 7시에 감")
    assert p.startswith("[참고] 소금빵\n맛있어요\n\n[메모] 아침 7시에 감\n\n---\n\n주제: 빵")
    assert with_context("주제: 빵\n", None, None) == "주제: 빵\n"


# --- llama.cpp in-process -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from _llama_server import embedded_gguf

    return embedded_gguf(tmp_path_factory.mktemp("gguf"))


def llama_cfg(tmp_path: Path, gguf: Path) -> config.Config:
    return config.load(write_cfg(tmp_path, f"model:\n  backend: llamacpp\n  gguf: {gguf}\n  threads: 1\n"
                                           "  context_tokens: 512\n  llamacpp_adapter: lora\ngenerate:\n"
                                           "  temperature: 0\n  max_new_tokens: 16\n"))


def test_llamacpp_backend_applies_the_adapter(tmp_path, gguf) -> None:
    """Greedy, same prompt: an adapter with B = 0 writes what the bare GGUF writes (up to a near-tie the different
    kernel order can flip); a random one writes something else from the first token; the topic's notes are in the
    prompt llama.cpp sees."""
    from os.path import commonprefix

    from bot.voice.generate import load_backend

    cfg = llama_cfg(tmp_path, gguf)
    zero = make_adapter(tmp_path / "zero", gguf, b_scale=0.0)
    noisy = make_adapter(tmp_path / "noisy", gguf, b_scale=0.05)
    outs = {}
    for name, adapter in (("bare", None), ("zero", zero), ("noisy", noisy)):
        with load_backend(cfg, adapter, name) as b:
            outs[name] = b.generate("빵집 이야기", ["빵"], seed=1, notes="크루아상")
            assert "[메모] 크루아상" in b.prompt("빵집 이야기", ["빵"], None, "크루아상")
    bare, zero, noisy = (outs[k].body_markdown for k in ("bare", "zero", "noisy"))
    assert len(commonprefix([bare, zero])) >= 12 and len(commonprefix([bare, noisy])) <= 2
    g = outs["zero"]
    assert g.params["backend"] == "llamacpp" and g.params["lora"].startswith("zero-") and g.new_tokens == 16
    assert g.adapter_version == "zero" and g.base_model.startswith("gguf:gemma-3-270m-q4_k_m.gguf@")
    assert "\ufffd" not in g.body_markdown


def test_a_gguf_without_a_chat_template_is_served_with_gemmas_own(gguf) -> None:
    """Not ChatML (llama.cpp's fallback), which Gemma never saw: its chat replies echoed `<|im_end|>`."""
    import xllamacpp as x

    from bot.voice.backends.llamacpp import params

    p = params(gguf, None, 1, 256)
    assert (p.chat_template, p.use_jinja) == ("gemma", False)
    s = x.Server(p)
    r = s.handle_chat_completions({"messages": [{"role": "user", "content": "안녕"}], "max_tokens": 1,
                                   "temperature": 0})
    # "<start_of_turn>user\n안녕<end_of_turn>\n<start_of_turn>model\n" (+ BOS): ChatML would be ~10 tokens longer
    assert r["usage"]["prompt_tokens"] <= 12, r["usage"]


def test_llamacpp_backend_needs_a_gguf(tmp_path, tiny_base) -> None:
    from bot.core.errors import ModelError
    from bot.voice.generate import load_backend

    cfg = config.load(write_cfg(tmp_path, f"model:\n  backend: llamacpp\n  base: {tiny_base}\n"))
    with pytest.raises(ModelError, match="is not a GGUF; backend llamacpp needs one: set model.gguf"):
        load_backend(cfg)


# --- adapters export ----------------------------------------------------------------------------------------------


def test_adapters_export_gguf_and_peft(tmp_path, gguf, monkeypatch, cli) -> None:
    from bot.voice.backends.lora_gguf import gguf_meta, read_safetensors

    write_cfg(tmp_path, f"model:\n  gguf: {gguf}\n")
    cfg = config.load(tmp_path / "config.yaml")
    folder = make_adapter(cfg.data_path / "adapters" / "v0001", gguf, r=4)
    register_active(cfg, "v0001", folder)
    r = cli("adapters", "export", "v0001", tmp_path / "out", "--format", "gguf")
    assert r.code == 0, r.err
    out = tmp_path / "out" / "v0001.gguf"
    meta = gguf_meta(out, {"general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"})
    assert meta == {"general.architecture": "gemma3", "general.type": "adapter", "adapter.type": "lora",
                    "adapter.lora.alpha": 8.0}
    import gguf as g

    names = {t.name: t for t in g.GGUFReader(str(out)).tensors}
    a = read_safetensors(folder / "adapter_model.safetensors")
    q_a = a["base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"]
    assert len(names) == 18 * 7 * 2
    assert (names["blk.3.attn_q.weight.lora_a"].data == q_a.astype(np.float16)).all()
    assert "--lora" in r.out and "model.name: v0001" in r.out
    r = cli("adapters", "export", "v0001", tmp_path / "out", "--format", "peft")
    assert r.code == 0, r.err
    conf = json.loads((tmp_path / "out" / "v0001" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == "embedded:gemma" and conf["r"] == 4
    assert cli("adapters", "export", "v0009", tmp_path / "out").code == 2


# --- model pull / list ----------------------------------------------------------------------------------------------


def test_model_pull_refuses_offline_and_checks_disk_space(monkeypatch) -> None:
    from huggingface_hub import constants
    from huggingface_hub.file_download import DryRunFileInfo

    from bot.voice import hub

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="HF_HUB_OFFLINE is set"):
        hub.pull("Qwen/Qwen2.5-3B-Instruct")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    plan = [DryRunFileInfo("c0ffee", 2**50, "model.safetensors", "/x", False, True)]
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: plan if k.get("dry_run") else "/x")
    with pytest.raises(InputError, match=r"1048576.0 GiB to download but only .* GiB free"):
        hub.pull("Qwen/Qwen2.5-3B-Instruct")
    with pytest.raises(InputError, match="not a Hugging Face model id"):
        hub.pull("qwen")


def test_model_list_reads_the_cache(tmp_path, monkeypatch, cli) -> None:
    snap = tmp_path / "hub" / "models--acme--tiny-ko" / "snapshots" / "abc123"
    blobs = tmp_path / "hub" / "models--acme--tiny-ko" / "blobs"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (tmp_path / "hub" / "models--acme--tiny-ko" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-ko" / "refs" / "main").write_text("abc123")
    for name, data in (("README.md", "---\nlicense: apache-2.0\n---\n# tiny"), ("model.gguf", "x" * 4096)):
        (blobs / name).write_text(data)
        (snap / name).symlink_to(blobs / name)
    from bot.voice import hub

    got = hub.cached(tmp_path / "hub")
    assert [(c.repo_id, c.licence, c.files) for c in got] == [("acme/tiny-ko", "apache-2.0", 2)]
    assert got[0].ram_gib == 0.4  # a GGUF: its size plus the runtime
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    r = cli("model", "list")
    assert r.code == 0 and "acme/tiny-ko" in r.out and "apache-2.0" in r.out


def test_the_gguf_lora_shifts_llamacpp_as_peft_shifts_transformers(tmp_path, gguf, embedded_base) -> None:
    """The tensor names and scale are right: on the same prompt, the exported LoRA moves llama.cpp's next-token
    distribution the way the PEFT adapter moves the transformers conversion of the same GGUF (the bare models differ
    only by quantized kernels)."""
    import math

    import torch
    import xllamacpp as x
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bot.voice.backends.llamacpp import params
    from bot.voice.backends.lora_gguf import to_gguf

    prompt = "주제: 빵집 이야기\n태그: 빵\n분량: 짧음\n\n오늘은"
    adapter = make_adapter(tmp_path / "a", gguf, r=8, b_scale=0.05, seed=2)
    tok = AutoTokenizer.from_pretrained(embedded_base)
    model = AutoModelForCausalLM.from_pretrained(embedded_base, dtype=torch.float32)
    enc = tok(prompt, return_tensors="pt")

    def torch_probs(m) -> dict[int, float]:
        with torch.inference_mode():
            p = m(**enc).logits[0, -1].softmax(-1)
        return {int(i): float(p[i]) for i in p.topk(40).indices}

    def llama_probs(lora: Path | None) -> dict[int, float]:
        s = x.Server(params(gguf, lora, 1, 256))
        r = s.handle_completions({"prompt": prompt, "n_predict": 1, "temperature": 0, "logprobs": 40})
        del s
        return {t["id"]: math.exp(t["logprob"]) for t in r["choices"][0]["logprobs"]["content"][0]["top_logprobs"]}

    t0, l0 = torch_probs(model), llama_probs(None)
    t1 = torch_probs(PeftModel.from_pretrained(model, str(adapter)).eval())
    l1 = llama_probs(to_gguf(adapter, tmp_path / "a.gguf", gguf))
    # the tokens the adapter promotes most (absent or far down without it) are the same in both
    up_t = sorted(t1, key=lambda i: t1[i] - t0.get(i, 0.0), reverse=True)[:5]
    up_l = sorted(l1, key=lambda i: l1[i] - l0.get(i, 0.0), reverse=True)[:5]
    assert len(set(up_t) & set(up_l)) >= 3, (up_t, up_l)
    shared = set(t1) & set(l1)
    assert sum(abs(t1[i] - l1[i]) for i in shared) < 0.35 and len(shared) >= 20


def test_llamacpp_paces_the_marks_an_adapter_measured_on_its_author(tmp_path, gguf) -> None:
    """generate.pace on the llama.cpp road: each change of the marks held down ends the request and the next one
    continues the text with them biased down. An author with one "!" per 200 characters and no other mark: the
    drafts keep "!" within that rate and write no other mark, where the same seeds unpaced do not; the tokens of
    every request are counted once."""
    import json

    from bot.voice.generate import load_backend
    from bot.voice.style.features import _PATTERNS, PACE_AHEAD, PACED

    adapter = make_adapter(tmp_path / "author", gguf, b_scale=0.0)
    meta = json.loads((adapter / "prompt_template.json").read_text(encoding="utf-8"))
    rates = {**dict.fromkeys(PACED, 0.0), "excl": 5.0}
    (adapter / "prompt_template.json").write_text(json.dumps({**meta, "paced_rates": rates}))
    cfg = llama_cfg(tmp_path, gguf)
    cfg.generate.temperature, cfg.generate.max_new_tokens, cfg.generate.pace = 1.0, 96, 0.0

    def within(text: str) -> bool:
        runs = {k: len(_PATTERNS[k].findall(text)) for k in PACED}
        return runs["excl"] <= 5.0 * (len(text) + PACE_AHEAD) / 1000 and not any(runs[k] for k in PACED if k != "excl")

    seeds, topic = range(4), "오늘 정말 신나는 일이 있었어요! 여러분 궁금하시죠?"
    with load_backend(cfg, adapter, "author") as b:
        plain = [b.generate(topic, ["일상"], seed=s) for s in seeds]
    assert not all(within(g.body_markdown) for g in plain) and {g.params["pace"] for g in plain} == {0.0}
    assert {g.params["requests"] for g in plain} == {1}
    cfg.generate.pace = 100.0
    with load_backend(cfg, adapter, "author") as b:  # generate.pace_backends leaves llama.cpp out by default
        assert {b.generate(topic, ["일상"], seed=0).params["pace"]} == {0.0}
    cfg.generate.pace_backends = ["local", "llamacpp"]
    with load_backend(cfg, adapter, "author") as b:
        paced = [b.generate(topic, ["일상"], seed=s) for s in seeds]
    assert [within(g.body_markdown) for g in paced] == [True] * len(paced)
    assert {g.params["pace"] for g in paced} == {100.0} and max(g.params["requests"] for g in paced) > 1
    for g in paced:
        assert 0 < g.new_tokens <= 96 and g.params["usage"]["completion_tokens"] == g.new_tokens
