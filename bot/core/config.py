"""Configuration: pydantic models of config.yaml, loading with line-numbered errors, and secrets."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.errors import ConfigError
from bot.core.records import PlatformSpec

DEFAULT_CONFIG_FILE = "config.yaml"


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_cron(value: str) -> str:
    from bot.core.cron import cron_trigger  # weekdays as cron reads them (APScheduler 3's 0 is Monday)

    try:
        cron_trigger(value, "UTC")
    except ValueError as exc:
        raise ValueError(f'invalid cron expression "{value}": {exc}') from None
    return value


class JobSchedule(Section):
    cron: str
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return _check_cron(v)


class ScheduleConfig(Section):
    timezone: str = "Asia/Seoul"
    misfire_grace_s: int = Field(3600, ge=1)
    crawl: JobSchedule = JobSchedule(cron="30 4 * * *")
    tune: JobSchedule = Field(JobSchedule(cron="0 3 * * 1"), validation_alias=AliasChoices("tune", "retune"),
                              description="the weekly retune (`retune:` is read as this too)")
    draft: JobSchedule = JobSchedule(cron="0 9 * * *")
    publish: JobSchedule = JobSchedule(cron="0 10-20/2 * * *")
    catch_up: bool = Field(True, description="after downtime, a job that missed fire times runs once at start")
    stop_timeout_s: float = Field(60.0, ge=0, description="on SIGTERM/SIGINT, wait this long for the running job")
    isolate: list[Literal["crawl", "tune", "draft"]] = Field(
        ["tune"], description="jobs run in a child process (a crash or out-of-memory cannot kill the scheduler)")
    isolate_timeout_s: float = Field(7200.0, gt=0, description="a child process running longer is stopped")

    @field_validator("isolate", mode="before")
    @classmethod
    def _isolate(cls, v: Any) -> Any:
        return ["tune" if x == "retune" else x for x in v] if isinstance(v, list) else v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)


def check_timezone(v: str) -> str:
    """An IANA timezone name, else a ValueError naming valid ones."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown timezone "{v}"; valid: an IANA name such as Asia/Seoul, UTC, '
                         "America/New_York") from None
    return v


LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|[0-9]{3}))?$")


def check_locale(v: str) -> str:
    """A BCP 47 language tag of a real language (ko-KR, en-US), else a ValueError naming valid ones."""
    ok = bool(LOCALE_RE.match(v))
    if ok:
        try:
            from babel import Locale, UnknownLocaleError

            try:
                Locale.parse(v, sep="-")
            except (UnknownLocaleError, ValueError):
                ok = False
        except ImportError:  # babel absent: the shape is checked
            pass
    if not ok:
        raise ValueError(f'"{v}" is not a locale; valid: a language tag such as ko-KR, en-US, ja-JP')
    return v


