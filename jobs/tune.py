"""The tune job (`blogbot tune`, the weekly retune): train a new adapter version when the corpus changed, gate it,
and make it active only when it beats the base and the active adapter on held-out posts, in perplexity and in the voice
measure (what it learned of the author more than of other authors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core import adapters
from bot.core.clock import Clock, utcnow
from bot.core.config import Config, learned_settings, tune_recipe
from bot.core.events import Events, ignore
from bot.core.posts import live_posts
from bot.core.runlog import job_run
from bot.voice import corpus

# settings that change how a tune runs but not what it learns (the voice measure's: config.learned_settings)
OPERATIONAL = {"checkpoint_every"}


def settings_changed(cfg: Config, adapter_dir: Path) -> list[str]:
    """How `cfg.tune` differs from the settings the adapter in `adapter_dir` was trained with ("key: old -> new");
    an adapter whose training.json cannot be read counts as changed."""
    try:
        old = json.loads((adapter_dir / "training.json").read_text(encoding="utf-8"))["tune"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{adapter_dir / 'training.json'} unreadable ({exc.__class__.__name__})"]
    old, new = learned_settings(tune_recipe(old)), learned_settings(tune_recipe(cfg.tune.model_dump()))
    return [f"tune.{k}: {old.get(k)!r} -> {new[k]!r}" for k in sorted(new)
            if k not in OPERATIONAL and old.get(k, new[k]) != new[k]]


def run(cfg: Config, db: sqlite_utils.Database, *, clock: Clock = utcnow, events: Events = ignore,
        force: bool = False) -> dict[str, Any]:
    """Tune on every live post. Skipped (run.status="skipped", reason logged) when the active adapter, or the last
    attempt, already saw exactly these posts on this base with these tune.* settings, unless `force`. Returns what
    happened."""
    from bot.voice import model as bm
    from bot.voice import tune

    with job_run(db, "tune", force=force) as run:
        posts = live_posts(db)
        corpus.split(posts, cfg.tune.holdout, cfg.tune.seed, cfg.tune.min_posts)  # too few posts: clear error
        base = bm.resolve_base(cfg)
        dh = corpus.data_hash(posts)
        act = adapters.active(db, base.identity)
        if not force:
            last = adapters.latest(db)
            same = [a for a in (act, last) if a and a["data_hash"] == dh and a["base_model"] == base.identity]
            changed = {a["version"]: settings_changed(cfg, Path(a["path"])) for a in same}
            for v, diff in changed.items():
                if diff:
                    logger.info("tune settings changed since adapter {}: {}; tuning again", v, "; ".join(diff))
            same = [a for a in same if not changed[a["version"]]]
            if same:
                a = same[0]
                reason = (f"no posts changed since adapter {a['version']} ({a['status']}, data {dh}) and no tune "
                          "setting either; use --force to tune again")
                logger.info("{}", reason)
                run.status = "skipped"
                run.details.update(reason=reason, version=a["version"])
                return {"status": "skipped", "reason": reason, "version": a["version"]}
        version = adapters.next_version(db, cfg)
        out = adapters.root(cfg) / version
        compare = {act["version"]: act["path"]} if act else {}
        metrics = tune.train(cfg, posts, out, base=base, compare=compare,
                             work_dir=adapters.root(cfg) / f".work-{dh}", others=tune.other_authors(cfg, posts))
        promote, reason = adapters.gate(metrics, act["version"] if act else None)
        adapters.register(db, version, out, metrics, "ready" if promote else "rejected", reason, run.id)
        if promote:
            adapters.activate(db, version)
            logger.info("adapter {} activated: {}", version, reason)
        else:
            logger.warning("adapter {} rejected (kept, not active): {}", version, reason)
        run.count("steps", metrics["steps"])
        run.count("activated" if promote else "rejected")
        keep = ("held_out_ppl_base", "held_out_ppl_adapter", "held_out_ppl_compare", "val_loss", "train_loss",
                "steps", "stopped", "tokens_per_s", "seconds", "resumed_from_step", "voice_gain", "voice_gain_compare",
                "preference")
        summary = {k: metrics[k] for k in keep if k in metrics}
        run.details.update(version=version, status="active" if promote else "rejected", reason=reason, **summary)
        return {"status": "active" if promote else "rejected", "version": version, "reason": reason,
                "path": str(out), **summary}
