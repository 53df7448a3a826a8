"""Sentence order under the base language model: real prose reads better in its own order than shuffled.

A window of the text's first consecutive sentences (at most `MAX_TOKENS` tokens) is scored by the base model in
its given order and in `K` random re-orderings of the same sentences, in one batched forward pass. The gap (mean
per-token NLL of the re-orderings minus that of the given order, in nats) is clearly above 0 for real prose and
about 0 for a text whose sentences are already in a random order (same tokens, so the figures are comparable).
The model is loaded through bot.voice.model (the configured base; never downloaded) and kept once per process.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from bot.core.config import Config
from bot.voice.style.order import sentence_list

MIN_SENTENCES = 4  # fewer sentences in the window: the signal is left out (say so)
MAX_TOKENS = 256  # the window's size in tokens (the cost grows with it: K + 1 sequences of this length)
# English essays' sentences are long: 256 tokens hold too few of them for the order to show (bench/sense)
WINDOW = {"en": 384}
K = 4  # re-orderings per text
STAT = "gap"  # the figure the sense gate compares with the bound of the text's language
# The lowest gap a real post shows, per language, measured for the embedded Gemma 3 270M by bench/sense.py: the 2 %
# quantile of the held-out posts of one half of the authors (the invented Korean authors + demo; half of the EBG
# English authors), reported on the other half (bench/sense/REPORT.md). The model reads Korean blog posts' order
# more sharply than English essays'. A language without a measured bound is left out (and says so).
BOUNDS = {"ko": 0.059, "en": 0.028}
JOIN = " "  # the same joiner for every ordering, so all of them hold the same tokens
_MODELS: dict[str, tuple[Any, Any]] = {}


def load(cfg: Config) -> tuple[Any, Any]:
    """(model, tokenizer) of the configured base, loaded once per process (bot.voice.model's own loader)."""
    from bot.voice import model as M

    ref = M.resolve_base(cfg)
    key = f"{ref.identity}|{cfg.model.device}|{cfg.model.dtype}"
    if key not in _MODELS:
        _MODELS.clear()  # one base in memory at a time
        _MODELS[key] = M.load_model(cfg, ref.path)
    M.set_threads(cfg)
    return _MODELS[key]


def window(text: str, tok: Any, max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Token ids of the text's first consecutive sentences that fit in `max_tokens` tokens (each sentence with its
    leading joiner, tokenised on its own: every ordering of them holds exactly the same tokens)."""
    out: list[list[int]] = []
    used = 1  # <bos>
    for s in sentence_list(text):
        ids = tok(JOIN + s, add_special_tokens=False)["input_ids"]
        if used + len(ids) > max_tokens:
            break
        out.append(ids)
        used += len(ids)
    return out


def orderings(n: int, k: int, seed: str) -> list[list[int]]:
    """The given order, then `k` random re-orderings of n sentences (each different from the given one); seeded
    by the text, so the same text always gets the same figure."""
    rng = random.Random(int(hashlib.sha1(seed.encode()).hexdigest()[:12], 16))
    given = list(range(n))
    out = [given]
    for _ in range(k):
        perm = given[:]
        while perm == given:
            rng.shuffle(perm)
        out.append(perm)
    return out


def token_nll(model: Any, seqs: list[list[int]], chunk: int = 64) -> list[list[float]]:
    """Each sequence's per-token negative log-likelihood (nats; the first token, <bos>, has none), one batched
    forward pass; the vocabulary projection goes in chunks of tokens so that memory stays small."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    dev = next(model.parameters()).device
    ids, mask = ids.to(dev), mask.to(dev)
    cap = getattr(model.config, "final_logit_softcapping", None)
    out = []
    with torch.inference_mode():
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        head = model.get_output_embeddings()
        for i, s in enumerate(seqs):
            vals: list[float] = []
            for a in range(0, len(s) - 1, chunk):
                b = min(len(s) - 1, a + chunk)
                logits = head(hidden[i, a:b]).float()
                if cap is not None:
                    logits = torch.tanh(logits / cap) * cap
                lp = torch.log_softmax(logits, -1).gather(1, ids[i, a + 1:b + 1, None])[:, 0]
                vals += (-lp).tolist()
            out.append(vals)
    return out


def window_tokens(text: str) -> int:
    """The window's size for this text's language."""
    from bot.voice.style.features import language

    return WINDOW.get(language(text), MAX_TOKENS)


def gap(cfg: Config, text: str, k: int = K, max_tokens: int | None = None) -> dict[str, Any]:
    """How much better the base model reads the window's sentences in their given order than re-ordered:
    {"gap": nats per token (mean over the re-orderings minus the given order), "t": the same per sentence as a
    paired t-statistic over the window's sentences, "sentences", "tokens", "seconds"}; "gap" and "t" are None,
    with a "reason", when the window holds fewer than MIN_SENTENCES sentences."""
    t0 = time.perf_counter()
    model, tok = load(cfg)
    max_tokens = max_tokens or window_tokens(text)
    pieces = window(text, tok, max_tokens)
    res: dict[str, Any] = {"gap": None, "t": None, "sentences": len(pieces)}
    if len(pieces) < MIN_SENTENCES:
        res["reason"] = (f"only {len(pieces)} sentence(s) in its first {max_tokens} tokens (at least "
                         f"{MIN_SENTENCES} to reorder)")
        return res
    perms = orderings(len(pieces), k, text)
    bos = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]  # every token then has an NLL
    nlls = token_nll(model, [bos + [t for j in p for t in pieces[j]] for p in perms])
    per_sentence = []  # [ordering][sentence] summed NLL of that sentence's tokens
    for p, vals in zip(perms, nlls, strict=True):
        sums, at = [0.0] * len(pieces), 0  # vals[i] is the NLL of token i + 1 (after <bos>)
        for j in p:
            sums[j] = float(sum(vals[at:at + len(pieces[j])]))
            at += len(pieces[j])
        per_sentence.append(sums)
    d = [sum(o[j] for o in per_sentence[1:]) / k - per_sentence[0][j] for j in range(len(pieces))]
    n_tok = sum(len(x) for x in pieces)
    mean = sum(d) / len(d)
    sd = (sum((x - mean) ** 2 for x in d) / (len(d) - 1)) ** 0.5
    res.update(gap=sum(d) / n_tok, t=mean / (sd / len(d) ** 0.5) if sd > 0 else 0.0, tokens=n_tok,
               nll=sum(per_sentence[0]) / n_tok, seconds=round(time.perf_counter() - t0, 2))
    return res


def judge(cfg: Config) -> Callable[[str], dict[str, Any]]:
    """`gap` bound to a config, for SenseProfile.check; a base model that cannot be loaded leaves the signal out
    (with the reason) instead of failing the whole gate."""
    from bot.core.errors import ModelError

    def run(text: str) -> dict[str, Any]:
        try:
            return gap(cfg, text)
        except ModelError as exc:
            return {"gap": None, "t": None, "reason": f"the base model cannot be loaded ({exc})"}

    return run
