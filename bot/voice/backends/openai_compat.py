"""The `openai` backend: drafts from any OpenAI-compatible server (DeepSeek, OpenAI, vLLM, a llama.cpp server, Ollama)
through the official `openai` client: streamed, retried with backoff, usage and cost recorded, reasoning text dropped.
What each request carries for this server and model (sampling extras, reasoning models' rules): openai_request.py.

api: chat — a style brief with the author's related posts (bot/voice/backends/brief.py); api: completions — the
tune's own prompt, for a server that carries the author's exported adapter (`blogbot adapters export`).
Nothing of the author's text leaves the machine unless this backend is configured.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.errors import ConfigError, ModelError, TransientError
from bot.core.records import Generation, Post
from bot.voice import corpus
from bot.voice.backends import openai_request as rq
from bot.voice.text import STOP_MARK, OnText, TextStream, split_title, suggest_tags, with_context
from bot.voice.title import MAX_NEW_TOKENS, TitleStep

THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S)


class StreamEnded(Exception):
    """A stream that stopped before the server's last chunk (retried like a dropped connection)."""


def api_key(cfg: Config) -> str | None:
    """The key named by model.api_key_secret (None when no secret is named: local servers need none)."""
    name = cfg.model.api_key_secret
    if not name:
        return None
    key = cfg.secret(name)
    if not key:
        raise ConfigError(f"model.api_key_secret: the secret {name!r} is not set: export BLOGBOT_{name.upper()}=… "
                          f"or put {name.upper()}=… in the secrets file")
    return key


def visible(raw: str) -> str:
    """The answer without reasoning a server put inline (<think>…</think>; an open block hides what follows)."""
    return THINK.sub("", raw).lstrip("\n") if "<think>" in raw else raw


def _chunks(stream: Any, broken: tuple[type[Exception], ...]) -> Any:
    """The stream's chunks; a connection lost or timed out after the answer began is a StreamEnded."""
    it = iter(stream)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except broken as exc:
            raise StreamEnded(f"{type(exc).__name__}: {exc}") from exc


STREAM_BACKOFF_S = 0.5  # before retrying a stream that broke after it began (doubles each time)
STREAM_MAX_BACKOFF_S = 8.0


