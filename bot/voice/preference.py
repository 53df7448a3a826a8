"""The preference round of the style tune (`tune.preference_steps` > 0): after the supervised tune, the adapter is
taught to prefer the author's real continuation of a passage over its own sampled continuation of the same passage.

Pairs are built as in self-play fine-tuning (SPIN, Chen et al. 2024): a passage of a training post (the tune's prompt
plus the start of a body window), the author's next `tune.preference_tokens` tokens as the chosen side, and the tuned
model's own sampled continuation (the configured temperature and top-p, over the training shortlist) as the rejected
side. The loss is DPO's (Rafailov et al. 2023) with the supervised adapter as the frozen reference, plus the chosen
side's per-token loss (as in RPO, Pang et al. 2024), so the author's text does not become less likely while the
model's own habits are pushed down. The same pairs built from held-out posts say whether what it learned carries over:
`held_out_accuracy` is the share of those pairs where the adapter moved the author's continuation up more than its own
(0.5 = nothing learned).

Library API: `run(cfg, model, tok, weights, train_posts, held_out_posts, shortlist)` → metrics (the adapter's weights
are updated in place).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.console import progress
from bot.core.errors import ModelError
from bot.core.records import Post
from bot.voice import corpus
from bot.voice.inference import restrict_head
from bot.voice.lmhead import Shortlist, completions, language_model, softcap

PAIRS_PER_STEP = 4  # 8 sequences per step: about three supervised steps' worth of tokens
GEN_BATCH = 16
SFT_WEIGHT = 1.0  # the chosen side's per-token loss, added to DPO's


@dataclass
class Pair:
    context: list[int]  # the tune's prompt and the start of the window
    chosen: list[int]  # the author's next tokens
    rejected: list[int]  # the model's own continuation
    ref_chosen: float = 0.0  # summed log-probabilities under the supervised adapter (the reference)
    ref_rejected: float = 0.0


def passages(tok: Any, posts: list[Post], seq_len: int, n: int, length: int, seed: int,
             windows: corpus.Windows = corpus.Windows()) -> list[tuple[list, list]]:
    """Up to n (context, author's continuation) cuts of the posts' training windows, at random body positions
    (the start of a body among them), round-robin over the windows."""
    rng = random.Random(seed)
    spans = []  # (ids, first body index, end of the body before its end-of-text token)
    for ex in corpus.encode(tok, posts, seq_len, windows):
        end = len(ex.input_ids) - (ex.input_ids[-1] == tok.eos_token_id)
        start = len(ex.input_ids) - ex.n_loss
        if end - start >= length + 8:
            spans.append((ex.input_ids, start, end))
    rng.shuffle(spans)
    out: list[tuple[list, list]] = []
    for i in range(min(n, len(spans) * 4)):  # at most four cuts of one window
        ids, start, end = spans[i % len(spans)]
        cut = rng.randint(start, end - length)
        out.append((ids[:cut], ids[cut:cut + length]))
    return out


def sample(cfg: Config, model: Any, tok: Any, contexts: list[list[int]], length: int, allowed: list[int],
           seed: int, head_over_allowed: bool = True) -> list[list[int]]:
    """The model's own continuations of `contexts`: exactly `length` tokens each, sampled as drafts are (the
    configured temperature and top-p) but over the `allowed` tokens only. The output layer computes the allowed
    tokens' logits only (`head_over_allowed`; False: all 262k, then masked, `bench/preference.py`'s baseline)."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    dev = next(model.parameters()).device

    class Only(LogitsProcessor):
        def __init__(self) -> None:
            self.block: Any = None

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.block is None:
                self.block = torch.ones(scores.shape[-1], dtype=torch.bool, device=scores.device)
                self.block[torch.tensor(allowed, device=scores.device)] = False
            return scores.masked_fill(self.block, float("-inf"))

    only = Only()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out: list[list[int]] = []
    was_training = model.training
    model.eval()
    lm = language_model(model)
    full = restrict_head(lm, allowed) if head_over_allowed else None
    torch.manual_seed(seed)  # after restrict_head, whose new layer's initialisation draws from the generator
    try:
        with torch.no_grad():
            for i in range(0, len(contexts), GEN_BATCH):
                group = contexts[i : i + GEN_BATCH]
                width = max(len(c) for c in group)
                ids = torch.tensor([[pad] * (width - len(c)) + c for c in group], device=dev)
                mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in group], device=dev)
                gen = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=length,
                                     min_new_tokens=length, temperature=max(cfg.generate.temperature, 0.05),
                                     top_p=cfg.generate.top_p, top_k=0, logits_processor=LogitsProcessorList([only]),
                                     pad_token_id=pad, use_cache=True)
                out += [row[width:].tolist() for row in gen]
    finally:
        if full is not None:
            lm.lm_head = full
        model.train(was_training)
    return out


