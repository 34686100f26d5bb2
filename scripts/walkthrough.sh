#!/usr/bin/env bash
# The main job on local defaults, end to end, with the real sandbox, git and database:
# init a home, propose a correct tool (deployed), call it, propose a wrong one (rejected, with
# findings), a new version (deployed) and a rollback, a tool that asks for the network (waits for a
# human, who approves it), and finally verify the audit log.
set -uo pipefail
cd "$(dirname "$0")/.."
TF="${PYTHON:-python3} -m toolfoundry"
export TOOLFOUNDRY_HOME="${TOOLFOUNDRY_HOME:-$(mktemp -d /tmp/toolfoundry-demo.XXXXXX)/home}"
step() { printf '\n\033[1;36m$ %s\033[0m\n' "$*"; }
expect() {  # expect CODE command...: run, show, and stop the demo if the exit code is not CODE
  local want=$1; shift; step "toolfoundry ${*}"
  $TF "$@"; local got=$?
  if [ "$got" -ne "$want" ]; then echo "demo: expected exit $want, got $got" >&2; exit 1; fi
}

echo "toolfoundry walkthrough — home: $TOOLFOUNDRY_HOME"
expect 0 init
expect 0 propose examples/slugify --holdout examples/slugify_holdout.json
expect 0 call slugify --args '{"text": "Safe self-extending agents!"}'
expect 1 propose examples/broken_word_stats.py --examples examples/word_stats/examples.json
expect 0 propose examples/word_stats
expect 0 propose examples/slugify_v2.py --examples examples/slugify/examples.json
expect 0 call slugify --args '{"text": "Safe self-extending agents", "separator": "_"}' --json
expect 0 rollback slugify
expect 3 propose examples/fetch_status.py --allow-net example.org --examples examples/fetch_status_examples.json
expect 0 review list
RID=$($TF review list --json | ${PYTHON:-python3} -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
step "toolfoundry review approve $RID  (as $(whoami): refused, a requester cannot approve its own request)"
$TF review approve "$RID"; [ $? -eq 2 ] || { echo "demo: self-approval was not refused" >&2; exit 1; }
expect 0 review approve "$RID" --as alice --reason "egress limited to example.org"
expect 0 tools
expect 0 audit verify
step "toolfoundry audit log   (last 12 events)"
$TF audit log | tail -n 12
printf '\n\033[1;32mdemo finished.\033[0m The home is at %s — try: TOOLFOUNDRY_HOME=%s toolfoundry tools\n' \
  "$TOOLFOUNDRY_HOME" "$TOOLFOUNDRY_HOME"