class ModelConfig(Section):
    backend: Literal["local", "openai", "llamacpp"] = Field(
        "local", description="local: transformers on this machine; openai: any OpenAI-compatible server (DeepSeek, "
                             "vLLM, llama.cpp server, Ollama); llamacpp: a GGUF and the adapter through llama.cpp")
    base: str | None = Field(None, description="HF model id (local cache only), a folder, or a .gguf; None = embedded")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    load_in_4bit: bool = False
    threads: int | None = Field(None, ge=1)
    cache_dir: str | None = Field(None, description="converted bases and merged adapters (default <data_dir>/models)")
    # backend: openai
    base_url: str | None = Field(None, description="the server's OpenAI-compatible root, e.g. https://api.deepseek.com/v1")
    name: str | None = Field(None, description="the server's model id (vLLM with the adapter loaded: its lora name)")
    api_key_secret: str | None = Field(
        None, description="name of the secret holding the API key (BLOGBOT_<NAME> or the secrets file); None = no key")
    api: Literal["chat", "completions"] = Field(
        "chat", description="chat: a style brief and the author's posts as messages; completions: the tune's own "
                            "prompt (a served adapter: vLLM --enable-lora, llama.cpp --lora)")
    timeout_s: float = Field(120.0, gt=0, description="per request (a stream: between two chunks)")
    max_retries: int = Field(3, ge=0, le=10, description="429, 5xx, timeouts and dropped connections, with backoff")
    max_tokens: int | None = Field(None, ge=16, description="longest answer in tokens (None: room for the author's "
                                                            "usual length; reasoning models count their reasoning)")
    example_tokens: int = Field(3000, ge=0, description="budget for the author's posts sent as examples (chat)")
    max_examples: int = Field(4, ge=0, le=12)
    price_in_per_mtok: float | None = Field(None, ge=0, description="cost per million prompt tokens (when the "
                                                                   "server does not report a cost)")
    price_out_per_mtok: float | None = Field(None, ge=0)
    sampling_extras: Literal["auto", "none", "llamacpp", "vllm"] = Field(
        "auto", description="generate.top_k and generate.repetition_penalty (not in the OpenAI API) as the server "
                            "names them: llamacpp (top_k, repeat_penalty), vllm (top_k, repetition_penalty), none; "
                            "auto: only to a server whose /models says llama.cpp or vLLM (never to DeepSeek/OpenAI)")
    extra_body: dict[str, Any] = Field(default_factory=dict, description=(
        "fields added to every request's body as given (a server's own options); they win over sampling_extras"))
    reasoning: Literal["auto"] | bool = Field(
        "auto", description="true: a reasoning model (room for its thinking, no temperature/top_p); auto: by name "
                            "(deepseek-reasoner, o1/o3/o4…, gpt-5…) or once the server sends reasoning text")
    reasoning_tokens: int = Field(8000, ge=0, description="added to the answer's token limit for a reasoning "
                                                          "model's thinking (it counts against the limit)")
    max_tokens_param: Literal["auto", "max_tokens", "max_completion_tokens"] = Field(
        "auto", description="the token limit's name; auto: max_completion_tokens for OpenAI (api.openai.com, Azure, "
                            "o1/o3/o4/gpt-5 names), else max_tokens")
    # backend: llamacpp
    gguf: str | None = Field(None, description="the GGUF llama.cpp runs (default: model.base when it is a .gguf, "
                                               "else the embedded model)")
    context_tokens: int = Field(4096, ge=256, description="llama.cpp context size")
    llamacpp_adapter: Literal["auto", "lora", "merge"] = Field(
        "auto", description="lora: the GGUF LoRA applied by llama.cpp at run time; merge: the adapter merged into a "
                            "copy of the GGUF once per adapter version (cached; 0.97-0.99x plain llama.cpp on the "
                            "embedded model against the LoRA's 0.92-0.94x); auto: merge when the GGUF is under 1 GiB, "
                            "else lora (a merged copy of a big model costs gigabytes of disk)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f'must start with http:// or https:// (got "{v}")')
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _backend(self) -> ModelConfig:
        if self.backend == "openai":
            missing = [k for k in ("base_url", "name") if not getattr(self, k)]
            if missing:
                raise ValueError("backend openai needs " + " and ".join(f"model.{k}" for k in missing)
                                 + " (e.g. base_url: https://api.deepseek.com/v1, name: deepseek-chat)")
        if self.backend == "llamacpp" and self.load_in_4bit:
            raise ValueError("backend llamacpp runs a GGUF; model.load_in_4bit applies to the local backend only")
        if self.gguf is not None and not self.gguf.endswith(".gguf"):
            raise ValueError(f'model.gguf must be a .gguf file (got "{self.gguf}")')
        fixed = sorted(set(self.extra_body) & {"model", "messages", "prompt", "stream", "stream_options"})
        if fixed:
            raise ValueError(f"model.extra_body cannot set {', '.join(fixed)} (blogbot builds those itself)")
        return self


class TuneConfig(Section):
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    learning_rate: float = Field(3e-4, gt=0)
    seq_len: int = Field(256, ge=32)
    window_context: int = Field(0, ge=0, description=(
        "a long post is cut into windows of seq_len tokens; with N > 0 each window after the first starts with N "
        "tokens of the text before it, read but not learned, so only a post's real opening follows the prompt "
        "(0: windows start right after the prompt, mid-sentence, so drafts tend to open mid-thought; bench/style, "
        "five real bloggers, N = 64: right openings but fewer drafts attributed to their author, 66/150 "
        "candidates against 102/150, so off by default)"))
    mark_continuations: bool = Field(False, description=(
        "put the mark […] (read, not learned) between the prompt and every window of a long post but its first, so "
        "the adapter can tell a post's opening from its middle and drafts, which never carry the mark, open the way "
        "your posts do; unlike window_context every token is still learned (bench/style, five real bloggers: 107/150 "
        "candidates attributed to their author against 119/150 without it, so off by default)"))
    batch_tokens: int = Field(512, ge=32)
    epochs: float = Field(4.0, gt=0)
    max_steps: int = Field(200, ge=1)
    max_minutes: float = Field(20.0, gt=0)
    holdout: float = Field(0.15, gt=0, lt=0.9)
    eval_every: int = Field(10, ge=1)
    patience: int = Field(3, ge=1)
    min_steps: int = Field(90, ge=0, description=(
        "steps before early stopping may end the tune or keep a step's weights (evaluations before them are "
        "logged, not counted); capped at tune.min_steps_share of the steps the tune will run. bench/style, five real "
        "bloggers: 119/150 candidates attributed to their author against 106/150 with no floor (0)"))
    min_steps_share: float = Field(0.5, gt=0, le=1, description=(
        "the floor (tune.min_steps) is at most this share of the steps the tune will run: with few posts the run is "
        "short (epochs x steps per epoch), and a floor at its last step keeps only the weights of the last epoch "
        "(bench/style, the real English corpus, 9-13 posts per author, 52-72 steps: a held-out perplexity 1.5-2.9x "
        "the base model's, which the promotion gate rejects, with 1.0)"))
    stop_on: Literal["loss", "voice"] = Field("loss", description=(
        "what early stopping reads every eval_every steps and which step's weights are kept: the held-out loss of "
        "your posts, or the voice measure (how much more the adapter lowered the loss on your held-out posts than "
        "on the style background's, tune.voice_posts of them), counted only once your held-out loss is below the "
        "base model's"))
    min_posts: int = Field(8, ge=2)
    seed: int = 0
    checkpoint_every: int = Field(10, ge=1)
    vocab: Literal["shortlist", "full"] = Field(
        "shortlist", description="training softmax: the posts' tokens plus the base's likeliest ones, or all")
    shortlist_tokens: int = Field(8192, ge=0, description="the base model's likeliest tokens added to the shortlist")
    shortlist_sample_tokens: int = Field(1024, ge=1, description="training positions sampled to choose them")
    preference_steps: int = Field(30, ge=0, description=(
        "a preference round after the tune (bot/voice/preference.py): steps teaching the adapter to prefer your "
        "real continuation of a passage over its own (DPO on self-play pairs; bench/style, five real bloggers: "
        "32/50 drafts attributed to their author against 26/50 without it, up or equal for 5 of 5; about 3 minutes "
        "on 2 CPU cores); 0 = off"))
    preference_pairs: int = Field(32, ge=4, le=512, description="passages of your training posts for that round")
    preference_tokens: int = Field(48, ge=8, le=256, description="tokens of each continuation compared")
    preference_beta: float = Field(0.1, gt=0, description="DPO's beta: how far from the tuned adapter it may move")
    preference_lr: float = Field(5e-5, gt=0)
    voice_posts: int = Field(8, ge=0, le=64, description=(
        "other authors' posts (the style background) the promotion gate's voice measure reads: an adapter is "
        "promoted only when it learned more of you than of them, and more than the active adapter (0 = off)"))
    voice_chars: int = Field(1200, ge=200, description="characters read of each of those posts")


# tune settings added since adapters were first written, at the value an adapter written before them was trained
# with (an adapter's training.json lacks them)
TUNE_ADDED_AT = {"preference_steps": 0, "window_context": 0, "stop_on": "loss", "min_steps": 0,
                 "mark_continuations": False, "min_steps_share": 1.0}


# the promotion gate's voice measure: judged after training, not learned, unless early stopping reads it
VOICE_MEASURE = ("voice_posts", "voice_chars")


def learned_settings(tune: dict[str, Any]) -> dict[str, Any]:
    """The tune settings that steer what is learned: the voice measure's left out while tune.stop_on is loss."""
    judged = VOICE_MEASURE if tune.get("stop_on", "loss") == "loss" else ()
    return {k: v for k, v in tune.items() if k not in judged}


def tune_recipe(tune: dict[str, Any]) -> dict[str, Any]:
    """A tune settings dict (an adapter's training.json, or TuneConfig.model_dump()) as what decides the weights:
    settings added since at the value older adapters were trained with, and the preference round's settings left
    out while the round is off."""
    full = {**TUNE_ADDED_AT, **tune}
    if not full.get("preference_steps"):
        full = {k: v for k, v in full.items() if not k.startswith("preference_") or k == "preference_steps"}
    return full


class GenerateConfig(Section):
    max_new_tokens: int = Field(700, ge=16)
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.92, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    repetition_penalty: float = Field(1.15, ge=1)
    no_repeat_ngram_size: int = Field(4, ge=0, description="no token 4-gram twice (0 = off)")
    spare_layout: bool = Field(False, description=(
        "the local backend's repetition penalty and n-gram ban leave line breaks and runs of spaces alone (an "
        "author who ends sentences with a line break repeats the same 4-gram by nature; bench/style, five real "
        "bloggers: 119/150 candidates attributed against 122/150 and farther in style for 3 of 4, so off)"))
    pace: float = Field(3.0, ge=0, description=(
        "the local and llamacpp backends keep question and exclamation marks, ellipses, tildes, ㅋㅋ/ㅎㅎ/ㅠㅠ and "
        "emoji at most at your own rate (measured on your posts when the adapter was tuned): a mark that would go "
        "over it loses this many logits (0 = off; adapters tuned before this setting have no rates and draft as "
        "before). bench/style, five real bloggers, torch road, the product's choice among 3 candidates: 50/50 drafts "
        "attributed to their author and 4 of 4 within the distance target, against 49/50 and 2 of 4 unpaced"))
    pace_backends: list[Literal["local", "llamacpp"]] = Field(["local"], description=(
        "the backends that pace (generate.pace): llamacpp paces by ending its streamed request whenever the marks "
        "held down change, and measured no better there (bench/style, one draft per topic: 46/50 attributed and 2 "
        "of 4 within the distance target, against 49/50 and 1 of 4 unpaced), so only local by default"))
    n_candidates: int = Field(9, ge=1, le=16, description=(
        "best-of-n: the most candidates one draft writes, as many as fit in draft_minutes; passing the gates comes "
        "first, then copying no more of your posts than you do, then sounding most like you x topic adherence "
        "(bench/style, five real bloggers, drafts kept that the bench's judge attributes to their author: the first "
        "candidate alone 39/50 on the torch road and 42/50 served by llama.cpp, best-of-3 43/50 and 43/50, "
        "best-of-6 44/50 and 45/50, best-of-9 45/50 and 47/50)"))
    draft_minutes: float = Field(5.0, gt=0, description=(
        "time budget for one draft's candidates: the first is always written, another only while the time so far "
        "plus the slowest candidate yet fits"))
    retrieve_examples: int = Field(0, ge=0, le=5)
    seed: int | None = None
    max_topic_chars: int = Field(200, ge=10)
    quantize: Literal["auto", "int8", "none"] = Field("auto", description="int8 dynamic quantization on CPU")
    int8_scales: Literal["tensor", "channel"] = Field("channel", description=(
        "int8 weight scales: one per output row (finer steps: less rounding noise on the merged adapter's small "
        "changes; bench/style: 21/50 drafts attributed to their author against 14/50 per tensor, same speed), "
        "or one per tensor"))
    vocab: Literal["author", "full"] = Field(
        "author", description="author: output layer limited to the author's tokens + Hangul/punctuation/emoji")
    min_new_tokens: int = Field(0, ge=0, description="0 = steered from the author's typical post length")
    title_step: bool = Field(True, description=(
        "write the title your way after the body (one short extra generation, ~4 s on a CPU); off: a draft without "
        "its own `# title` is titled with the topic line, and the title gate accepts that"))


class IngestConfig(Section):
    max_file_bytes: int = Field(2_000_000, ge=1)
    extensions: list[str] = [".md", ".markdown", ".txt", ".html", ".htm", ".xml"]


class Source(Section):
    """One blog to read (`sources:`); which field names the blog is the platform's `source_key`."""

    platform: str
    blog_id: str | None = None
    blog: str | None = None
    username: str | None = None
    base_url: str | None = Field(None, description="the site's root, when it is not the platform's own (tests)")

    @model_validator(mode="before")
    @classmethod
    def _pasted_url(cls, data: Any) -> Any:
        """A blog's address pasted as a source: say what to write instead."""
        text = data if isinstance(data, str) else None
        if isinstance(data, dict):
            text = next((str(v) for k, v in data.items() if k in ("blog_id", "blog", "username")
                         and "/" in str(v or "")), None)
        if text is None:
            return data
        raise ValueError(f'"{text}" is an address; a source names the platform and the blog, e.g. '
                         f"{source_hint(text)}")

    @model_validator(mode="after")
    def _account(self, info: ValidationInfo) -> Source:
        specs = (info.context or {}).get("platforms")
        if specs is None:
            return self
        spec = specs.get(self.platform)
        if spec is None or not spec.reads:
            readable = ", ".join(n for n, s in specs.items() if s.reads)
            raise ValueError(f'no platform named "{self.platform}" to read from; known: {readable}')
        if not getattr(self, spec.source_key):
            raise ValueError(f"a {self.platform} source needs `{spec.source_key}` (the blog's name or id, "
                             f"not its URL), e.g. {{platform: {self.platform}, {spec.source_key}: myblog}}")
        return self

    @property
    def account(self) -> str:
        return str(self.blog_id or self.blog or self.username)


def source_hint(url: str) -> str:
    """What to write in `sources:` for a blog address (Naver, Tistory, Velog), else the general form."""
    m = re.search(r"blog\.naver\.com/(?:PostList\.naver\?blogId=)?([A-Za-z0-9_-]+)", url)
    if m:
        return f"{{platform: naver, blog_id: {m.group(1)}}}"
    m = re.search(r"([A-Za-z0-9-]+)\.tistory\.com", url)
    if m:
        return f"{{platform: tistory, blog: {m.group(1)}}}"
    m = re.search(r"velog\.io/@([A-Za-z0-9_-]+)", url)
    if m:
        return f"{{platform: velog, username: {m.group(1)}}}"
    return "{platform: naver, blog_id: myblog} (tistory: blog, velog: username)"


class CrawlConfig(Section):
    user_agent: str = "blogbot/0.1 (+https://github.com/blogbot/blogbot; reads the owner's own posts)"
    timeout_s: float = Field(20.0, gt=0)
    retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    max_backoff_s: float = Field(60.0, ge=0)
    per_host_concurrency: int = Field(2, ge=1)
    min_delay_s: float = Field(1.0, ge=0)
    respect_robots: bool = True
    timezone: str = "Asia/Seoul"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)


