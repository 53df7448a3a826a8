"""LoRA training of the style adapter: packed completion-only batches, a fused chunked loss over the big vocabulary,
early stopping on held-out loss, resumable checkpoints, and an atomically written, versioned adapter folder.

Library API (no database needed; the style benchmark uses it on any list of posts):

    metrics = bot.tune.train(cfg, posts, out_dir)          # -> dict, see `train`
    ppl = bot.tune.perplexity(model, tok, held_out_posts)   # completion-only perplexity
    ppl = bot.tune.perplexity_of(cfg, posts, adapter_dir)   # loads the base (+ adapter) first
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from bot import corpus
from bot.config import Config
from bot.errors import ModelError
from platforms.base import Post

CKPT = "checkpoint.pt"


def _fused_ce() -> Any:
    import torch

    class ChunkedLinearCE(torch.autograd.Function):
        """mean CE(h @ W.T, y) over a 262k vocabulary without ever holding all logits: the gradient w.r.t. h is
        computed chunk by chunk in the forward pass (W is frozen under LoRA, so it needs no gradient)."""

        @staticmethod
        def forward(ctx: Any, h: Any, w: Any, y: Any, chunk: int) -> Any:
            n = max(1, h.shape[0])
            total = torch.zeros((), dtype=torch.float32, device=h.device)
            grad = torch.empty_like(h) if ctx.needs_input_grad[0] else None
            for i in range(0, h.shape[0], chunk):
                logits = (h[i : i + chunk] @ w.t()).float()
                yc = y[i : i + chunk]
                lse = torch.logsumexp(logits, -1)
                total += (lse - logits.gather(1, yc[:, None]).squeeze(1)).sum()
                if grad is not None:
                    p = logits.sub_(lse[:, None]).exp_()
                    p[torch.arange(len(yc), device=h.device), yc] -= 1
                    grad[i : i + chunk] = (p.to(w.dtype) @ w) / n
            ctx.save_for_backward(grad if grad is not None else h.new_zeros(0))
            return total / n

        @staticmethod
        def backward(ctx: Any, go: Any) -> tuple:
            (grad,) = ctx.saved_tensors
            return grad * go.to(grad.dtype), None, None, None

    return ChunkedLinearCE


def loss_and_tokens(model: Any, batch: dict[str, Any], chunk: int = 128) -> tuple[Any, int]:
    """Completion-only mean loss of a batch and the number of predicted tokens. Only positions with a label go
    through the output projection."""
    import torch

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = lm.get_output_embeddings()
    batch = {k: v.to(head.weight.device) for k, v in batch.items()}
    out = lm.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    h = out.last_hidden_state[:, :-1]
    y = batch["labels"][:, 1:]
    keep = y != corpus.IGNORE
    h, y = h[keep], y[keep]
    if getattr(lm.config, "final_logit_softcapping", None) or head.weight.requires_grad or head.bias is not None:
        logits = lm.lm_head(h).float()
        if getattr(lm.config, "final_logit_softcapping", None):
            cap = lm.config.final_logit_softcapping
            logits = torch.tanh(logits / cap) * cap
        return torch.nn.functional.cross_entropy(logits, y), int(y.numel())
    return _fused_ce().apply(h, head.weight, y, chunk), int(y.numel())


def perplexity(model: Any, tok: Any, posts: list[Post], seq_len: int = 256) -> float:
    """Held-out perplexity of `posts` (loss on the bodies only, the same prompt as training)."""
    import torch

    batches = corpus.batches([corpus.Row(e.input_ids, e.labels) for e in corpus.encode(tok, posts, seq_len)],
                             1, tok.pad_token_id, random.Random(0))
    nll, n = 0.0, 0
    model.eval()
    with torch.no_grad():
        for b in batches:
            loss, k = loss_and_tokens(model, b)
            nll, n = nll + float(loss) * k, n + k
    return math.exp(nll / max(1, n))


def perplexity_of(cfg: Config, posts: list[Post], adapter_dir: Path | None = None) -> float:
    """Load the configured base (plus an adapter) and return its held-out perplexity on `posts`."""
    from bot import model as base_model

    model, tok = base_model.load_model(cfg)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    return perplexity(model, tok, posts, cfg.tune.seq_len)


def _lora(cfg: Config, model: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in cfg.tune.target_modules if t in names]
    if not targets:
        raise ModelError(f"tune.target_modules {cfg.tune.target_modules} match no layer of the base model")
    lc = LoraConfig(r=cfg.tune.lora_r, lora_alpha=cfg.tune.lora_alpha, lora_dropout=cfg.tune.lora_dropout,
                    target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(model, lc)


def _lora_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _set_lora_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(v)


def _fingerprint(cfg: Config, dh: str, base_id: str) -> str:
    return hashlib.sha1(json.dumps([cfg.tune.model_dump(), dh, base_id], sort_keys=True).encode()).hexdigest()[:12]


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: Config, posts: list[Post], out_dir: Path, *, base: Any = None,
          compare: dict[str, Path] | None = None, work_dir: Path | None = None,
          on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Tune a LoRA adapter on `posts` and write it to `out_dir` (atomically: a temp folder renamed at the end).

    `base`: a `bot.model.BaseRef` (default: resolved from cfg). `compare`: other adapter folders (same base) to
    measure on the same held-out posts, e.g. {"v0003": path} for the promotion gate. `work_dir` holds the
    resumable checkpoint (default: out_dir + ".work"); a killed run started again with the same data and config
    continues from it. `on_step(step, loss)` is called after each optimizer step.

    Returns metrics: train_loss, val_loss, best_step, steps, epochs, tokens, tokens_per_s, seconds,
    held_out_ppl_base, held_out_ppl_adapter, held_out_ppl_compare {name: ppl}, data_hash, base_model,
    n_train_posts, n_held_out_posts, stopped ("early_stop" | "max_steps" | "max_minutes" | "epochs"),
    resumed_from_step, typical_chars.
    """
    import torch

    from bot import model as base_model
    from bot.ui import progress

    t_cfg = cfg.tune
    base = base or base_model.resolve_base(cfg)
    train_posts, val_posts = corpus.split(posts, t_cfg.holdout, t_cfg.seed, t_cfg.min_posts)
    dh = corpus.data_hash(posts)
    work_dir = work_dir or out_dir.with_name(out_dir.name + ".work")
    torch.manual_seed(t_cfg.seed)
    model, tok = base_model.load_model(cfg, base.path, for_training=True)
    rows = corpus.pack(corpus.encode(tok, train_posts, t_cfg.seq_len), t_cfg.seq_len)
    val_rows = [corpus.Row(e.input_ids, e.labels) for e in corpus.encode(tok, val_posts, t_cfg.seq_len)]
    val_batches = corpus.batches(val_rows, t_cfg.batch_tokens, tok.pad_token_id, random.Random(0))
    per_epoch = corpus.steps_per_epoch(rows, t_cfg.batch_tokens)
    total = min(t_cfg.max_steps, max(1, math.ceil(t_cfg.epochs * per_epoch)))
    logger.info("tuning on {} posts ({} rows of ≤{} tokens), {} held out; up to {} steps ({} per epoch)",
                len(train_posts), len(rows), t_cfg.seq_len, len(val_posts), total, per_epoch)

    ppl_base = perplexity(model, tok, val_posts, t_cfg.seq_len)
    model = _lora(cfg, model)
    compare_ppl: dict[str, float] = {}
    for name, path in (compare or {}).items():
        model.load_adapter(str(path), adapter_name=f"cmp_{name}")
        model.set_adapter(f"cmp_{name}")
        compare_ppl[name] = perplexity(model, tok, val_posts, t_cfg.seq_len)
        model.set_adapter("default")
        model.delete_adapter(f"cmp_{name}")
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()  # adapter weights and optimizer state in fp32 over a bf16 base
    opt = torch.optim.AdamW(params, lr=t_cfg.learning_rate, weight_decay=0.0)
    warm = max(1, min(10, total // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))

    fp = _fingerprint(cfg, dh, base.identity)
    state = {"step": 0, "best": float("inf"), "best_step": 0, "bad": 0, "history": [], "tokens": 0, "seconds": 0.0}
    best_w = _lora_state(model)
    ck = work_dir / CKPT
    resumed = 0
    if ck.exists():
        try:
            saved = torch.load(ck, weights_only=False)
            if saved["fingerprint"] == fp:
                _set_lora_state(model, saved["lora"])
                opt.load_state_dict(saved["opt"])
                sched.load_state_dict(saved["sched"])
                state, best_w = saved["state"], saved["best_w"]
                resumed = state["step"]
                logger.info("resuming from the checkpoint at step {} ({})", resumed, ck)
            else:
                logger.info("a checkpoint for other data or settings is in {}; starting over", work_dir)
        except Exception as exc:  # a checkpoint cut short by a kill: start clean
            logger.warning("{}: unreadable checkpoint ({}); starting over", ck, exc)
    work_dir.mkdir(parents=True, exist_ok=True)

    def evaluate() -> float:
        model.eval()
        nll, n = 0.0, 0
        with torch.no_grad():
            for b in val_batches:
                loss, k = loss_and_tokens(model, b)
                nll, n = nll + float(loss) * k, n + k
        model.train()
        return nll / max(1, n)

    stopped, t0, last_loss = "epochs", time.monotonic() - state["seconds"], float("nan")
    epoch_batches: dict[int, list] = {}
    model.train()
    with progress() as bar:
        task = bar.add_task("tuning", total=total, completed=state["step"], info="")
        while state["step"] < total:
            step = state["step"]
            epoch, idx = divmod(step, per_epoch)
            if epoch not in epoch_batches:
                epoch_batches = {epoch: corpus.batches(rows, t_cfg.batch_tokens, tok.pad_token_id,
                                                       random.Random(t_cfg.seed * 1000 + epoch))}
            loss, k = loss_and_tokens(model, epoch_batches[epoch][idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            last_loss = float(loss.detach())
            state["step"] += 1
            state["tokens"] += int(epoch_batches[epoch][idx]["attention_mask"].sum())
            state["seconds"] = time.monotonic() - t0
            state["history"].append({"step": state["step"], "loss": round(last_loss, 4)})
            tps = state["tokens"] / max(1e-9, state["seconds"])
            bar.update(task, completed=state["step"], info=f"loss {last_loss:.3f} · {tps:.0f} tok/s")
            if state["step"] % t_cfg.eval_every == 0 or state["step"] == total:
                val = evaluate()
                state["history"][-1]["val_loss"] = round(val, 4)
                logger.info("step {}/{}: loss {:.3f}, held-out loss {:.3f}, {:.0f} tok/s", state["step"], total,
                            last_loss, val, tps)
                if val < state["best"] - 1e-4:
                    state.update(best=val, best_step=state["step"], bad=0)
                    best_w = _lora_state(model)
                else:
                    state["bad"] += 1
            if state["step"] % t_cfg.checkpoint_every == 0 and state["step"] < total:
                _atomic_torch_save({"fingerprint": fp, "lora": _lora_state(model), "opt": opt.state_dict(),
                                    "sched": sched.state_dict(), "state": state, "best_w": best_w}, ck)
            if on_step:
                on_step(state["step"], last_loss)
            if state["bad"] >= t_cfg.patience:
                stopped = "early_stop"
                break
            if state["step"] >= t_cfg.max_steps:
                stopped = "max_steps"
            if state["seconds"] > t_cfg.max_minutes * 60:
                stopped = "max_minutes"
                logger.info("tune.max_minutes ({}) reached at step {}", t_cfg.max_minutes, state["step"])
                break
    if state["best"] == float("inf"):
        state.update(best=evaluate(), best_step=state["step"])
        best_w = _lora_state(model)
    _set_lora_state(model, best_w)
    ppl_adapter = math.exp(state["best"])
    metrics = {
        "train_loss": round(last_loss, 4), "val_loss": round(state["best"], 4), "best_step": state["best_step"],
        "steps": state["step"], "epochs": round(state["step"] / per_epoch, 2), "tokens": state["tokens"],
        "seconds": round(state["seconds"], 1), "tokens_per_s": round(state["tokens"] / max(1e-9, state["seconds"]), 1),
        "held_out_ppl_base": round(ppl_base, 3), "held_out_ppl_adapter": round(ppl_adapter, 3),
        "held_out_ppl_compare": {k: round(v, 3) for k, v in compare_ppl.items()}, "data_hash": dh,
        "base_model": base.identity, "n_train_posts": len(train_posts), "n_held_out_posts": len(val_posts),
        "held_out_ids": [p.source_id for p in val_posts], "stopped": stopped, "resumed_from_step": resumed,
        "typical_chars": corpus.typical_length(posts), "history": state["history"],
        "typical_tokens": int(statistics.median(len(tok(p.body_markdown)["input_ids"]) for p in posts)),
    }
    _write_adapter(model, cfg, metrics, out_dir, corpus.vocab_ids(tok, posts, t_cfg.seq_len))
    shutil.rmtree(work_dir, ignore_errors=True)
    return metrics


def _write_adapter(model: Any, cfg: Config, metrics: dict[str, Any], out_dir: Path, vocab: list[int]) -> None:
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    (tmp / "vocab_ids.json").write_text(json.dumps(vocab))
    (tmp / "prompt_template.json").write_text(json.dumps(
        {"version": corpus.TEMPLATE_VERSION, "template": corpus.PROMPT_TEMPLATE,
         "length_buckets": corpus.LENGTH_BUCKETS, "typical_chars": metrics["typical_chars"],
         "typical_tokens": metrics["typical_tokens"]},
        ensure_ascii=False, indent=1))
    (tmp / "training.json").write_text(json.dumps(
        {"tune": cfg.tune.model_dump(), "model": copy.deepcopy(cfg.model.model_dump()),
         "base_model": metrics["base_model"], "data_hash": metrics["data_hash"]}, indent=1))
    (tmp / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1))
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
