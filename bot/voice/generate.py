"""Drafting in the author's voice: a small generation backend interface and the local transformers backend (adapter
merged into a cached base per version, int8/bf16 by measurement, artefact tokens suppressed, text cleaned, streamed).

Library API:  backend = bot.voice.generate.load_backend(cfg, adapter_dir)   # adapter_dir None = the bare base
              gen = backend.generate("topic", ["tag"], examples=None, seed=1, notes="...")   # -> Generation
`model.backend` picks the class: local (here), openai (bot/voice/backends/openai_compat.py: any OpenAI-compatible
server), llamacpp (bot/voice/backends/llamacpp.py: a GGUF with the adapter through llama.cpp); the jobs only call
`load_backend`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from bot.core.config import Config
from bot.core.errors import ModelError
from bot.core.records import Generation, Post
from bot.voice import corpus
from bot.voice.inference import (
    layout_ids,
    mark_table,
    merged_path,
    pace,
    quantize_int8,
    restrict_head,
    sparing_layout,
    writing_ids,
)
from bot.voice.style.features import PACED
from bot.voice.text import (  # noqa: F401 - re-exported: the draft text helpers lived here
    HIGH_BYTE,
    HTML_TAG,
    PROMPT_LINE,
    STOP_MARK,
    ZW,
    OnText,
    TextStream,
    clean_text,
    finish,
    split_title,
    suggest_tags,
    trim_unfinished,
    with_context,
)


class Backend(Protocol):
    """What the draft job needs from a generator. `notes` are the topic's notes."""

    def generate(self, topic: str, tags: list[str], examples: list[Post] | None = None, seed: int | None = None,
                 on_text: OnText | None = None, notes: str | None = None) -> Generation: ...


def banned_token_ids(tok: Any) -> list[int]:
    """Ids of tokens that only ever produce artefacts: zero-width runs, HTML tags, special/unused tokens, the
    byte-fallback tokens of non-ASCII bytes. Line breaks stay writable."""
    toks = tok.convert_ids_to_tokens(list(range(len(tok))))
    bad = {i for i, s in enumerate(toks) if s and (re.search(f"[{ZW}]", s) or HTML_TAG.search(s)
                                                    or re.fullmatch(r"</?[a-zA-Z]+", s.replace("▁", "")))}
    # added tokens are control tokens, except runs of whitespace: Gemma 3's newline tokens ("\n", "\n\n", …) are added
    # tokens, and banning them left every draft without a line break (no paragraphs, lists or headings)
    bad |= {i for i, t in getattr(tok, "added_tokens_decoder", {}).items()
            if i != tok.eos_token_id and (getattr(t, "special", True) or not str(t).isspace())}
    bad |= {i for i in tok.all_special_ids if i != tok.eos_token_id}
    bad |= {i for i, s in enumerate(toks) if s and HIGH_BYTE.fullmatch(s)}
    return sorted(bad)


class _Streamer:
    """transformers streamer: decodes the new tokens and hands the new text to on_text (through TextStream)."""

    def __init__(self, tok: Any, on_text: OnText | None) -> None:
        self.tok, self.ids, self.skip_prompt, self.out = tok, [], True, TextStream(on_text)

    def put(self, value: Any) -> None:
        if self.skip_prompt:
            self.skip_prompt = False
            return
        self.ids.extend(value.reshape(-1).tolist())
        if self.out.on_text:
            self.out.update(self.tok.decode(self.ids, skip_special_tokens=True))

    def end(self) -> None:
        pass