class BrowserConfig(Section):
    executable_path: str = "/usr/bin/chromium"
    headless: bool = True
    locale: str = "ko-KR"
    timezone: str = "Asia/Seoul"
    timeout_ms: int = Field(30_000, ge=1000)
    navigation_timeout_ms: int = Field(45_000, ge=1000)
    overlay_wait_ms: int = Field(1500, ge=0, description="how long to wait for an optional popup (help, draft restore)")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        return check_locale(v)


class PlatformPublish(Section):
    """`publish.<platform>`: whether and how often blogbot publishes there. Each platform of the registry may
    change these defaults (the local sandbox is on and unpaced)."""

    enabled: bool = False
    account: str | None = Field(None, description="blog name / blog id / username on the platform")
    base_url: str | None = Field(None, description="where a local platform (the sandbox) already serves")
    urls: dict[str, str] = Field({}, description="the driver's URL templates overridden, e.g. {login: https://...}")
    daily_cap: int = Field(2, ge=0)
    min_interval_minutes: float = Field(180, ge=0)
    jitter_minutes: float = Field(20, ge=0)
    visibility: Literal["public", "private"] = "public"
    category: str | None = None
    review: Literal["auto", "manual"] | None = None
    mode: Literal["api", "ui"] | None = Field(
        None, description="api: velog writePost / tistory manage/post.json; ui: the editor page (default: velog api, "
                          "tistory ui; naver has only ui)")
    driver: str | None = Field(None, description="a local platform only: which platform's driver it runs")
    _local: bool = PrivateAttr(False)  # a local imitation: never a default target once a real platform is on

    @property
    def local(self) -> bool:
        return self._local


