"""The tune job (`blogbot tune`, the weekly retune): train a new adapter version when the corpus changed, gate it,
and make it active only when it beats the base and the active adapter on held-out posts."""

from __future__ import annotations

from typing import Any

import sqlite_utils
from loguru import logger

from bot import adapters, corpus
from bot.config import Config
from bot.posts import live_posts
from bot.runlog import job_run


def run(cfg: Config, db: sqlite_utils.Database, force: bool = False) -> dict[str, Any]:
    """Tune on every live post. Skipped (run.status="skipped", reason logged) when the active adapter, or the last
    attempt, already saw exactly these posts on this base, unless `force`. Returns what happened."""
    from bot import model as bm
    from bot import tune

    with job_run(db, "tune", force=force) as run:
        posts = live_posts(db)
        corpus.split(posts, cfg.tune.holdout, cfg.tune.seed, cfg.tune.min_posts)  # too few posts: clear error
        base = bm.resolve_base(cfg)
        dh = corpus.data_hash(posts)
        act = adapters.active(db, base.identity)
        if not force:
            last = next(db.query("select version, status, data_hash, base_model from adapters "
                                 "order by created_at desc, version desc limit 1"), None)
            same = [a for a in (act, last) if a and a["data_hash"] == dh and a["base_model"] == base.identity]
            if same:
                a = same[0]
                reason = (f"no posts changed since adapter {a['version']} ({a['status']}, data {dh}); "
                          "use --force to tune again")
                logger.info("{}", reason)
                run.status = "skipped"
                run.details.update(reason=reason, version=a["version"])
                return {"status": "skipped", "reason": reason, "version": a["version"]}
        version = adapters.next_version(db, cfg)
        out = adapters.root(cfg) / version
        compare = {act["version"]: act["path"]} if act else {}
        metrics = tune.train(cfg, posts, out, base=base, compare=compare,
                             work_dir=adapters.root(cfg) / f".work-{dh}")
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
                "steps", "stopped", "tokens_per_s", "seconds", "resumed_from_step")
        summary = {k: metrics[k] for k in keep}
        run.details.update(version=version, status="active" if promote else "rejected", reason=reason, **summary)
        return {"status": "active" if promote else "rejected", "version": version, "reason": reason,
                "path": str(out), **summary}