class LocalBackend:
    """transformers on this machine: the merged adapter (or the bare base), KV cache on, CPU int8 when faster."""

    def __init__(self, cfg: Config, adapter_dir: Path | None = None, adapter_version: str | None = None) -> None:
        import torch

        from bot.voice import model as bm

        self.cfg = cfg
        self.base = bm.resolve_base(cfg)
        self.adapter_version = adapter_version or (adapter_dir.name if adapter_dir else None)
        meta = {}
        if adapter_dir is not None:
            with_meta = adapter_dir / "prompt_template.json"
            meta = json.loads(with_meta.read_text(encoding="utf-8")) if with_meta.exists() else {}
            if meta.get("version", corpus.TEMPLATE_VERSION) != corpus.TEMPLATE_VERSION:
                raise ModelError(f"{adapter_dir}: prompt template {meta.get('version')} is not the current "
                                 f"{corpus.TEMPLATE_VERSION}; retune with `blogbot tune --force`")
        self.typical_chars = int(meta.get("typical_chars") or 900)
        self.typical_tokens = int(meta.get("typical_tokens") or self.typical_chars / 1.4)
        self.paced_rates: dict[str, float] = meta.get("paced_rates") or {}
        dev = bm.device(cfg)
        # 4-bit bases keep the adapter unmerged (merging into NF4 weights is lossy); everything else merges once.
        unmerged = adapter_dir is not None and cfg.model.load_in_4bit
        path = merged_path(cfg, self.base, adapter_dir) if adapter_dir is not None and not unmerged else self.base.path
        self.quantized = dev == "cpu" and cfg.generate.quantize in ("auto", "int8") and not cfg.model.load_in_4bit
        if self.quantized and torch.backends.quantized.engine == "none":
            self.quantized = False
        self.model, self.tok = bm.load_model(cfg, path, dtype=torch.bfloat16 if self.quantized else None)
        banned = banned_token_ids(self.tok)
        self.layout = layout_ids(self.tok) if cfg.generate.spare_layout else []
        paced = bool(cfg.generate.pace) and "local" in cfg.generate.pace_backends
        self.marks = mark_table(self.tok) if paced and self.paced_rates else None
        if paced and adapter_dir is not None and not self.paced_rates:
            logger.info("adapter {} was tuned before the mark rates were kept: generate.pace applies from the next "
                        "tune", adapter_dir.name)
        elif paced and adapter_dir is not None and (unpaced := [k for k in PACED if k not in self.paced_rates]):
            logger.info("adapter {} was tuned before {} were paced: generate.pace holds them from the next tune",
                        adapter_dir.name, ", ".join(unpaced))
        self.vocab_size = len(self.tok)
        vocab_file = adapter_dir / "vocab_ids.json" if adapter_dir is not None else None
        if cfg.generate.vocab == "author" and vocab_file is not None and vocab_file.is_file() and not unmerged:
            keep = sorted((set(json.loads(vocab_file.read_text())) | writing_ids(self.tok)) - set(banned))
            restrict_head(self.model, keep)
            self.vocab_size = len(keep)
        if self.quantized:
            quantize_int8(self.model, per_channel=cfg.generate.int8_scales == "channel")
        if unmerged:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(adapter_dir)).eval()
        self.dtype = "int8-dynamic" if self.quantized else str(self.model.dtype).removeprefix("torch.")
        # a restricted output layer already leaves the banned tokens out
        self.banned = [] if self.vocab_size < len(self.tok) else [[i] for i in banned]
        from bot.voice.title import TitleStep

        self.titles = TitleStep(cfg, self.complete_title)

    def prompt(self, topic: str, tags: list[str], examples: list[Post] | None, notes: str | None = None) -> str:
        p = corpus.render_prompt(topic, tags, corpus.length_bucket(self.typical_chars))
        return with_context(p, examples, notes)

    def generate(self, topic: str, tags: list[str], examples: list[Post] | None = None, seed: int | None = None,
                 on_text: OnText | None = None, notes: str | None = None) -> Generation:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        g = self.cfg.generate
        prompt = self.prompt(topic, tags, examples, notes)
        enc = self.tok(prompt, return_tensors="pt").to(self.model.device)
        max_new = min(g.max_new_tokens, max(32, int(self.typical_tokens * 1.3)))
        min_new = g.min_new_tokens or min(max_new // 2, int(self.typical_tokens * 0.6))
        tok, n_prompt, eos = self.tok, enc["input_ids"].shape[1], self.tok.eos_token_id
        from transformers import LogitsProcessor, LogitsProcessorList

        class MinLength(LogitsProcessor):  # transformers' own scans the whole vocabulary every step
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                if input_ids.shape[1] - n_prompt < min_new:
                    scores[:, eos] = float("-inf")
                return scores

        class StopAtNewPrompt(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
                done = input_ids.shape[1] - n_prompt >= min_new
                tail = tok.decode(input_ids[0, -8:], skip_special_tokens=True) if done else ""
                return torch.full((input_ids.shape[0],), STOP_MARK in tail, dtype=torch.bool, device=input_ids.device)

        procs = [MinLength()]
        penalty, ngram = g.repetition_penalty, g.no_repeat_ngram_size or None
        if g.spare_layout and (penalty != 1.0 or ngram):  # the same penalty and ban, line breaks and spaces exempt
            procs.append(sparing_layout(penalty, ngram or 0, self.layout))
            penalty, ngram = 1.0, None
        if self.marks is not None:
            procs.append(pace(self.paced_rates, self.marks, n_prompt, g.pace))
        params = {"max_new_tokens": max_new, "min_new_tokens": min_new, "temperature": g.temperature,
                  "top_p": g.top_p, "top_k": g.top_k, "repetition_penalty": g.repetition_penalty,
                  "no_repeat_ngram_size": g.no_repeat_ngram_size, "spare_layout": g.spare_layout,
                  "pace": g.pace if self.marks is not None else 0.0, "seed": seed,
                  "dtype": self.dtype,
                  "examples": [e.title for e in examples or []], "backend": "local", "notes": bool(notes)}
        if seed is not None:
            torch.manual_seed(seed)
        sample = g.temperature > 0
        t0 = time.monotonic()
        with torch.inference_mode():
            out = self.model.generate(
                **enc, do_sample=sample, temperature=g.temperature if sample else None,
                top_p=g.top_p if sample else None, top_k=g.top_k if sample else None,
                repetition_penalty=penalty, no_repeat_ngram_size=ngram,
                max_new_tokens=max_new, bad_words_ids=self.banned or None, use_cache=True,
                logits_processor=LogitsProcessorList(procs),
                pad_token_id=self.tok.pad_token_id, eos_token_id=self.tok.eos_token_id,
                streamer=_Streamer(self.tok, on_text), stopping_criteria=StoppingCriteriaList([StopAtNewPrompt()]),
            )
        dt = time.monotonic() - t0
        new = out[0, enc["input_ids"].shape[1]:]
        ended = bool(len(new)) and int(new[-1]) == self.tok.eos_token_id
        own, body = split_title(self.tok.decode(new, skip_special_tokens=True), ended)
        title, info = self.titles(own, body, topic, tags, examples)
        params.update(info)
        return Generation(title=title, body_markdown=body, tags=suggest_tags(topic, tags, body, examples),
                          adapter_version=self.adapter_version, base_model=self.base.identity, params=params,
                          duration_s=dt, new_tokens=int(len(new)))

    def complete_title(self, prompt: str) -> tuple[str, int, int]:
        """The title step's completion (bot/voice/title.py): greedy, at most title.MAX_NEW_TOKENS, stopped at the
        end of the first non-empty line. Returns (text, new tokens, prompt tokens)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        from bot.voice.title import MAX_NEW_TOKENS

        enc = self.tok(prompt, return_tensors="pt").to(self.model.device)
        tok, n_prompt = self.tok, enc["input_ids"].shape[1]

        class LineEnd(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
                text = tok.decode(input_ids[0, n_prompt:], skip_special_tokens=True).lstrip()
                return torch.full((input_ids.shape[0],), "\n" in text, dtype=torch.bool, device=input_ids.device)

        with torch.inference_mode():
            out = self.model.generate(**enc, do_sample=False, max_new_tokens=MAX_NEW_TOKENS, use_cache=True,
                                      bad_words_ids=self.banned or None, pad_token_id=tok.pad_token_id,
                                      eos_token_id=tok.eos_token_id,
                                      stopping_criteria=StoppingCriteriaList([LineEnd()]))
        new = out[0, n_prompt:]
        return tok.decode(new, skip_special_tokens=True), int(len(new)), int(n_prompt)


def _openai(cfg: Config, adapter_dir: Path | None, adapter_version: str | None) -> Backend:
    from bot.voice.backends.openai_compat import OpenAIBackend

    return OpenAIBackend(cfg, adapter_dir, adapter_version)


def _llamacpp(cfg: Config, adapter_dir: Path | None, adapter_version: str | None) -> Backend:
    from bot.voice.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(cfg, adapter_dir, adapter_version)


BACKENDS: dict[str, Callable[..., Backend]] = {"local": LocalBackend, "openai": _openai, "llamacpp": _llamacpp}


def load_backend(cfg: Config, adapter_dir: Path | None = None, adapter_version: str | None = None) -> Backend:
    """The backend named by `model.backend` with `adapter_dir` applied (None: the bare base model). The openai
    backend ignores a local adapter: the server's model (`model.name`) is what writes."""
    return BACKENDS[cfg.model.backend](cfg, adapter_dir, adapter_version)
