"""Desk pages of the run log (runs with filters, each run's log lines) and the status: adapters with their held-out
perplexity over time, logins (and installing one saved on another computer), the next runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from bot.core import adapters, runlog
from bot.core.clock import iso, utcnow
from bot.core.errors import InputError
from bot.shell import report
from bot.shell.desk.common import _, cfg, db, when

bp = Blueprint("status", __name__)

RUN_STATES = ("ok", "partial", "skipped", "failed", "interrupted", "running")
JOBS = ("crawl", "tune", "draft", "publish", "ingest")


@bp.get("/runs")
def runs() -> Any:
    """The run log, newest first, by job, result and age."""
    job, status, days = request.args.get("job", ""), request.args.get("status", ""), request.args.get("days", "")
    runlog.reconcile_interrupted(db())
    since = None
    if days.isdigit() and int(days) > 0:
        since = iso(utcnow() - timedelta(days=int(days)))
    rows = runlog.find(db(), job=job if job in JOBS else None, since=since, failed=status in ("failed", "interrupted"),
                       limit=1000 if status in RUN_STATES else 200)
    if status in RUN_STATES:
        rows = [r for r in rows if r["status"] == status][:200]
    return render_template("runs.html", rows=rows, job=job, status=status, days=days, jobs=JOBS, states=RUN_STATES,
                           message=request.args.get("msg"))


@bp.get("/runs/<int:run_id>")
def run(run_id: int) -> Any:
    r = runlog.get(db(), run_id)
    if r is None:
        abort(404)
    lines = runlog.run_log_lines(cfg().data_path, run_id)
    for ln in lines:
        ln["local"] = when(cfg(), ln["time"], "%m-%d %H:%M:%S")
    return render_template("run.html", r=r, lines=lines)


def ppl_chart(rows: list[dict[str, Any]], width: int = 640, height: int = 190) -> dict[str, Any] | None:
    """An inline SVG line chart of held-out perplexity per adapter (adapter and base), oldest first."""
    pts = [(a["version"], a["metrics"].get("held_out_ppl_adapter"), a["metrics"].get("held_out_ppl_base"))
           for a in rows if a["metrics"].get("held_out_ppl_adapter") is not None]
    if not pts:
        return None
    vals = [v for _, a, b in pts for v in (a, b) if v is not None]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    pad = 30

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (i * (width - 2 * pad) / max(1, len(pts) - 1))
        return round(x, 1), round(height - pad - (v - lo) / span * (height - 2 * pad), 1)

    adapter = [xy(i, a) for i, (_, a, _b) in enumerate(pts)]
    base = [xy(i, b) for i, (_, _a, b) in enumerate(pts) if b is not None]
    return {"w": width, "h": height, "lo": round(lo, 2), "hi": round(hi, 2),
            "adapter": " ".join(f"{x},{y}" for x, y in adapter), "base": " ".join(f"{x},{y}" for x, y in base),
            "points": [{"x": x, "y": y, "label": v, "ppl": a} for (x, y), (v, a, _b) in zip(adapter, pts, strict=True)]}


def logins() -> list[dict[str, Any]]:
    """Each platform with a login: its state as `blogbot status` judges it (report.logins_needed), when it was
    saved, and the one-liner that saves a login on another computer."""
    import platforms
    from platforms.browser import session_path
    from platforms.session import login_url

    needing = set(report.logins_needed(cfg(), db()))
    out = []
    for name in platforms.names(login=True):
        p = session_path(cfg(), name)
        saved = datetime.fromtimestamp(p.stat().st_mtime, UTC) if p.exists() else None
        state = "needs_login" if name in needing and saved else ("saved" if saved else "none")
        out.append({"platform": name, "state": state, "saved": when(cfg(), saved) if saved else "",
                    "command": f"npx playwright open --save-storage={name}.json {login_url(cfg(), name)}",
                    "enabled": bool(cfg().publish.get(name) and cfg().publish.get(name).enabled)})
    return out


def alerts() -> dict[str, Any]:
    """What needs a person, for the banner of every page: the scheduler not running, logins needed, and the
    watchdog's warnings (report.watchdog, as `blogbot status --check`)."""
    w = report.watchdog(cfg(), db())
    return {"scheduler": w["scheduler"], "needs_login": w["needs_login"], "warnings": w["warnings"],
            "review_waiting": w["review_waiting"]}


@bp.get("/status")
def status() -> Any:
    from bot.shell.scheduler import upcoming

    rows = adapters.list_all(db())
    for a in rows:
        a["created_local"] = when(cfg(), a["created_at"])
    return render_template("status.html", adapters=list(reversed(rows)), chart=ppl_chart(rows), logins=logins(),
                           upcoming=sorted(upcoming(cfg()), key=lambda u: (u["next_run"] is None, u["next_run"] or "")),
                           message=request.args.get("msg"))


@bp.post("/logins/<platform>")
def upload_login(platform: str) -> Any:
    """Install a login saved on another computer (`npx playwright open --save-storage=FILE URL`)."""
    import platforms
    from platforms import session

    if platform not in platforms.names(login=True):
        raise InputError(_("No platform named %(name)s.", name=platform))
    f = request.files.get("state")
    if f is None or not f.filename:
        raise InputError(_("Choose the file that Playwright saved."))
    try:
        data = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(_("That file is not a Playwright storage state (JSON).")) from None
    session.save_state(cfg(), platform, data)
    return redirect(url_for("status.status", msg=_("Login installed for %(name)s.", name=platform)))
