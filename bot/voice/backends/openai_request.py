"""What a request to an OpenAI-compatible server carries for this server and model (the `openai` backend's rules):
the sampling knobs outside the OpenAI API, named as llama.cpp or vLLM know them (model.sampling_extras), the user's
own fields (model.extra_body), a reasoning model's rules (model.reasoning: room for its thinking, no temperature or
top_p, the token limit's name); and what an answer means: usage and cost, a server's error as one line naming the
setting to change (a 400 about a parameter included).

Default: nothing outside the OpenAI API goes to a server that did not say it is llama.cpp or vLLM, so DeepSeek and
OpenAI get a standard request."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from bot.core.config import GenerateConfig, ModelConfig
from bot.core.errors import ConfigError, ModelError, TransientError

# OpenAI's reasoning models: no max_tokens (max_completion_tokens), no temperature/top_p other than the default
OPENAI_REASONING = re.compile(r"^(?:o\d+|gpt-5)(?:[-.:]|$)", re.I)
# reasoning models whose server accepts sampling parameters but ignores them
OTHER_REASONING = re.compile(r"^deepseek-reasoner(?:$|[-:])", re.I)
OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com")
SERVER_KINDS = {"llamacpp": "llamacpp", "vllm": "vllm"}  # /models `owned_by` → sampling_extras


@dataclass(frozen=True)
class Rules:
    """How one server and model are asked."""

    reasoning: bool  # leave room for the thinking in the token limit
    sampling: bool  # send temperature, top_p and the sampling extras
    limit_param: str  # "max_tokens" | "max_completion_tokens"
    extras: str  # "none" | "llamacpp" | "vllm": the names the sampling extras are sent under
    why: str  # how the rules were chosen (recorded in the draft's params)


def reasoning_name(name: str) -> str | None:
    """'openai' or 'other' when the model id is a known API reasoning model, else None. A provider prefix
    (OpenRouter's `openai/o3`) is looked through."""
    base = name.rsplit("/", 1)[-1]
    if OPENAI_REASONING.match(base):
        return "openai"
    return "other" if OTHER_REASONING.match(base) else None


def server_kind(models: list[Any]) -> str | None:
    """llamacpp / vllm from a /models listing's `owned_by` (llama.cpp's server and vLLM both say who they are)."""
    for x in models:
        owner = str(getattr(x, "owned_by", None) or (x.get("owned_by") if isinstance(x, dict) else "") or "")
        if owner.lower() in SERVER_KINDS:
            return SERVER_KINDS[owner.lower()]
    return None


def rules(m: ModelConfig, kind: str | None = None, seen_reasoning: bool = False) -> Rules:
    """The rules for model `m` on a server of `kind` (server_kind; None = unknown); `seen_reasoning`: an earlier
    answer of this server carried reasoning text."""
    by_name = reasoning_name(m.name or "")
    if m.reasoning is True:
        reasoning, sampling, why = True, False, "model.reasoning: true"
    elif m.reasoning is False:
        reasoning, sampling, why = False, True, "model.reasoning: false"
    elif by_name:
        reasoning, sampling, why = True, False, f"model.reasoning: auto ({m.name} is a reasoning model)"
    elif seen_reasoning:  # a served reasoning model (Qwen3, R1 distills): it took the sampling parameters
        reasoning, sampling, why = True, True, "model.reasoning: auto (the server sent reasoning text)"
    else:
        reasoning, sampling, why = False, True, "model.reasoning: auto"
    limit = m.max_tokens_param
    if limit == "auto":
        host = (urlparse(m.base_url or "").hostname or "").lower()
        openai_host = host == OPENAI_HOSTS[0] or host.endswith(OPENAI_HOSTS[1])
        direct = "/" not in (m.name or "") and by_name == "openai"  # a router (openai/o3) takes max_tokens
        limit = "max_completion_tokens" if openai_host or direct else "max_tokens"
    if m.api == "completions":  # the completions endpoint has max_tokens only
        limit = "max_tokens"
    extras = m.sampling_extras if m.sampling_extras != "auto" else (kind or "none")
    if not sampling:
        extras = "none"
    return Rules(reasoning, sampling, limit, extras, why)


def sampling_extras(g: GenerateConfig, extras: str) -> dict[str, Any]:
    """generate.top_k and generate.repetition_penalty under the names the server knows (none: nothing)."""
    if extras == "llamacpp":
        return {"top_k": g.top_k, "repeat_penalty": g.repetition_penalty}
    if extras == "vllm":
        return {"top_k": g.top_k or -1, "repetition_penalty": g.repetition_penalty}  # vLLM: -1 = off
    return {}


def token_limit(m: ModelConfig, r: Rules, answer_tokens: int) -> int:
    """model.max_tokens when set (reasoning counts in it), else the answer's room plus model.reasoning_tokens for a
    reasoning model."""
    return m.max_tokens or answer_tokens + (m.reasoning_tokens if r.reasoning else 0)


def apply(req: dict[str, Any], m: ModelConfig, g: GenerateConfig, r: Rules, limit: int, temperature: float,
          top_p: float | None, extras: bool = True) -> dict[str, Any]:
    """`req` with the token limit, the sampling parameters the rules allow and model.extra_body (`extras`: the
    sampling extras too; a greedy request has no use for them)."""
    req[r.limit_param] = limit
    if r.sampling:
        req["temperature"] = temperature
        if top_p is not None:
            req["top_p"] = top_p
    body = {**(sampling_extras(g, r.extras) if extras else {}), **req.get("extra_body", {}), **m.extra_body}
    req.pop("extra_body", None)
    if body:
        req["extra_body"] = body
    return req


# --- a server's 400 about one parameter -------------------------------------------------------------------------

_UNSUPPORTED = re.compile(r"unsupported|not supported|unrecogni[sz]ed|unknown|not permitted|not allowed|"
                          r"extra (?:inputs|fields)|does not support|unexpected|"
                          r"invalid (?:request )?(?:argument|param)", re.I)
_RANGE = re.compile(r"range|maximum|at most|less than|greater than|too (?:large|long|many)|exceed|invalid \w+ value",
                    re.I)


def _named(key: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z_]){re.escape(key)}(?![A-Za-z_])", text) is not None