def seq_logps(model: Any, seqs: list[tuple[list[int], int]], shortlist: Any, pad_id: int) -> tuple[Any, Any]:
    """Summed log-probability of each sequence's tokens from its start index on (over the shortlist's softmax, as
    the tune's loss), and how many tokens each sum holds."""
    import torch

    width = max(len(ids) for ids, _ in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), corpus.IGNORE, dtype=torch.long)
    for i, (ids, start) in enumerate(seqs):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, start : len(ids)] = torch.tensor(ids[start:])
    lm, h, y = completions(model, {"input_ids": input_ids, "attention_mask": mask, "labels": labels})
    rows = torch.nonzero(labels[:, 1:] != corpus.IGNORE)[:, 0].to(h.device)
    logits = softcap(lm, torch.nn.functional.linear(h, shortlist.weight, shortlist.bias).float())
    lp = torch.log_softmax(logits, -1).gather(1, shortlist.pos[y][:, None]).squeeze(1)
    sums = torch.zeros(len(seqs), dtype=lp.dtype, device=lp.device).index_add(0, rows, lp)
    return sums, torch.bincount(rows, minlength=len(seqs)).clamp(min=1)


def _score(model: Any, pairs: list[Pair], shortlist: Any, pad_id: int) -> tuple[Any, Any, Any]:
    seqs = [(p.context + p.chosen, len(p.context)) for p in pairs] + \
        [(p.context + p.rejected, len(p.context)) for p in pairs]
    lp, n = seq_logps(model, seqs, shortlist, pad_id)
    return lp[: len(pairs)], lp[len(pairs):], n[: len(pairs)]


def _reference(model: Any, pairs: list[Pair], shortlist: Any, pad_id: int) -> None:
    import torch

    with torch.no_grad():
        for i in range(0, len(pairs), PAIRS_PER_STEP):
            group = pairs[i : i + PAIRS_PER_STEP]
            c, r, _ = _score(model, group, shortlist, pad_id)
            for p, a, b in zip(group, c.tolist(), r.tolist(), strict=True):
                p.ref_chosen, p.ref_rejected = a, b


def accuracy(model: Any, pairs: list[Pair], shortlist: Any, pad_id: int) -> float | None:
    """Share of pairs where the adapter raised the author's continuation more than its own, against the
    reference (what DPO's implicit reward ranks)."""
    import torch

    if not pairs:
        return None
    hits = 0
    with torch.no_grad():
        for i in range(0, len(pairs), PAIRS_PER_STEP):
            group = pairs[i : i + PAIRS_PER_STEP]
            c, r, _ = _score(model, group, shortlist, pad_id)
            hits += sum((a - p.ref_chosen) > (b - p.ref_rejected)
                        for p, a, b in zip(group, c.tolist(), r.tolist(), strict=True))
    return hits / len(pairs)


def build(cfg: Config, model: Any, tok: Any, posts: list[Post], n: int, shortlist: Any,
          seed: int) -> tuple[list[Pair], Any]:
    """Pairs from `posts` with their reference log-probabilities, and the shortlist they are scored over: the
    training one, widened by the author's tokens it lacks (held-out posts)."""
    t = cfg.tune
    cuts = passages(tok, posts, t.seq_len, n, t.preference_tokens, seed, corpus.Windows.of(t))
    if not cuts:
        return [], shortlist
    own = sample(cfg, model, tok, [c for c, _ in cuts], t.preference_tokens, shortlist.ids, seed)
    missing = {x for _, a in cuts for x in a} - set(shortlist.ids)
    if missing:
        shortlist = Shortlist(sorted(set(shortlist.ids) | missing), model.get_output_embeddings())
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    pairs = [Pair(c, a, r) for (c, a), r in zip(cuts, own, strict=True) if a != r]
    _reference(model, pairs, shortlist, pad)
    return pairs, shortlist


