"""Benchmark, model side: tune an adapter per author, generate for held-out topics, prompting baseline, perplexity."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.config import Config
from bot.core.records import Post


def unavailable() -> str | None:
    """Why the tune/generate side cannot run here (None when it can)."""
    try:
        from bot.voice import generate, tune
    except ImportError as exc:
        return f"model code not importable: {exc}"
    missing = [n for n, m, a in (("bot.voice.tune.train", tune, "train"),
                                 ("bot.voice.tune.perplexity_of", tune, "perplexity_of"),
                                 ("bot.voice.generate.load_backend", generate, "load_backend")) if not hasattr(m, a)]
    return ("missing: " + ", ".join(missing)) if missing else None


def bench_config(data_dir: Path, quick: bool, steps: int | None, new_tokens: int | None) -> Config:
    cfg = Config(data_dir=data_dir)
    # the converted base model is cached across runs (converting the embedded GGUF takes a while)
    cfg.model.cache_dir = os.environ.get("BLOGBOT_BENCH_CACHE", str(Path.home() / ".cache" / "blogbot-bench"))
    cfg.tune.max_steps = steps or (30 if quick else 200)
    cfg.tune.max_minutes = 3.0 if quick else 20.0
    if quick:
        cfg.tune.batch_tokens = 512
        cfg.tune.eval_every = 1000  # no intermediate evaluations in a quick run
    cfg.tune.min_posts = 4
    cfg.generate.max_new_tokens = new_tokens or (160 if quick else 700)
    cfg.generate.n_candidates = 1
    cfg.generate.retrieve_examples = 0
    cfg.generate.title_step = False  # drafts are judged on their bodies; the title is the held-out post's
    return cfg


def apply_settings(cfg: Config, settings: list[str]) -> Config:
    """`SECTION.KEY=VALUE` pairs (`generate.vocab=full`; VALUE read as YAML) set on cfg, each validated by the
    config's own rules: a lever tried in the benchmark is the setting a user would write."""
    import yaml

    for item in settings:
        key, sep, raw = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not (sep and dot) or not hasattr(cfg, section) or field not in type(getattr(cfg, section)).model_fields:
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE with a config key (e.g. generate.vocab=full)")
        setattr(getattr(cfg, section), field, yaml.safe_load(raw))
    return cfg


# generate settings added since, at the value a run recorded before them drafted with
GENERATE_ADDED_AT = {"spare_layout": False}
# generate settings that leave a draft's body as it is (the benchmark judges bodies): a run recorded before they
# existed is the same recipe
BODY_NEUTRAL = ("title_step", "draft_minutes")  # the bench drafts n_candidates outright: no time budget


def recipe(tune: dict[str, Any]) -> dict[str, Any]:
    """The tune settings that decide an adapter's weights (JSON-normalised; bot.core.config's learned_settings and
    tune_recipe: a setting added since an adapter was tuned counts at the value it was tuned with)."""
    from bot.core.config import TUNE_ADDED_AT, TuneConfig, learned_settings, tune_recipe

    defaults = {k: v for k, v in TuneConfig().model_dump().items()
                if k not in TUNE_ADDED_AT and not k.startswith("preference_")}  # those count as tune_recipe says
    full = tune_recipe({**defaults, **tune})
    return learned_settings(json.loads(json.dumps(full)))


def kept_adapter(cfg: Config, posts: list[Post], out_dir: Path) -> dict[str, Any] | None:
    """The metrics of an adapter already in out_dir (a --keep folder) when it was tuned with this recipe on these
    posts; None when it must be tuned again."""
    from bot.voice import corpus

    try:
        meta = json.loads((out_dir / "training.json").read_text(encoding="utf-8"))
        metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = recipe(meta.get("tune") or {}) == recipe(cfg.tune.model_dump()) and \
        meta.get("data_hash") == corpus.data_hash(posts)
    if same:
        with_rates(out_dir, posts)
    return {**metrics, "reused": True} if same else None


