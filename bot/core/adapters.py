"""The adapter registry: versioned adapter folders under <data>/adapters, their `adapters` rows, the promotion gate,
activation and rollback. A folder that fails validation is never made active."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import sqlite_utils
from loguru import logger

from bot.core.clock import now
from bot.core.config import Config
from bot.core.errors import InputError, ModelError
from bot.core.store import dumps, loads

REQUIRED = ("adapter_config.json", "metrics.json", "prompt_template.json", "training.json")
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# active: used for drafting; ready: passed the gate once, not active now; rejected: kept, never activated by the
# gate; broken: its folder failed validation.
STATUSES = ("active", "ready", "rejected", "broken")


def root(cfg: Config) -> Path:
    d = cfg.data_path / "adapters"
    d.mkdir(parents=True, exist_ok=True)
    return d


def next_version(db: sqlite_utils.Database, cfg: Config) -> str:
    """v0001, v0002, ... (never reuses a number seen in the table or on disk)."""
    nums = [int(m.group(1)) for r in db.query("select version from adapters")
            if (m := re.fullmatch(r"v(\d+)", r["version"]))]
    nums += [int(m.group(1)) for p in root(cfg).iterdir() if (m := re.fullmatch(r"\.?v(\d+)(\.\w+)*", p.name))]
    return f"v{max(nums, default=0) + 1:04d}"


def validate(path: Path) -> dict[str, Any]:
    """Check an adapter folder is complete and readable; returns its metrics. ModelError names what is wrong."""
    if not path.is_dir():
        raise ModelError(f"adapter folder {path} does not exist")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if not any((path / w).is_file() and (path / w).stat().st_size > 0 for w in WEIGHTS):
        missing.append(WEIGHTS[0])
    if missing:
        raise ModelError(f"adapter folder {path} is incomplete: missing {', '.join(missing)}")
    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"adapter folder {path} is corrupt: {exc}") from None
    if (path / WEIGHTS[0]).is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(path / WEIGHTS[0]), "pt") as fh:
                if not list(fh.keys()):
                    raise ModelError(f"adapter folder {path}: the weights file holds no tensors")
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"adapter folder {path}: unreadable weights ({exc})") from None
    return metrics


def get(db: sqlite_utils.Database, version: str) -> dict[str, Any]:
    if not db["adapters"].count_where("version = ?", [version]):
        known = ", ".join(r["version"] for r in db.query("select version from adapters order by version")) or "none"
        raise InputError(f"no adapter {version!r} (known: {known})")
    r = db["adapters"].get(version)
    r["metrics"] = loads(r["metrics"], {})
    return r


def list_all(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [get(db, r["version"]) for r in db.query("select version from adapters order by version")]


def has_active(db: sqlite_utils.Database) -> bool:
    """Is an adapter marked active (without checking its folder)?"""
    return bool(db["adapters"].count_where("status = 'active'"))


def latest(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest adapter row of any status (the last tune attempt)."""
    return next(db.query("select version, status, data_hash, base_model, path from adapters "
                         "order by created_at desc, version desc limit 1"), None)


def active(db: sqlite_utils.Database, base_model: str | None = None) -> dict[str, Any] | None:
    """The active adapter whose folder validates (for `base_model` when given); a broken one is marked and
    skipped with an error in the log, so drafting falls back instead of loading half a folder."""
    r = next(db.query("select version from adapters where status = 'active'"), None)
    if not r:
        return None
    a = get(db, r["version"])
    try:
        validate(Path(a["path"]))
    except ModelError as exc:
        logger.error("active adapter {} ignored: {}", a["version"], exc)
        return None
    if base_model and a["base_model"] != base_model:
        logger.warning("active adapter {} was tuned on {}, not the configured base {}; not used", a["version"],
                       a["base_model"], base_model)
        return None
    return a


def register(db: sqlite_utils.Database, version: str, path: Path, metrics: dict[str, Any], status: str,
             reason: str, run_id: int | None = None) -> None:
    db["adapters"].insert({"version": version, "created_at": now(), "path": str(path),
                           "base_model": metrics.get("base_model"), "data_hash": metrics.get("data_hash"),
                           "status": status, "metrics": dumps(metrics), "reason": reason, "run_id": run_id},
                          replace=True)


def gate(metrics: dict[str, Any], active_version: str | None) -> tuple[bool, str]:
    """Promotion rule: held-out perplexity must beat the base and the active adapter (measured on the same
    held-out posts), and so must the voice measure when the tune took it (`voice_gain`: how much more the adapter
    learned of the author than of other authors; the base scores 0). Returns (promote, reason)."""
    new, base = metrics["held_out_ppl_adapter"], metrics["held_out_ppl_base"]
    gain = metrics.get("voice_gain")
    if not new < base:
        return False, f"held-out perplexity {new:.2f} does not beat the base model's {base:.2f}"
    if gain is not None and not gain > 0:
        return False, (f"voice measure {gain:+.4f} does not beat the base model's 0: the adapter learned no more of "
                       "your posts than of other authors'")
    voice = "" if gain is None else f"; voice {gain:+.4f}"
    if active_version:
        cur = metrics.get("held_out_ppl_compare", {}).get(active_version)
        if cur is None:
            return False, f"the active adapter {active_version} could not be measured on the same held-out posts"
        if not new < cur:
            return False, f"held-out perplexity {new:.2f} does not beat the active adapter {active_version}'s {cur:.2f}"
        if gain is not None:
            was = metrics.get("voice_gain_compare", {}).get(active_version)
            if was is None:
                return False, f"the active adapter {active_version}'s voice could not be measured on the same posts"
            if not gain > was:
                return False, (f"voice measure {gain:+.4f} does not beat the active adapter {active_version}'s "
                               f"{was:+.4f} (perplexity {new:.2f} < {cur:.2f})")
            voice += f" > {active_version} {was:+.4f}"
        return True, f"held-out perplexity {new:.2f} < base {base:.2f} and {active_version} {cur:.2f}{voice}"
    return True, f"held-out perplexity {new:.2f} < base {base:.2f}{voice}"


def activate(db: sqlite_utils.Database, version: str) -> dict[str, Any]:
    """Make `version` the active adapter (after validating its folder); the previous one becomes `ready`."""
    a = get(db, version)
    try:
        validate(Path(a["path"]))
    except ModelError as exc:
        db["adapters"].update(version, {"status": "broken", "reason": str(exc)})
        raise
    with db.conn:
        db.execute("update adapters set status = 'ready' where status = 'active' and version != ?", [version])
        db["adapters"].update(version, {"status": "active", "activated_at": now()})
    logger.info("adapter {} is now active", version)
    return get(db, version)


def rollback(db: sqlite_utils.Database) -> dict[str, Any]:
    """Re-activate the most recently active adapter before the current one (the current one becomes `ready`)."""
    cur = next(db.query("select version from adapters where status = 'active'"), None)
    prev = list(db.query("select version from adapters where activated_at is not null and status = 'ready' "
                         "order by activated_at desc, version desc"))
    for r in prev:
        try:
            return activate(db, r["version"])
        except ModelError as exc:
            logger.error("cannot roll back to {}: {}", r["version"], exc)
    if cur:
        raise InputError(f"no earlier adapter to roll back to (the active one is {cur['version']})")
    raise InputError("no adapter has been active yet; nothing to roll back")


def active_summary(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The adapter marked active (version, created_at, base_model, metrics), without checking its folder."""
    r = next(db.query("select version, created_at, base_model, metrics from adapters where status = 'active' "
                      "order by created_at desc limit 1"), None)
    if r:
        r["metrics"] = loads(r["metrics"], {})
    return r
