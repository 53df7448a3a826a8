"""CLI: `login`, `publish` and `sandbox`: saved logins, publishing approved drafts, the local imitation of the
three platforms."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.console import console, err_console
from bot.shell.cli import app, common


@app.command()
def login(
    platform: str = typer.Argument(..., help="a platform with a login (tistory, naver, velog)"),
    check: bool = typer.Option(False, "--check", help="only report whether the saved login still works"),
    from_file: Path = typer.Option(None, "--from-file", help="install a session file saved on another machine"),
) -> int:
    """Sign in once in a visible browser; the session is saved (mode 0600) under <data_dir>/sessions/."""
    from platforms import session

    c = common.cfg()
    common.db()  # logging to the data dir
    if check:
        ok, msg = session.check(c, platform)
        (console if ok else err_console).print(msg, markup=False)
        if ok:  # the saved login is known good from now: `status` stops saying it needs a login
            import os

            from platforms.browser import session_path

            os.utime(session_path(c, platform))
        return 0 if ok else 1
    if from_file is not None:
        if not from_file.is_file():
            from bot.core.errors import InputError

            raise InputError(f"{from_file}: file not found")
        dest = session.save_state(c, platform, from_file)
        console.print(f"session installed at {dest} (mode 600); check it with `blogbot login {platform} --check`",
                      markup=False)
        return 0
    dest = session.login(c, platform)
    console.print(f"session saved at {dest} (mode 600); no password was stored", markup=False)
    return 0


@app.command()
def publish(
    draft_id: int = typer.Argument(None, help="only this draft (default: every approved draft)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="do everything but the final publish action"),
    platform: str = typer.Option(None, "--platform", help="only this platform (the draft's others stay due)"),
    wait: float = typer.Option(None, "--wait", min=0, help="seconds to wait for another publish run working on "
                               "this data dir (default publish.lock_wait_s)"),
    claim: bool = typer.Option(False, "--claim", help="with DRAFT_ID and --platform: the post held as 'possibly "
                               "already published' is this draft's (recorded as published, nothing posted)"),
) -> int:
    """Publish approved drafts to their platforms, exactly once each, verified by reading the post back.
    Exit status: 0 when everything due went out; 1 when something failed or nothing could go out (a login is
    needed, another publish run is working); see `blogbot log`."""
    from bot.core import ledger
    from jobs.publish import holder, outcome, run

    db = common.db()
    if platform is not None and common.cfg().publish.get(platform) is None:
        from bot.core.errors import InputError

        raise InputError(f"--platform: no platform named \"{platform}\" to publish to; known: "
                         f"{', '.join(common.cfg().publish.platforms)}")
    if claim:
        from bot.core.errors import InputError
        from jobs.publish import claim as claim_post

        if draft_id is None or platform is None:
            raise InputError("--claim needs a DRAFT_ID and --platform")
        url = claim_post(common.cfg(), db, draft_id, platform)
        console.print(f"draft {draft_id} {platform}: published {url} (claimed; nothing was posted)", markup=False)
        return 0
    counts = common.run_job(run, dry_run=dry_run, platform=platform, draft_id=draft_id, wait_s=wait)
    if counts.get("busy"):
        err_console.print(f"another publish run is working on this data dir ({holder(common.cfg())}); nothing was "
                          "done. Try again when it ends, or pass --wait SECONDS", markup=False)
        return 1
    console.print(", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to publish", markup=False)
    for r in ledger.recent(db, draft_id):
        line = f"draft {r['draft_id']} {r['platform']}: {r['state']} {r['url'] or ''}"
        console.print(line.rstrip(), markup=False)
    for p in ledger.needing_login(db):
        err_console.print(f"{p} needs a login: run `blogbot login {p}`", markup=False)
    return 1 if outcome(counts) == "failed" or any(k.endswith("failed") for k in counts) else 0


@app.command()
def sandbox(
    port: int = typer.Option(8765, "--port", help="port on 127.0.0.1 (0 picks a free one)"),
    db_path: Path = typer.Option(None, "--db", help="sandbox database (default <data_dir>/sandbox/sandbox.db)"),
    fault: list[str] = typer.Option([], "--fault", help="inject a fault: NAME (every platform), NAME=tistory,naver "
                                    "or slow_ms=MS; names: session_expired, captcha, publish_500, publish_lost, "
                                    "publish_noop, restore_popup, changed_selector"),
    detach: bool = typer.Option(False, "--detach", help="run in the background; returns once it answers"),
) -> None:
    """Serve the local imitation of Tistory, Naver Blog and Velog on 127.0.0.1 until interrupted."""
    import threading

    from platforms.sandbox.app import DEFAULT_PASSWORD, make_app
    from platforms.sandbox.server import serve
    from platforms.sandbox.store import SandboxStore

    c = common.cfg()
    path = db_path or c.data_path / "sandbox" / "sandbox.db"
    if detach:
        _detach(port, path, fault)
        return
    faults: dict[str, object] = {}
    for f in fault:
        name, _, value = f.partition("=")
        faults[name] = int(value) if name == "slow_ms" else (value.split(",") if value else True)
    try:
        app = make_app(SandboxStore(path), standalone=True, **faults)
    except ValueError as exc:
        from bot.core.errors import InputError

        raise InputError(f"--fault: {exc}") from None
    try:
        base, server = serve(app, port=port)
    except OSError as exc:
        from bot.core.errors import InputError

        raise InputError(f"{exc}: stop what serves it or give another --port") from None
    console.print(f"sandbox at {base}/  (posts in {path}; sandbox login password: {DEFAULT_PASSWORD})", markup=False)
    console.print("set publish.sandbox.base_url to this URL to publish here; Ctrl-C stops it", markup=False)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()


def _detach(port: int, path: Path, fault: list[str]) -> None:
    """Start `blogbot sandbox` as a background process (pid in <db dir>/sandbox.pid) and wait until it answers.
    One already serving `path` on the port is kept; one left serving a deleted copy of `path` (a removed data dir)
    is stopped first; any other sandbox on the port is an error."""
    import subprocess
    import sys
    import time

    from bot.core.errors import InputError
    from platforms.sandbox.target import answers

    base = f"http://127.0.0.1:{port}"
    if port and answers(base) and not _replace_stale(base, port, path):
        console.print(f"sandbox already running at {base}/", markup=False)
        return
    if not port:
        raise InputError("--detach needs a fixed --port")
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [*(["-c", str(common.cfg().source_path)] if common.cfg().source_path else []),
            "sandbox", "--port", str(port), "--db", str(path), *[x for f in fault for x in ("--fault", f)]]
    log = (path.parent / "sandbox.log").open("ab")
    code = f"import sys; from bot.shell.cli import main; sys.exit(main({args!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (path.parent / "sandbox.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 15  # the child imports Flask and binds the port
    while not answers(base):
        if proc.poll() is not None:
            raise InputError(f"the sandbox exited with status {proc.returncode}; see {path.parent / 'sandbox.log'}")
        if time.monotonic() > deadline:
            raise InputError(f"the sandbox (pid {proc.pid}) did not answer on {base} within 15 s; "
                             f"see {path.parent / 'sandbox.log'}")
        time.sleep(0.1)  # readiness poll of a child process, not a page wait
    console.print(f"sandbox at {base}/ (pid {proc.pid}, log {path.parent / 'sandbox.log'}); stop it with "
                  f"`kill {proc.pid}`", markup=False)


def _replace_stale(base: str, port: int, path: Path) -> bool:
    """A sandbox answers at `base`: False when it serves `path` (keep it); True once a standalone one left serving
    a deleted or replaced copy of `path` has been stopped (start another). Any other sandbox there is an error."""
    import os
    import signal
    import time

    from bot.core.errors import InputError
    from platforms.sandbox.target import answers, describe, info, serves

    found = info(base)
    if serves(found, path):
        return False
    if not (found and found.get("standalone") and found.get("db") == os.path.realpath(path)):
        how = f" (`kill {found['pid']}`)" if found else ""
        raise InputError(f"port {port} is taken by {describe(found)}, not one serving {path}: stop it{how} or give "
                         "another --port")
    pid = int(found["pid"])
    console.print(f"stopping {describe(found)}: it serves a database that is no longer at {path}", markup=False)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while answers(base):
        if time.monotonic() > deadline:
            raise InputError(f"{describe(found)} did not stop within 10 s; stop it with `kill {pid}`")
        time.sleep(0.1)  # waiting for another process to let go of the port, not a page wait
    return True