class PublishConfig(Section):
    """`publish:` — one section per publishing platform of the registry, and `default_platforms`."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    __pydantic_extra__: dict[str, PlatformPublish] = Field(init=False)

    default_platforms: list[str] | None = Field(
        None, description="where a topic goes when it names no platforms; unset: every enabled platform (the local "
                          "sandbox only while no real platform is enabled)")
    lock_wait_s: float = Field(
        0, ge=0, le=86400, description="how long a publish run waits for another one working on the same data dir "
                                       "before it gives up with a message (0: give up at once)")

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any, info: ValidationInfo) -> Any:
        """Every publishing platform of the registry gets its section, over the platform's own defaults."""
        specs = (info.context or {}).get("platforms")
        if specs is None or not isinstance(data, dict):
            return data
        data = dict(data)
        for name, spec in specs.items():
            if spec.publishes:
                own = data.get(name) or {}
                if isinstance(own, PlatformPublish):
                    own = own.model_dump(exclude_unset=True)
                data[name] = {**spec.publish_defaults, **own} if isinstance(own, dict) else own
        return data

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> PublishConfig:
        specs = (info.context or {}).get("platforms")
        if specs is None:
            return self
        for name, section in self.platforms.items():
            section._local = specs[name].local
        known = ", ".join(self.platforms)
        for name in self.default_platforms or []:
            if name not in self.platforms:
                raise ValueError(f'default_platforms: no platform named "{name}" to publish to; known: {known}')
        return self

    @property
    def platforms(self) -> dict[str, PlatformPublish]:
        return dict(self.__pydantic_extra__ or {})

    def get(self, name: str) -> PlatformPublish | None:
        return (self.__pydantic_extra__ or {}).get(name)

    def enabled(self) -> list[str]:
        return [n for n, s in self.platforms.items() if s.enabled]

    def defaults(self) -> list[str]:
        """Where a topic without `platforms:` goes: `default_platforms` when set, else every enabled real
        platform, else the enabled local ones (the sandbox)."""
        if self.default_platforms is not None:
            return list(self.default_platforms)
        on = self.enabled()
        return [n for n in on if not self.platforms[n].local] or on