def with_rates(adapter: Path, posts: list[Post]) -> None:
    """An adapter kept from before the tune wrote the author's mark rates (generate.pace), or before a mark was
    paced, gets them from the same posts, as the tune computes them, so the lever is measured on it and not silently
    left out."""
    from bot.voice.style.features import PACED, paced_rates

    f = adapter / "prompt_template.json"
    if not f.is_file():
        return
    meta = json.loads(f.read_text(encoding="utf-8"))
    if not set(PACED) <= set(meta.get("paced_rates") or {}):
        meta["paced_rates"] = paced_rates([p.body_markdown for p in posts])
        f.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def tune(cfg: Config, posts: list[Post], out_dir: Path) -> dict[str, Any]:
    from bot.voice import tune as t

    kept = kept_adapter(cfg, posts, out_dir)
    if kept is not None:
        return kept
    t0 = time.perf_counter()
    metrics = t.train(cfg, posts, out_dir, others=t.other_authors(cfg, posts))  # the style background, as blogbot tune
    metrics["bench_seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def _topic(p: Post) -> str:
    """What to write about: the held-out post's title, else its first sentence (EBG essays have no titles)."""
    if p.title.strip():
        return p.title.strip()
    first = p.body_markdown.strip().split("\n", 1)[0]
    return " ".join(first.split()[:14])


# How the examples are introduced to the model, in the corpus's language (the product's own prompt says [참고]
# whatever the language, which prompted English authors into Korean).
EXAMPLE_LABEL = {"ko": "[참고]", "en": "[Example]"}


def corpus_language(posts: list[Post]) -> str:
    """'ko' or 'en': the language most of the posts are written in."""
    from bot.voice.style.features import language

    votes = Counter(language(p.body_markdown) for p in posts)
    return "en" if votes["en"] > votes["ko"] else "ko"


def example_block(examples: list[Post], lang: str, chars: int = 400) -> str:
    """The examples as the prompt's preamble: label, title, the first `chars` characters of the body."""
    if not examples:
        return ""
    label = EXAMPLE_LABEL.get(lang, EXAMPLE_LABEL["en"])
    return "".join(f"{label} {e.title}".rstrip() + f"\n{e.body_markdown.strip()[:chars]}\n\n" for e in examples) \
        + "---\n\n"


Examples = list[Post] | Callable[[Post], list[Post]] | None


# candidate j of topic i has seed seed + i + j·step: candidate 0 is the one-draft arm's draft
CANDIDATE_SEED_STEP = 1000


def generate(cfg: Config, adapter_dir: Path | None, topics: list[Post], examples: Examples = None,
             seed: int = 0, lang: str = "ko", store: Path | None = None) -> list[dict[str, Any]]:
    """One generation per held-out topic, by the backend `cfg.model.backend` names (arm_config). `examples`: posts
    put before the prompt (the same for every topic, or a function of the held-out post, e.g. the author's related
    posts), framed in `lang`; with no adapter this is the prompting baseline. The openai backend builds its own chat
    brief (style profile + related posts from the author's store, author_store) and has no prompt to wrap.

    With `generate.n_candidates` > 1, the product's best-of-n: n candidates per topic, the one the product keeps
    (bot.voice.style.select.pick_best: every gate, then style × topic adherence) judged against the author's store
    `store` (author_store: the training posts only)."""
    from bot.voice import generate as g

    backend = g.load_backend(cfg, adapter_dir)
    if hasattr(backend, "prompt"):
        bare = backend.prompt  # the product's prompt without examples; the bench frames the examples itself
        backend.prompt = lambda topic, tags, ex, *rest, **kw: example_block(ex or [], lang) + bare(topic, tags, None,
                                                                                                  *rest, **kw)
    n = cfg.generate.n_candidates
    if n > 1 and store is None:
        raise ValueError("generate.n_candidates > 1 needs the author's store to pick the best candidate")
    pick = _picker(cfg, store) if n > 1 else None
    out = []
    try:
        for i, p in enumerate(topics):
            ex = examples(p) if callable(examples) else examples
            t0 = time.perf_counter()
            cands = [backend.generate(_topic(p), p.tags, examples=ex, seed=seed + i + j * CANDIDATE_SEED_STEP)
                     for j in range(n)]
            best, values = pick(_topic(p), p.tags, cands) if pick else (0, None)
            gen = cands[best]
            usage = gen.params.get("usage") or {}
            out.append({"topic": _topic(p), "title": gen.title, "body_markdown": gen.body_markdown,
                        "examples": [e.source_id for e in ex or []] or gen.params.get("examples") or [],
                        "new_tokens": gen.new_tokens, "backend": gen.params.get("backend", "local"),
                        "prompt_tokens": usage.get("prompt_tokens"), "finish_reason": gen.params.get("finish_reason"),
                        "seconds": round(time.perf_counter() - t0, 1),
                        **({"candidate_index": best, "candidate_values": values,
                            "candidate_bodies": [c.body_markdown for c in cands]} if pick else {})})
    finally:
        if hasattr(backend, "close"):
            backend.close()  # llama.cpp's memory back before the next arm loads
    return out


def _picker(cfg: Config, store: Path) -> Callable[[str, list[str], list], tuple[int, list]]:
    """The product's choice among candidates (jobs/draft.py → pick_best) with the author's store as its data."""
    from bot.core.store import open_db
    from bot.voice.style.select import pick_best

    c = cfg.model_copy(deep=True)
    c.data_dir = store
    db = open_db(c.data_path)

    def pick(topic: str, tags: list[str], cands: list) -> tuple[int, list]:
        best, details = pick_best(c, db, {"topic": topic, "tags": tags}, cands)
        return best, [(d["passed"], d["value"]) for d in details]

    return pick


# Which product backend drafts each arm (bot.voice.generate.BACKENDS): the local torch path, llama.cpp in-process
# with the adapter converted to a GGUF LoRA, or the OpenAI-compatible client against a local llama.cpp server.
ARM_BACKENDS = {"adapter": "local", "prompting": "local", "adapter+related": "local",
                "served-adapter": "llamacpp", "api-prompting": "openai"}
API_ALIAS = "embedded-gemma"  # the model id the local stand-in API server answers to
API_EXAMPLE_TOKENS = 1500  # the brief's budget for the author's posts (product default 3000; halved for the CPU time)


def arm_config(cfg: Config, arm: str, base_url: str | None = None, data_dir: Path | None = None) -> Config:
    """The bench config with the backend of `arm`. api-prompting: the openai backend (chat: style brief + related
    posts as turns) against `base_url`, reading the author's posts from the store in `data_dir`; its answer is capped
    at generate.max_new_tokens like the local arms'."""
    c = cfg.model_copy(deep=True)
    backend = ARM_BACKENDS[arm]
    if backend == "openai":
        if not base_url or data_dir is None:
            raise ValueError("api-prompting needs the stand-in server's URL and the author's store folder")
        c.model.base_url, c.model.name, c.model.api = base_url, API_ALIAS, "chat"
        c.model.max_tokens = cfg.generate.max_new_tokens
        c.model.example_tokens = API_EXAMPLE_TOKENS
        c.model.timeout_s, c.model.max_retries = 600.0, 1
        c.data_dir = data_dir
    c.model.backend = backend
    return c


def author_store(data_dir: Path, posts: list[Post]) -> Path:
    """A fresh blogbot store in data_dir holding only `posts` (the author's training posts): what the openai
    backend's brief reads (bot.voice.backends.brief.author_posts)."""
    import shutil

    from bot.core.posts import save_post
    from bot.core.store import open_db

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    db = open_db(Config(data_dir=data_dir).data_path)
    try:
        for p in posts:
            save_post(db, p, dedupe=False)
    finally:
        db.close()
    return data_dir


class ApiServer:
    """The stand-in for an API: llama.cpp's OpenAI-compatible server on the embedded GGUF
    (`python -m bot.voice.backends.llamacpp`, a child process on a free 127.0.0.1 port), started on first use."""

    def __init__(self, cfg: Config, ctx: int = 8192) -> None:
        self.cfg, self.ctx, self.proc, self._url = cfg, ctx, None, None

    @property
    def url(self) -> str:
        if self._url is None:
            self._start()
        return self._url or ""

    def _start(self) -> None:
        import socket
        import subprocess
        import sys

        from bot.voice.backends.llamacpp import gguf_path, threads

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "bot.voice.backends.llamacpp", str(gguf_path(self.cfg)), "--port", str(port),
               "--threads", str(threads(self.cfg)), "--ctx", str(self.ctx), "--alias", API_ALIAS]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line, deadline = "", time.monotonic() + 180
        while "listening" not in line and time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self.proc.returncode}")
        if "listening" not in line:
            self.close()
            raise RuntimeError("llama.cpp server did not start within 180 s")
        self._url = f"http://127.0.0.1:{port}/v1"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
        self.proc, self._url = None, None


def clip_posts(posts: list[Post], chars: int | None) -> list[Post]:
    """The posts cut to their first `chars` characters (None: whole), so a long post does not dominate the cost."""
    return [p if not chars else dataclasses.replace(p, body_markdown=p.body_markdown[:chars]) for p in posts]


def perplexities(cfg: Config, held_out: list[Post], adapters: dict[str, Path],
                 chars: int | None = None) -> dict[str, float]:
    """Held-out perplexity of one author's real posts (their first `chars` characters) under the base model and
    under each adapter."""
    from bot.voice import tune as t

    held_out = clip_posts(held_out, chars)
    out = {"base": t.perplexity_of(cfg, held_out, None)}
    for name, path in adapters.items():
        out[name] = t.perplexity_of(cfg, held_out, path)
    return {k: round(v, 3) for k, v in out.items()}


def kept_adapters(cfg: Config, folder: Path) -> dict[str, Path]:
    """Every adapter under folder (one subfolder per author) tuned with this recipe: the other authors' adapters the
    held-out perplexity is compared against, including those kept from an earlier --keep run."""
    out = {}
    for d in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            meta = json.loads((d / "training.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if recipe(meta.get("tune") or {}) == recipe(cfg.tune.model_dump()):
            out[d.name] = d
    return out