class OpenAIBackend:
    """A remote (or local) OpenAI-compatible server writes the draft; blogbot keeps the gates, score and review."""

    def __init__(self, cfg: Config, adapter_dir: Path | None = None, adapter_version: str | None = None) -> None:
        from openai import OpenAI

        m = cfg.model
        self.cfg, self._key = cfg, api_key(cfg)
        self.client = OpenAI(base_url=m.base_url, api_key=self._key or "unused", timeout=m.timeout_s,
                             max_retries=m.max_retries)
        _ = self.client.chat.completions if m.api == "chat" else self.client.completions  # imported now, not per draft
        self.base_model = f"openai:{m.base_url}#{m.name}"
        # a served adapter is recorded as the draft's adapter when the server's model id is the active version
        self.adapter_version = adapter_version if adapter_version and m.name == adapter_version else None
        meta_file = adapter_dir / "prompt_template.json" if adapter_dir is not None else None
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file and meta_file.is_file() else {}
        self.typical_chars = int(meta.get("typical_chars") or 900)
        self._author: tuple[list[Post], dict[str, Any]] | None = None
        self.titles = TitleStep(cfg, self.complete_title)
        self._title_usage: dict[str, Any] = {}
        self._kind: str | None = None  # the server's kind (rq.server_kind), asked once when sampling_extras: auto
        self._kind_asked = False
        self._seen_reasoning = False  # an answer of this server carried reasoning text

    def rules(self) -> rq.Rules:
        """How this server and model are asked (rq.rules); the first call with sampling_extras: auto reads the
        server's /models once (a failure there only means: nothing non-standard is sent)."""
        m = self.cfg.model
        if m.sampling_extras == "auto" and not self._kind_asked and rq.rules(m, "llamacpp").extras != "none":
            self._kind_asked = True
            try:
                listing = self.client.with_options(max_retries=0, timeout=min(10.0, m.timeout_s)).models.list()
                self._kind = rq.server_kind(list(listing))
            except Exception as exc:  # a hint only: the draft's own request says what is wrong, if anything
                logger.debug("model server {}: /models not read ({})", m.base_url, type(exc).__name__)
        return rq.rules(m, self._kind, self._seen_reasoning)

    # --- requests ---------------------------------------------------------------------------------------------

    def _request(self, topic: str, tags: list[str], examples: list[Post] | None, seed: int | None,
                 notes: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        m, g = self.cfg.model, self.cfg.generate
        r = self.rules()
        if m.api == "chat":
            from bot.voice.backends import brief

            if self._author is None:  # once per backend: the candidates of one draft share it
                posts = brief.author_posts(self.cfg)
                self._author = (posts, brief.profile(posts))
            msgs, meta = brief.messages(self.cfg, topic, tags, notes, *self._author[:1], examples, self._author[1])
            # room for a whole post at the author's usual length (Hangul ~1.5 characters a token) and a margin
            answer = max(g.max_new_tokens, int(meta["typical_chars"] / 1.5 * 1.5) + 200)
            req: dict[str, Any] = {"messages": msgs}
        else:
            prompt = with_context(corpus.render_prompt(topic, tags, corpus.length_bucket(self.typical_chars)),
                                  examples, notes)
            meta = {"examples": [e.title for e in examples or []], "typical_chars": self.typical_chars}
            answer = min(g.max_new_tokens, max(32, int(self.typical_chars / 1.4 * 1.3)))
            req = {"prompt": prompt, "stop": [STOP_MARK]}
        req.update(model=m.name, stream=True, stream_options={"include_usage": True})
        rq.apply(req, m, g, r, rq.token_limit(m, r, answer), g.temperature, g.top_p)
        if seed is not None:
            req["seed"] = seed
        meta.update(reasoning=r.reasoning, reasoning_rule=r.why, max_tokens_param=r.limit_param,
                    sampling_extras=r.extras)
        return req, meta

    def _stream(self, req: dict[str, Any], on_text: OnText | None) -> tuple[str, str | None, Any, int, float, bool]:
        """One streamed request: (raw text, finish reason, usage, chunks, seconds to the first text, whether the
        server sent reasoning text)."""
        api = self.client.chat.completions if "messages" in req else self.client.completions
        out, raw, reason, usage, chunks, t0, first = TextStream(on_text), "", None, None, 0, time.monotonic(), 0.0
        thought = False
        stream = api.create(**req)
        import httpx2
        import openai

        try:
            for chunk in _chunks(stream, (openai.APIConnectionError, httpx2.TransportError)):
                usage = getattr(chunk, "usage", None) or usage
                for ch in chunk.choices or []:
                    # delta.reasoning_content (DeepSeek's reasoner, llama.cpp) or .reasoning (vLLM): only noticed
                    delta = getattr(ch, "delta", None)
                    thought = thought or bool(getattr(delta, "reasoning_content", None)
                                              or getattr(delta, "reasoning", None))
                    piece = delta.content if "messages" in req else ch.text
                    if piece:
                        chunks += 1
                        first = first or time.monotonic() - t0
                        raw += piece
                        out.update(visible(raw))
                    reason = ch.finish_reason or reason
        finally:
            stream.close()
        if reason is None:  # the connection ended without the server saying it was done
            raise StreamEnded("the stream ended without a finish reason")
        return raw, reason, usage, chunks, first, thought or "<think>" in raw

    def _attempts(self, req: dict[str, Any], on_text: OnText | None) -> tuple[str, str | None, Any, int, float, bool]:
        """_stream, a stream that broke after it began retried as a whole; server errors as one line."""
        import openai

        m = self.cfg.model
        for attempt in range(m.max_retries + 1):
            try:
                return self._stream(req, on_text)
            except StreamEnded as exc:
                # the client retries a request that fails to start; this is a stream that broke after it began
                if attempt == m.max_retries:
                    raise TransientError(f"model server {m.base_url} (model.base_url): the answer broke off "
                                         f"{attempt + 1} times (model.max_retries {m.max_retries}): "
                                         f"{self._scrub(str(exc))[:200]}") from None
                logger.warning("model server stream broke ({}); retrying ({}/{})", type(exc).__name__, attempt + 1,
                               m.max_retries)
                time.sleep(min(STREAM_MAX_BACKOFF_S, STREAM_BACKOFF_S * 2**attempt))  # named, bounded backoff
            except openai.OpenAIError as exc:
                raise self._error(exc, req) from None
        raise AssertionError("unreachable")

    def generate(self, topic: str, tags: list[str], examples: list[Post] | None = None, seed: int | None = None,
                 on_text: OnText | None = None, notes: str | None = None) -> Generation:
        m = self.cfg.model
        t0 = time.monotonic()
        for _ in range(2):
            req, meta = self._request(topic, tags, examples, seed, notes)
            raw, reason, usage, chunks, first, thought = self._attempts(req, on_text)
            self._seen_reasoning = self._seen_reasoning or thought
            text = visible(raw)
            if text.strip() or reason != "length" or not thought or meta["reasoning"] or m.max_tokens \
                    or m.reasoning != "auto":
                break
            # a served model thought through the whole limit: once more, with room for its reasoning
            logger.info("model {} reasoned through its {} tokens; asking again with model.reasoning_tokens {} more",
                        m.name, req[meta["max_tokens_param"]], m.reasoning_tokens)
        dt = time.monotonic() - t0
        limit = req[meta["max_tokens_param"]]
        if not text.strip() and thought and reason == "length":
            key = "model.max_tokens" if m.max_tokens else "model.reasoning_tokens"
            raise ModelError(f"{key}: {m.name!r} at {m.base_url} spent its whole limit ({limit} tokens) reasoning "
                             f"and wrote no answer: raise {key}")
        if not text.strip():
            raise ModelError(f"model.name: {m.name!r} at {m.base_url} answered no text (finish reason {reason}"
                             + (", only reasoning" if thought else "") + ")")
        own, body = split_title(text, reason != "length")
        self._title_usage = {}
        title, info = self.titles(own, body, topic, tags, examples)
        params = {"backend": "openai", "api": m.api, "base_url": m.base_url, "model": m.name,
                  "max_tokens": limit, "temperature": req.get("temperature"), "top_p": req.get("top_p"),
                  "extra_body": req.get("extra_body", {}),
                  "seed": seed, "finish_reason": reason, "notes": bool(notes), "first_text_s": round(first, 3),
                  "usage": self._usage(usage), **meta, **info}
        new_tokens = params["usage"].get("completion_tokens") or chunks
        if self._title_usage:  # the title request's tokens and cost count in the draft's usage too
            params["title_usage"] = self._title_usage
            params["usage"] = {k: (v + self._title_usage[k] if isinstance(v, int | float) and not isinstance(v, bool)
                                   and k in self._title_usage else v) for k, v in params["usage"].items()}
        return Generation(title=title, body_markdown=body, tags=suggest_tags(topic, tags, body, examples),
                          adapter_version=self.adapter_version, base_model=self.base_model, params=params,
                          duration_s=dt, new_tokens=int(new_tokens))

    def complete_title(self, prompt: str) -> tuple[str, int, int]:
        """The title step's completion (bot/voice/title.py) on the same server and model: greedy, at most
        MAX_NEW_TOKENS; chat servers get the few-shot prompt with a one-line instruction. A failed request is a
        ModelError (the title step then falls back to the topic line, saying why). A reasoning model gets room for
        its thinking and no temperature."""
        import openai

        m = self.cfg.model
        r = self.rules()
        limit = MAX_NEW_TOKENS + (m.reasoning_tokens if r.reasoning else 0)
        req = rq.apply({"model": m.name, "stream": False}, m, self.cfg.generate, r,
                       min(limit, m.max_tokens) if m.max_tokens else limit, 0.0, None, extras=False)
        try:
            if m.api == "chat":
                from bot.voice.backends.brief import TITLE_INSTRUCTION_EN, TITLE_INSTRUCTION_KO

                ko = "제목:" in prompt.rsplit("\n", 1)[-1]
                msgs = [{"role": "system", "content": TITLE_INSTRUCTION_KO if ko else TITLE_INSTRUCTION_EN},
                        {"role": "user", "content": prompt}]
                r = self.client.with_options(max_retries=min(1, m.max_retries)).chat.completions.create(
                    messages=msgs, **req)
                raw = visible((r.choices[0].message.content or "") if r.choices else "")
            else:
                r = self.client.with_options(max_retries=min(1, m.max_retries)).completions.create(
                    prompt=prompt, stop=["\n\n"], **req)
                raw = (r.choices[0].text or "") if r.choices else ""
        except openai.OpenAIError as exc:
            raise self._error(exc, req) from None
        except (ValueError, AttributeError, TypeError) as exc:  # an answer the client cannot read
            raise ModelError(f"model: {m.base_url}: unreadable title answer: {type(exc).__name__}") from None
        self._title_usage = self._usage(getattr(r, "usage", None))
        return raw, int(self._title_usage.get("completion_tokens") or 0), int(self._title_usage.get("prompt_tokens")
                                                                                or 0)

    # --- usage and errors -------------------------------------------------------------------------------------

    def _usage(self, usage: Any) -> dict[str, Any]:
        return rq.usage(usage, self.cfg.model)

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return re.sub(r"\b(sk|key)-[A-Za-z0-9_\-*]{6,}", r"\1-***", text)

    def _error(self, exc: Exception, req: dict[str, Any] | None = None) -> Exception:
        """One clear line naming the setting to look at (rq.server_error); never the key."""
        detail = self._scrub(" ".join(str(getattr(exc, "message", None) or exc).split()))[:300]
        return rq.server_error(exc, self.cfg.model, detail, req, self.rules(), self._known_models)

    def _known_models(self) -> str:
        try:
            ids = [x.id for x in self.client.with_options(max_retries=0, timeout=10).models.list()]
        except Exception:  # the listing is a hint only
            return ""
        return f"; it serves: {', '.join(ids[:8])}" if ids else ""