def param_error(status: int | None, body: Any, message: str, req: dict[str, Any], m: ModelConfig,
                r: Rules) -> ConfigError | None:
    """A 400/422 naming one parameter blogbot sent → one line naming the setting to change; None when the error is
    about something else."""
    if status not in (400, 422):
        return None
    err = body.get("error", body) if isinstance(body, dict) else {}
    param = str(err.get("param") or "") if isinstance(err, dict) else ""
    text = " ".join(message.split())
    where = f"{m.name!r} at {m.base_url}"
    sent_extra = dict(req.get("extra_body") or {})
    user_keys = set(m.extra_body)
    candidates = [r.limit_param, "temperature", "top_p", "seed", *sent_extra]
    key = param if param in candidates else next((k for k in candidates if _named(k, text)), None)
    if key is None or not (param == key or _UNSUPPORTED.search(text) or _RANGE.search(text)):
        return None
    detail = f"(HTTP {status}: {text[:200]})"
    if key == r.limit_param:
        if _RANGE.search(text) and not _UNSUPPORTED.search(text):
            return ConfigError(f"model.max_tokens: {where} refused {key}={req.get(key)}: set model.max_tokens to "
                               f"what it allows (or lower model.reasoning_tokens) {detail}")
        other = "max_completion_tokens" if key == "max_tokens" else "max_tokens"
        return ConfigError(f"model.max_tokens_param: {where} does not take {key}: set model.max_tokens_param: "
                           f"{other} {detail}")
    if key in ("temperature", "top_p"):
        return ConfigError(f"model.reasoning: {where} rejects {key} (a reasoning model samples its own way): set "
                           f"model.reasoning: true {detail}")
    if key == "seed":
        return ConfigError(f"generate.seed: {where} rejects seed: set generate.seed: null {detail}")
    if key in user_keys:
        return ConfigError(f"model.extra_body: {where} rejects {key}: remove it from model.extra_body {detail}")
    return ConfigError(f"model.sampling_extras: {where} does not know {key} (sent as sampling_extras {r.extras}): "
                       f"set model.sampling_extras: none {detail}")


def server_error(exc: Exception, m: ModelConfig, detail: str, req: dict[str, Any] | None, r: Rules,
                 known_models: Callable[[], str]) -> Exception:
    """A failed request as one line naming the setting to look at; `detail`: the server's words, key scrubbed;
    `known_models()`: "; it serves: …" or ""."""
    import openai

    where = f"{m.base_url} (model.base_url)"
    if isinstance(exc, openai.APIStatusError) and req is not None:
        bad = param_error(exc.status_code, exc.body, detail, req, m, r)
        if bad is not None:  # a parameter this server or model does not take: the setting to change
            return bad
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        secret = f"the secret {m.api_key_secret!r}" if m.api_key_secret else "no key (model.api_key_secret unset)"
        return ModelError(f"model.api_key_secret: {where} rejected {secret} (HTTP {exc.status_code}): {detail}")
    if isinstance(exc, openai.NotFoundError):
        return ModelError(f"model.name: {where} has no model {m.name!r}{known_models()} (HTTP 404: {detail})")
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError | openai.APITimeoutError):
        what = "timed out" if isinstance(exc, openai.APITimeoutError) else f"answered HTTP {exc.status_code}"
        return TransientError(f"model server {where} {what} after {m.max_retries} retries "
                              f"(model.max_retries, model.timeout_s): {detail}")
    if isinstance(exc, openai.APIConnectionError | OSError):
        return ModelError(f"model.base_url: cannot reach {m.base_url} after {m.max_retries} retries: {detail}")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (502, 503, 504, 529):
            return TransientError(f"model server {where} answered HTTP {exc.status_code} after "
                                  f"{m.max_retries} retries: {detail}")
        return ModelError(f"model: {where} refused the request for {m.name!r} (HTTP {exc.status_code}): {detail}")
    return ModelError(f"model: {where}: {type(exc).__name__}: {detail}")


# --- usage and cost -----------------------------------------------------------------------------------------------


def usage(reported: Any, m: ModelConfig) -> dict[str, Any]:
    """Token counts as the server reported them (reasoning tokens and DeepSeek's cache hits included), and the cost:
    reported (OpenRouter and others), or estimated from model.price_*_per_mtok when set."""
    if reported is None:
        return {}
    u = reported.model_dump() if hasattr(reported, "model_dump") else dict(reported)
    out: dict[str, Any] = {k: u[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if u.get(k)
                           is not None}
    details = u.get("completion_tokens_details") or {}
    if details.get("reasoning_tokens"):
        out["reasoning_tokens"] = details["reasoning_tokens"]
    for k in ("prompt_cache_hit_tokens", "prompt_cache_miss_tokens"):  # DeepSeek's context cache
        if u.get(k) is not None:
            out[k] = u[k]
    if isinstance(u.get("cost"), int | float):
        out["cost"] = float(u["cost"])
    elif m.price_in_per_mtok is not None or m.price_out_per_mtok is not None:
        out["cost"] = round((out.get("prompt_tokens", 0) * (m.price_in_per_mtok or 0)
                             + out.get("completion_tokens", 0) * (m.price_out_per_mtok or 0)) / 1e6, 6)
        out["cost_estimated"] = True
    return out