def _step(t: Any, model: Any, weights: Any, opt: Any, pairs: list[Pair], order: list[int], rng: random.Random,
          shortlist: Any, pad: int, losses: list[float], margins: list[float]) -> None:
    """One optimizer step of DPO (+ the chosen side's per-token loss) on the next PAIRS_PER_STEP pairs."""
    import torch

    if len(order) < PAIRS_PER_STEP:
        more = list(range(len(pairs)))
        rng.shuffle(more)
        order += more
    group = [pairs[order.pop()] for _ in range(min(PAIRS_PER_STEP, len(pairs)))]
    c, r, n = _score(model, group, shortlist, pad)
    ref_c = torch.tensor([p.ref_chosen for p in group], dtype=c.dtype, device=c.device)
    ref_r = torch.tensor([p.ref_rejected for p in group], dtype=c.dtype, device=c.device)
    margin = t.preference_beta * ((c - ref_c) - (r - ref_r))
    loss = -torch.nn.functional.logsigmoid(margin).mean() + SFT_WEIGHT * (-(c / n)).mean()
    loss.backward()
    weights.take_grads()
    torch.nn.utils.clip_grad_norm_(weights.tensors(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    weights.push()
    losses.append(float(loss.detach()))
    margins.append(float(margin.detach().mean()) / t.preference_beta)


def run(cfg: Config, model: Any, tok: Any, weights: Any, train_posts: list[Post], held_out: list[Post],
        shortlist: Any) -> dict[str, Any]:
    """The preference round on the tuned adapter (updated in place through `weights`, the tune's MasterWeights).
    Returns its metrics: steps, pairs, held_out_pairs, seconds, loss_first/last, margin_last (mean implicit reward
    margin, nats), train_accuracy, held_out_accuracy."""
    import torch

    t = cfg.tune
    t0 = time.monotonic()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    pairs, shortlist = build(cfg, model, tok, train_posts, t.preference_pairs, shortlist, t.seed)
    held, held_sl = build(cfg, model, tok, held_out, max(4, t.preference_pairs // 4), shortlist, t.seed + 1)
    if not pairs:
        logger.warning("preference round skipped: no passage of {}+ tokens in the training posts",
                       t.preference_tokens + 8)
        return {"steps": 0, "pairs": 0, "skipped": "no long enough passage"}
    gen_s = time.monotonic() - t0
    logger.info("preference round: {} pairs (+{} held out) of {} tokens built in {:.0f} s; {} steps",
                len(pairs), len(held), t.preference_tokens, gen_s, t.preference_steps)
    opt = torch.optim.AdamW(weights.tensors(), lr=t.preference_lr, weight_decay=0.0)
    rng = random.Random(t.seed)
    order: list[int] = []
    losses: list[float] = []
    margins: list[float] = []
    model.train()
    with progress() as bar:
        task = bar.add_task("preference round", total=t.preference_steps, info="")
        for step in range(t.preference_steps):
            _step(t, model, weights, opt, pairs, order, rng, shortlist, pad, losses, margins)
            bar.update(task, completed=step + 1, info=f"loss {losses[-1]:.3f} · margin {margins[-1]:+.1f} nats")
            if (step + 1) % 10 == 0 or step + 1 == t.preference_steps:
                logger.info("preference step {}/{}: loss {:.3f}, reward margin {:+.2f} nats", step + 1,
                            t.preference_steps, losses[-1], margins[-1])
    if not math.isfinite(losses[-1]):
        raise ModelError(f"the preference round diverged (loss {losses[-1]}): lower tune.preference_lr "
                         f"({t.preference_lr}) or raise tune.preference_beta ({t.preference_beta})")
    model.eval()
    out = {"steps": t.preference_steps, "pairs": len(pairs), "held_out_pairs": len(held),
           "tokens": t.preference_tokens, "build_seconds": round(gen_s, 1),
           "loss_first": round(losses[0], 4), "loss_last": round(sum(losses[-5:]) / len(losses[-5:]), 4),
           "margin_last": round(sum(margins[-5:]) / len(margins[-5:]), 3),
           "train_accuracy": round(accuracy(model, pairs, shortlist, pad) or 0.0, 3),
           "held_out_accuracy": None if not held else round(accuracy(model, held, held_sl, pad) or 0.0, 3)}
    out["seconds"] = round(time.monotonic() - t0, 1)
    model.train()
    logger.info("preference round done in {:.0f} s: pairs ranked right {:.0%} (training), {} (held out)",
                out["seconds"], out["train_accuracy"],
                "n/a" if out["held_out_accuracy"] is None else f"{out['held_out_accuracy']:.0%}")
    return out
