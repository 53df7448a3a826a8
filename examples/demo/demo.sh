#!/usr/bin/env bash
# `make demo`: the whole pipeline on the bundled example blogger, the embedded model and the local sandbox.
# ingest -> tune (a few minutes the first time; skipped when the corpus has not changed) -> draft the next
# queued topic -> quality gates -> publish to the sandbox -> read back -> the URL that serves the post.
set -euo pipefail
cd "$(dirname "$0")/../.."
BB=(.venv/bin/blogbot -c examples/demo/config.yaml)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. ingest the example blogger's posts (examples/demo/posts)"
"${BB[@]}" ingest examples/demo/posts

step "2. the local sandbox imitating Tistory, Naver and Velog (127.0.0.1:8765)"
"${BB[@]}" sandbox --port 8765 --detach

step "3. one pass of the scheduler's jobs: crawl -> tune if due -> draft -> publish"
rc=0
"${BB[@]}" run --once || rc=$?

# The demo config reviews manually, as a blogger should start: every draft waits for a person. The demo shows the
# draft with its score and every gate, then approves it on your behalf (saying so), as `blogbot review approve` would.
pending=$("${BB[@]}" review list --ids 2>/dev/null || true)
if [ -n "$pending" ]; then
  for id in $pending; do
    step "review: draft $id waits for you; in real use you read it and decide (blogbot review show/approve/reject, or blogbot ui). The demo approves it on your behalf"
    "${BB[@]}" review show "$id"
    "${BB[@]}" review approve "$id"
  done
  step "publish the approved draft"
  "${BB[@]}" publish || rc=$?
fi

latest=$(.venv/bin/python -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("select id, outbox_path from drafts order by id desc limit 1").fetchone(); print(*(r or ()))' data/demo/blogbot.db)
if [ -n "$latest" ]; then
  step "the draft (id ${latest%% *}), its score and gates; saved as ${latest#* }"
  "${BB[@]}" review show "${latest%% *}"
fi

step "4. the run log"
"${BB[@]}" log -n 8

step "5. status"
"${BB[@]}" status || true

url=$(.venv/bin/python - <<'PY'
import json, subprocess
out = subprocess.run([".venv/bin/blogbot", "-c", "examples/demo/config.yaml", "status", "--json"],
                     capture_output=True, text=True).stdout
lp = json.loads(out).get("last_published") or {}
print(lp.get("url") or "")
PY
)
if [ -z "$url" ]; then
  echo "nothing was published (see the run log above)" >&2
  exit 1
fi
step "published: $url"
echo "(the sandbox keeps serving it; stop it with: kill \$(cat data/demo/sandbox/sandbox.pid))"
exit "$rc"
