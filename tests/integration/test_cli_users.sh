#!/usr/bin/env bash
# tunekv user ... and tunekv role ... against a real tunekvd with
# [auth] enabled = 1: root from root_password_file, a role and a user made
# with the CLI, what the user may and may not do (exit 9 when refused),
# listings in text and JSON, bad input with a clear message, a user
# changing their own password without admin, and root's password stored in
# the cluster replacing the file's.
#   usage: test_cli_users.sh BUILD_DIR
set -euo pipefail
bin=${1:?build dir}
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-cli-users-XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "test_cli_users: FAIL: $*" >&2; cat "$dir/log" >&2 || true; exit 1; }

(umask 077 && echo "root-secret-password" >"$dir/root-pw" && echo "alice-password" >"$dir/alice-pw")
. "$(dirname "$0")/node.sh"
start_node "$bin" "$dir" --enabled 1 --root-password-file "$dir/root-pw" --kdf-iterations 1000
[ -n "$pid" ] || fail "tunekvd did not start"
export TUNEKV_ENDPOINTS=127.0.0.1:$port
cli() { "$bin/tunekv" "$@"; }
root() { "$bin/tunekv" --user root --password-file "$dir/root-pw" "$@"; }
alice() { "$bin/tunekv" --user alice --password-file "$dir/alice-pw" "$@"; }
expect_rc() { # rc, command...
  local want=$1 got=0
  shift
  "$@" >"$dir/out" 2>"$dir/err" || got=$?
  [ "$got" = "$want" ] || fail "$* exited $got, expected $want: $(cat "$dir/out" "$dir/err")"
}

# Without credentials, or with wrong ones: UNAUTHENTICATED, exit 9.
expect_rc 9 cli get k
grep -q "UNAUTHENTICATED" "$dir/err" || fail "no UNAUTHENTICATED: $(cat "$dir/err")"
expect_rc 9 cli status
TUNEKV_PASSWORD=wrong expect_rc 9 cli --user root get k
grep -q "wrong user name or password" "$dir/err" || fail "wrong password message: $(cat "$dir/err")"
TUNEKV_PASSWORD=root-secret-password expect_rc 1 cli --user root get k   # NOT_FOUND: served

# Root makes a role and a user.
expect_rc 0 root role add app
expect_rc 0 root role grant app readwrite app/
expect_rc 0 root role grant app read
expect_rc 0 root user add alice <"$dir/alice-pw"
expect_rc 0 root user grant alice app
expect_rc 0 root user list
[ "$(cat "$dir/out")" = $'root\nalice' ] || fail "user list: $(cat "$dir/out")"
expect_rc 0 root role get app
grep -qx "readwrite app/" "$dir/out" || fail "role get: $(cat "$dir/out")"
grep -qx "read (every key)" "$dir/out" || fail "role get: $(cat "$dir/out")"
root --json user get alice | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["status"] == "OK" and o["roles"] == ["app"], o' \
        || fail "user get --json"

# alice: app/ read and write, other keys read only, no admin.
expect_rc 0 alice put app/x 1
expect_rc 0 alice get app/x
expect_rc 1 alice get other/x
expect_rc 9 alice put other/x 1
grep -q "PERMISSION_DENIED" "$dir/err" || fail "no PERMISSION_DENIED: $(cat "$dir/err")"
expect_rc 9 alice status
expect_rc 9 alice user list
expect_rc 0 root put other/x 1

# Bad input: a clear message, nothing changed.
expect_rc 7 root user add "bad name" <"$dir/alice-pw"
grep -q "a name is 1-63" "$dir/err" || fail "bad name: $(cat "$dir/err")"
expect_rc 7 root role grant app everything x
expect_rc 1 root user grant bob app
expect_rc 7 root user del root
expect_rc 3 root user frobnicate alice
expect_rc 3 root role grant app

# tunekv-bench takes the same flags.
TUNEKV_PASSWORD= "$bin/tunekv-bench" --user root --password-file "$dir/root-pw" -n 200 --warmup 0 -q \
  --json >"$dir/out" 2>"$dir/err" || fail "bench as root: $(cat "$dir/err")"
python3 - "$dir/out" <<'PY' || fail "bench report: $(cat "$dir/out")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
all_ = [r for r in rows if r.get("op") == "all"][0]
assert all_["ops"] == 200 and all_["errors"] == 0, all_
PY

# alice changes her own password without admin: the old one is the one she
# authenticates with; someone else's needs admin.
echo "alice-new-password" >"$dir/alice-new-pw"
expect_rc 9 alice user passwd root <"$dir/alice-new-pw"
grep -q "PERMISSION_DENIED" "$dir/err" || fail "passwd of root by alice: $(cat "$dir/err")"
expect_rc 0 alice user passwd alice <"$dir/alice-new-pw"
expect_rc 9 alice get app/x
grep -q "UNAUTHENTICATED" "$dir/err" || fail "old password after passwd: $(cat "$dir/err")"
(umask 077 && cp "$dir/alice-new-pw" "$dir/alice-pw")
expect_rc 0 alice get app/x

# Revoke, then root's password stored in the cluster.
expect_rc 0 root role revoke app app/
expect_rc 9 alice put app/x 2
echo "new-root-password" >"$dir/new-root-pw"
expect_rc 0 root user passwd root <"$dir/new-root-pw"
expect_rc 9 root get app/x
(umask 077 && cp "$dir/new-root-pw" "$dir/root-pw")
expect_rc 0 root get app/x
expect_rc 0 root user del alice
expect_rc 9 alice get app/x
echo "test_cli_users: OK"