class GatesConfig(Section):
    max_copy_run_chars: int | None = Field(None, ge=1, description="longest run of characters (spaces removed) "
                                           "shared with a past post; null = twice your own posts' worst, min 40")
    max_copy_share: float | None = Field(None, ge=0, le=1, description="share of 10-character windows found in "
                                         "past posts; null = twice your own posts' worst, min 8 %")
    max_repeat_share: float = Field(0.3, ge=0, le=1)
    max_hashtags: int | None = Field(None, ge=0, description="hashtags per draft; null = your own posts' most, min 5")
    sense: bool = Field(True, description="the sense gate: word salad, sentence order, degeneration, broken text")
    sense_lm: bool = Field(True, description="the sense gate also reads the sentence order with the base model "
                           "(a few seconds per draft on 1 CPU thread; off on a tiny machine)")
    layout: bool = Field(True, description="the layout gate: paragraphs, headings, lists, line breaks, emoji")
    layout_slack: float = Field(0.5, ge=0, description="allowed beyond your posts' layout range, as a share of it")
    min_notes_coverage: float = Field(0.6, ge=0, le=1, description="share of the topic notes' points the draft covers")
    length_tolerance: float = Field(0.5, ge=0)
    title_tolerance: float = Field(0.5, ge=0, description="a title longer than your longest by more than this "
                                   "share of it fails the title gate")
    min_topic_overlap: float = Field(0.1, ge=0, le=1)
    forbidden_words: list[str] = []
    min_chars: int = Field(30, ge=0, description="a draft shorter than this is empty output")
    min_fidelity: float = Field(0.0, ge=0, le=1, description="topic-masked fidelity below this goes to review")
    require_reliable_score: bool = Field(True, description="review drafts when the author has too few posts to score")
    max_distance: float | None = Field(None, ge=0, description="stylometric distance above this goes to review")


class StyleConfig(Section):
    background_builtin: bool = Field(True, description=(
        "use the authors shipped with blogbot in your posts' language: invented Korean bloggers, or English "
        "essayists for English posts (any other language gets the Korean ones)"))
    background_dirs: list[Path] = Field([], description="more authors: folders of posts, one subfolder per author")
    min_posts: int = Field(10, ge=2, description="fewer posts of the author: the score is marked unreliable")
    max_chars: int = Field(20000, ge=1000, description="longer texts are scored on their first max_chars")
    cv_folds: int = Field(5, ge=2, le=10)


class Webhook(Section):
    url_secret: str = Field(description="name of the secret that holds the URL")
    format: Literal["json", "slack", "discord", "telegram"] = "json"
    events: list[Literal["published", "failed", "needs_login", "review"]] = ["published", "failed", "needs_login"]
    chat_id: str | None = None
    timeout_s: float = Field(5.0, gt=0, le=60, description="per delivery; a failed delivery is logged, never fatal")


class WatchdogConfig(Section):
    max_silence_days: float = Field(7.0, gt=0)
    max_failed_runs: int = Field(3, ge=1, description="warn when a job's last N runs all failed")


class UiConfig(Section):
    """`blogbot ui`, the review desk in the browser."""

    host: str = Field("127.0.0.1", description="the address it listens on (0.0.0.0 only inside a container)")
    port: int = Field(8770, ge=0, le=65535, description="0 = any free port (8765 is the sandbox's)")
    language: Literal["ko", "en"] = Field("ko", description="the desk's language until a person picks another")


class Config(Section):
    data_dir: Path = Path("./data")
    topics_file: Path = Path("topics.yaml")
    secrets_file: Path | None = Field(None, description="KEY=value file with mode 0600")
    review: Literal["auto", "manual"] = "manual"
    model: ModelConfig = ModelConfig()
    tune: TuneConfig = TuneConfig()
    generate: GenerateConfig = GenerateConfig()
    ingest: IngestConfig = IngestConfig()
    sources: list[Source] = []
    crawl: CrawlConfig = CrawlConfig()
    browser: BrowserConfig = BrowserConfig()
    publish: PublishConfig = Field(default_factory=dict, validate_default=True)  # each platform's section
    gates: GatesConfig = GatesConfig()
    style: StyleConfig = StyleConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    webhooks: list[Webhook] = []
    watchdog: WatchdogConfig = WatchdogConfig()
    ui: UiConfig = UiConfig()

    # Set by load(): where the file was, so relative paths resolve against it.
    source_path: Path | None = Field(None, exclude=True)

    def resolve(self, p: Path) -> Path:
        p = p.expanduser()
        base = self.source_path.parent if self.source_path else Path.cwd()
        return (p if p.is_absolute() else (base / p)).resolve()

    @property
    def data_path(self) -> Path:
        return self.resolve(self.data_dir)

    @property
    def topics_path(self) -> Path:
        return self.resolve(self.topics_file)

    def secret(self, name: str) -> str | None:
        return read_secret(name, self.resolve(self.secrets_file) if self.secrets_file else None)

    def review_mode(self, platform: str | None = None) -> str:
        plat = self.publish.get(platform) if platform else None
        return (plat.review if plat and plat.review else None) or self.review

    def max_silence(self) -> timedelta:
        return timedelta(days=self.watchdog.max_silence_days)


# --- loading -------------------------------------------------------------------------------------------------


def _line_index(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Map every key path in a composed YAML tree to its 1-based line (keys to the key's line)."""
    out: dict[tuple, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            sub = path + (k.value,)
            out.update(_line_index(v, sub))
            out[sub] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_line_index(v, path + (i,)))
    return out


class StrictYAMLError(yaml.MarkedYAMLError):
    """Valid YAML that blogbot refuses (a key twice in one mapping, an impossible date)."""


DATE_FORMS = "YYYY-MM-DD, YYYY-MM-DD HH:MM or YYYY-MM-DDTHH:MM:SS+09:00 (e.g. 2025-06-01)"


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (naming both lines) instead of keeping
    the last, and a date that does not exist (2025-13-45) instead of a traceback."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise StrictYAMLError(None, None, f"{key}: the key is given twice (lines {seen[key]} and "
                                      f"{k.start_mark.line + 1}); keep one", k.start_mark)
            if key is not None:
                seen[key] = k.start_mark.line + 1
            if v.tag == "tag:yaml.org,2002:timestamp":
                try:
                    self.construct_yaml_timestamp(v)
                except ValueError as exc:
                    raise StrictYAMLError(None, None, f"{key}: {v.value!r} is not a date ({exc}); valid: "
                                          f"{DATE_FORMS}", v.start_mark) from None
        return super().construct_mapping(node, deep)


def yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    if isinstance(exc, StrictYAMLError):
        return ConfigError(f"{path}:{exc.problem_mark.line + 1} {exc.problem}")
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    ctx, ctx_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if ctx and ctx_mark and (not mark or ctx_mark.line != mark.line):
        problem += f" ({ctx} started at line {ctx_mark.line + 1})"
    return ConfigError(f"{where}: malformed YAML: {problem}")


def read_yaml_file(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a key-path → line index. Raises ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    return data, (_line_index(node) if node is not None else {})


def format_validation(path: Path, exc: ValidationError, lines: dict[tuple, int], prefix: tuple = ()) -> ConfigError:
    """`file:line key.path: message` for each error; `prefix` locates a sub-document (a list item)."""
    msgs = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = None
        for n in range(len(loc), -1, -1):  # closest enclosing key that exists in the file
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{path}:{line}" if line else str(path)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        msgs.append(f"{where} {key}: {msg}")
    return ConfigError("\n".join(msgs))


def load(path: Path | str | None = None, platforms: Mapping[str, PlatformSpec] | None = None) -> Config:
    """Load and validate config.yaml against the registry of `platforms` (platform names in `publish:`,
    `sources:` and `default_platforms` are checked, each platform's defaults applied). A missing default file
    gives the built-in defaults. The shell passes the registry (platforms.load_config)."""
    explicit = path is not None
    ctx = {"platforms": platforms} if platforms is not None else None
    p = Path(path or os.environ.get("BLOGBOT_CONFIG", DEFAULT_CONFIG_FILE))
    if not p.exists():
        if explicit or "BLOGBOT_CONFIG" in os.environ:
            raise ConfigError(f"{p}: file not found")
        return _env_overrides(Config.model_validate({}, context=ctx))
    data, lines = read_yaml_file(p)
    if data is None:
        raise ConfigError(f"{p}: empty file (expected a mapping of settings)")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: the top level must be a mapping of settings, not {type(data).__name__}")
    if platforms is not None:
        _check_platform_names(p, data, lines, platforms)
    try:
        cfg = Config.model_validate(data, context=ctx)
    except ValidationError as exc:
        raise format_validation(p, exc, lines) from None
    cfg.source_path = p.resolve()
    problem = secrets_problem(cfg)
    if problem:
        raise ConfigError(f"{p}:{lines.get(('secrets_file',), '?')} secrets_file: {problem}")
    return _env_overrides(cfg)


def secrets_problem(cfg: Config) -> str | None:
    """Why the configured secrets file cannot be used (missing, not a file, readable by others), or None."""
    if cfg.secrets_file is None:
        return None
    path = cfg.resolve(cfg.secrets_file)
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"{path} does not exist; create it (KEY=value lines) with mode 600, or remove secrets_file"
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a file"
    if stat.S_IMODE(st.st_mode) & 0o077:
        return f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); run `chmod 600 {path}`"
    return None


def _check_platform_names(path: Path, data: dict, lines: dict[tuple, int],
                          platforms: Mapping[str, PlatformSpec]) -> None:
    """`publish.<name>` for a platform the registry does not know: refused with its line and the known names."""
    section = data.get("publish")
    if not isinstance(section, dict):
        return
    known = [n for n, s in platforms.items() if s.publishes]
    defaults = section.get("default_platforms")
    for i, name in enumerate(defaults if isinstance(defaults, list) else []):
        if name not in known:
            line = lines.get(("publish", "default_platforms", i)) or lines.get(("publish", "default_platforms"))
            raise ConfigError(f"{path}:{line} publish.default_platforms: no platform named \"{name}\" to publish "
                              f"to; known: {', '.join(known)}")
    for key in section:
        if key not in PublishConfig.model_fields and key not in known:
            line = lines.get(("publish", key))
            raise ConfigError(f"{path}:{line} publish.{key}: no platform named \"{key}\" to publish to; "
                              f"known: {', '.join(known)}")


def _env_overrides(cfg: Config) -> Config:
    """BLOGBOT_DATA_DIR overrides data_dir (the Docker image points it at its volume)."""
    if os.environ.get("BLOGBOT_DATA_DIR"):
        cfg.data_dir = Path(os.environ["BLOGBOT_DATA_DIR"])
    return cfg


# --- secrets -------------------------------------------------------------------------------------------------

SECRET_ENV_PREFIX = "BLOGBOT_"


def read_secret(name: str, secrets_file: Path | None) -> str | None:
    """A secret by name: environment variable BLOGBOT_<NAME> first, then the 0600 secrets file."""
    env = os.environ.get(SECRET_ENV_PREFIX + name.upper())
    if env:
        return env
    if secrets_file is None:
        return None
    try:
        st = secrets_file.stat()
    except FileNotFoundError:
        raise ConfigError(f"{secrets_file}: secrets file not found") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"{secrets_file}: secrets file must not be readable by others (chmod 600 {secrets_file})")
    for n, line in enumerate(secrets_file.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError(f"{secrets_file}:{n}: expected KEY=value")
        k, v = line.split("=", 1)
        if k.strip().upper() == name.upper():
            return v.strip()
    return None


def masked_dump(cfg: Config) -> dict[str, Any]:
    """The effective config as plain data with any secret values masked (YAML holds only secret names)."""
    data = cfg.model_dump(mode="json")
    for hook in data.get("webhooks", []):
        hook["url"] = "***" if cfg.secret(hook["url_secret"]) else "(not set)"
    if cfg.model.api_key_secret:
        data["model"]["api_key"] = "***" if cfg.secret(cfg.model.api_key_secret) else "(not set)"
    return data
