#!/usr/bin/env bash
# The tunekv CLI against a real tunekvd: every command in human and JSON
# output, values from stdin, and the exit code of each error class.
#   usage: test_cli.sh BUILD_DIR
set -euo pipefail
bin=${1:?build dir}
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-cli-XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "test_cli: FAIL: $*" >&2; cat "$dir/log" >&2 || true; exit 1; }

# Start with a readiness file; the client port is retried if taken.
. "$(dirname "$0")/node.sh"
start_node "$bin" "$dir" --partitions 8
[ -n "$pid" ] || fail "tunekvd did not start"
export TUNEKV_ENDPOINTS=127.0.0.1:$port
cli() { "$bin/tunekv" "$@"; }
expect_rc() { # rc, command...
  local want=$1 got=0
  shift
  "$@" >"$dir/out" 2>"$dir/err" || got=$?
  [ "$got" = "$want" ] || fail "$* exited $got, expected $want: $(cat "$dir/out" "$dir/err")"
}

# One version, written once in CMakeLists.txt's project(): both binaries,
# the STATUS answer and tunekv.pc report it, so a copy that drifts fails here.
src=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^project(tunekv VERSION \([0-9][0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in $src/CMakeLists.txt"
[ "$(cli --version)" = "tunekv $version" ] || fail "tunekv --version: $(cli --version)"
[ "$("$bin/tunekvd" --version)" = "tunekvd $version" ] || fail "tunekvd --version"
grep -qx "Version: $version" "$bin/tunekv.pc" || fail "tunekv.pc: $(grep Version "$bin/tunekv.pc")"
cli --json status --node 1 | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["version"] == sys.argv[1], o' "$version" \
        || fail "STATUS version"

# put / get print the value and its version
out=$(cli put greeting hello) || fail "put"
[[ "$out" =~ ^OK\ version=([0-9]+)$ ]] || fail "put output: $out"
v1=${BASH_REMATCH[1]}
out=$(cli get greeting)
[ "$(echo "$out" | sed -n 1p)" = "hello" ] || fail "get value: $out"
echo "$out" | sed -n 2p | grep -q "^version=$v1 create_index=$v1 " || fail "get version: $out"

# JSON output parses and carries the same facts
cli --json get greeting >"$dir/json"
python3 - "$dir/json" "$v1" <<'PY' || fail "json: $(cat "$dir/json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "OK" and o["value"] == "hello" and o["version"] == int(sys.argv[2]), o
assert o["receipt"]["level"] == "linearizable", o
assert o["receipt"]["zone"] == "", o  # the node has no [node.1] zone
PY
# --zone (default $TKV_ZONE): the client's zone for NEAREST; a zone no node
# is in reads as without one, a label no node could carry is a usage error.
cli --zone a get greeting --consistency eventual --route nearest -v 2>&1 |
  grep -q "served by node 1 (leader)" || fail "get --zone"
expect_rc 3 cli --zone "a b" get greeting
grep -q 'zone "a b"' "$dir/err" || fail "bad zone: $(cat "$dir/err")"
TKV_ZONE="a/b" expect_rc 3 cli get greeting

# -v prints the receipt
cli get -v greeting | grep -q "served by node 1 (leader)" || fail "get -v receipt"
# ... with the read's and the value's places in the order of writes, and a
# write says its own (hybrid-logical-clock timestamps are far from 0).
cli get -v greeting | grep -Eq "timestamp=[1-9][0-9]{12,} value_timestamp=[1-9][0-9]{12,}" ||
  fail "get -v timestamps"
cli put -v stamped x | grep -Eq "durable=yes timestamp=[1-9][0-9]{12,}$" || fail "put -v timestamp"

# cas: match, mismatch (exit 2), must-not-exist
out=$(cli cas greeting "$v1" world)
[[ "$out" =~ ^OK\ version=([0-9]+)$ ]] || fail "cas: $out"
expect_rc 2 cli cas greeting "$v1" again
grep -q CONDITION_FAILED "$dir/err" || fail "cas mismatch message"
expect_rc 0 cli cas fresh 0 new
expect_rc 2 cli cas fresh 0 newer

# txn: a JSON document on stdin; success runs (exit 0), then the same
# compare fails and the failure ops run (exit 2); keys share a hash tag
v=$(cli --json put '{cart}:n' 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
doc='{"compare": [{"key": "{cart}:n", "version": '"$v"'}, {"key": "{cart}:lock", "exists": false}],
      "success": [{"put": "{cart}:n", "value": "2"}, {"put": "{cart}:item", "value": "t\u00e9a\n"},
                  {"get": "{cart}:n"}],
      "failure": [{"get": "{cart}:n"}]}'
out=$(echo "$doc" | cli txn) || fail "txn: $out"
echo "$out" | sed -n 1p | grep -q "^OK succeeded version=" || fail "txn output: $out"
echo "$out" | grep -q '^get {cart}:n version=[0-9]* = 2$' || fail "txn get: $out"
echo "$out" | grep -q '^put {cart}:item (created)$' || fail "txn put: $out"
cli --json get '{cart}:item' | python3 -c 'import json,sys; assert json.load(sys.stdin)["value"] == "t\u00e9a\n"' \
        || fail "txn value (JSON escapes)"
echo "$doc" | cli --json txn >"$dir/json" && fail "txn with a stale version exited 0"
python3 - "$dir/json" <<'PY' || fail "txn json: $(cat "$dir/json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "OK" and o["succeeded"] is False and o["exit_code"] == 2, o
assert o["results"] == [{"op": "get", "key": "{cart}:n", "found": True, "value": "2",
                         "version": o["results"][0]["version"],
                         "create_index": o["results"][0]["create_index"]}], o
PY
# keys of two partitions: INVALID_ARGUMENT (exit 7) naming both; bad JSON: usage (3)
echo '{"success": [{"put": "a", "value": "1"}, {"put": "b", "value": "2"},
                    {"put": "c", "value": "3"}, {"put": "d", "value": "4"}]}' >"$dir/cross"
expect_rc 7 cli txn <"$dir/cross"
grep -q "different partitions" "$dir/err" || fail "cross-partition message: $(cat "$dir/err")"
echo '{"success": [{"put": "a"}]}' >"$dir/bad"
expect_rc 3 cli txn <"$dir/bad"
echo '{"success": [{"put": "a", "value": "1"}]} x' >"$dir/bad"
expect_rc 3 cli txn <"$dir/bad"
grep -q "trailing bytes" "$dir/err" || fail "trailing bytes message: $(cat "$dir/err")"

# value from stdin, byte-exact
printf 'line1\nline2' | cli put multi - >/dev/null
[ "$(cli --json get multi | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"], end="")')" = $'line1\nline2' ] || fail "stdin value"

# delete, then not found (exit 1), and options after the command
expect_rc 0 cli del greeting
expect_rc 1 cli get greeting
expect_rc 1 cli del greeting --timeout-ms 2000

# lease: grant (the partition of {job}), put --lease, info, list, revoke
# deletes the key; an unknown lease is NOT_FOUND (exit 1), a bad TTL 7
out=$(cli lease grant 60000 --key-tag job) || fail "lease grant: $out"
[[ "$out" =~ ^lease\ ([0-9]+)\ granted:\ ttl\ 60000\ ms ]] || fail "lease grant output: $out"
lease=${BASH_REMATCH[1]}
expect_rc 0 cli put '{job}:owner' me --lease "$lease"
# a txn put with "lease" attaches its key too (revoked below with the lease)
echo "{\"success\": [{\"put\": \"{job}:step\", \"value\": \"1\", \"lease\": $lease}]}" >"$dir/ltxn"
expect_rc 0 cli txn <"$dir/ltxn"
expect_rc 0 cli lease keepalive "$lease"
grep -q "^lease $lease kept alive: ttl 60000 ms" "$dir/out" || fail "keepalive: $(cat "$dir/out")"
cli --json lease info "$lease" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert sorted(o["keys"]) == ["{job}:owner", "{job}:step"] and o["n_keys"] == 2 and 0 < o["remaining_ms"] <= 60000, o' || fail "lease info json"
cli lease list | grep -q "^$lease partition [0-9]* ttl 60000 ms remaining [0-9]* ms keys 2$" || fail "lease list: $(cli lease list)"
expect_rc 0 cli lease revoke "$lease"
expect_rc 1 cli get '{job}:owner'
expect_rc 1 cli get '{job}:step'
# the lease is gone: a txn naming it is NOT_FOUND (exit 1), naming it, and applies nothing
expect_rc 1 cli txn <"$dir/ltxn"
grep -q "lease $lease not found" "$dir/err" || fail "txn lease message: $(cat "$dir/err")"
echo '{"success": [{"get": "{job}:x", "lease": 5}]}' >"$dir/bad"
expect_rc 3 cli txn <"$dir/bad"
expect_rc 1 cli lease keepalive "$lease"
expect_rc 1 cli put '{job}:owner' again --lease "$lease"
expect_rc 7 cli lease grant 10
expect_rc 3 cli lease grant
expect_rc 3 cli get x --lease 5
expect_rc 3 cli lease frob

# status: one row per partition
cli status >"$dir/status"
[ "$(grep -cE '^ +[0-9]+ +leader' "$dir/status")" = 8 ] || fail "status rows: $(cat "$dir/status")"
cli --json status | python3 -c 'import json,sys; o=json.load(sys.stdin); assert len(o["partitions"]) == 8 and o["health"] == "ok" and o["nodes"][0]["health"] == "ok"' || fail "status json"
grep -q '^health: ok (8 partitions ok, 0 degraded, 0 unavailable; 0 of 1 nodes down)$' "$dir/status" || fail "status health: $(cat "$dir/status")"

# member list: the cluster map, bootstrapped by the metadata group's
# leader just after it was elected (polled: no event says when it applied)
for _ in $(seq 200); do cli member list >"$dir/members" 2>/dev/null && break; sleep 0.05; done
grep -q '^cluster map epoch 1 (from node 1), 1 members$' "$dir/members" || fail "member list: $(cat "$dir/members")"
grep -qE "^node 1 +voter +zone - +client 127.0.0.1:$port " "$dir/members" || fail "member row: $(cat "$dir/members")"
cli --json member list | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["epoch"] == 1 and o["members"][0]["state"] == "voter" and o["members"][0]["zone"] == "", o' || fail "member list json"
cli status >"$dir/status"
grep -q '^cluster: 1 nodes, 8 partitions, map epoch 1 ' "$dir/status" || fail "status epoch: $(cat "$dir/status")"
grep -q '^members (cluster map epoch 1):$' "$dir/status" || fail "status members: $(cat "$dir/status")"
cli --json status | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["epoch"] == 1 and o["members"][0]["node_id"] == 1, o' || fail "status members json"
cli status --node 1 | head -1 | grep -q ' map epoch 1$' || fail "status --node epoch: $(cli status --node 1)"
cli status --node 1 | grep -q '^limits: txn_ops_max 128 .* leases_max 10000  lease_keys_max 1000  lease_ttl_ms 1000\.\.3600000$' \
  || fail "status --node limits: $(cli status --node 1)"
cli --json status --node 1 | python3 -c 'import json,sys; l=json.load(sys.stdin)["limits"]; assert (l["leases_max"], l["lease_keys_max"], l["lease_ttl_min_ms"], l["lease_ttl_max_ms"]) == (10000, 1000, 1000, 3600000), l' \
  || fail "status --node json lease limits"
cli --json status --node 1 | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["epoch"] == 1, o' || fail "status --node json epoch"
expect_rc 3 cli member frob
# transfer-leader: to the leader it has (answered at once), and refusals
expect_rc 0 cli transfer-leader 3 1
grep -qx 'partition 3: node 1 leads' "$dir/out" || fail "transfer-leader: $(cat "$dir/out")"
expect_rc 7 cli transfer-leader 3 2
grep -q "node 2 is not a member" "$dir/err" || fail "transfer-leader non-member: $(cat "$dir/err")"
expect_rc 7 cli transfer-leader 8 1
grep -q "no partition 8" "$dir/err" || fail "transfer-leader partition: $(cat "$dir/err")"
expect_rc 3 cli transfer-leader x 1
# member add and remove: the map's epoch goes up by one each; refusals
expect_rc 0 cli member add 2 127.0.0.9:17002 127.0.0.9:17102 --zone z
grep -qx 'node 2 added (joining): cluster map epoch 2' "$dir/out" || fail "member add: $(cat "$dir/out")"
cli member list >"$dir/members"
grep -qE "^node 2 +joining +zone z +client 127.0.0.9:17002 +peer 127.0.0.9:17102$" "$dir/members" || fail "member add row: $(cat "$dir/members")"
cli status >"$dir/status"
grep -qE '^node 2 +127.0.0.9:17002 +joining \(not up\)$' "$dir/status" || fail "status joining: $(cat "$dir/status")"
grep -q '; 0 of 2 nodes down)$' "$dir/status" || fail "status joining down: $(cat "$dir/status")"
cli --json status | python3 -c 'import json,sys; o=json.load(sys.stdin); n=[x for x in o["nodes"] if x["node_id"] == 2][0]; assert o["health"] == "ok" and n["state"] == "joining" and n["health"] == "ok" and not n["up"], o' || fail "status joining json"
expect_rc 7 cli member add 2 127.0.0.9:17003 127.0.0.9:17103
grep -q "node 2 is a member already (joining)" "$dir/err" || fail "member add twice: $(cat "$dir/err")"
expect_rc 7 cli member add 3 127.0.0.1:$port 127.0.0.9:17103
grep -q "is node 1's" "$dir/err" || fail "member add address in use: $(cat "$dir/err")"
expect_rc 3 cli member add 3 127.0.0.9:17003
expect_rc 3 cli member add 0 127.0.0.9:17003 127.0.0.9:17103
expect_rc 3 cli member list --zone z
cli --json member remove 2 | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["epoch"] == 3 and o["node_id"] == 2, o' || fail "member remove json"
# The only member left: its replicas could go nowhere.
expect_rc 7 cli member remove 1
grep -q "node 1 holds a replica of partition 0 and no other member could take it" "$dir/err" || fail "member remove 1: $(cat "$dir/err")"
cli member list | grep -qE "^node 2 +removed " || fail "member removed row: $(cli member list)"
grep -q '; 0 of 2 nodes down)$' <(cli status) || fail "status removed: $(cli status)"
expect_rc 7 cli member remove 2
# member update: a zone (the epoch grows), the same again (it does not),
# cleared; usage errors; a removed member is refused
expect_rc 0 cli member update 1 --zone q
grep -qx 'node 1 updated: cluster map epoch 4' "$dir/out" || fail "member update: $(cat "$dir/out")"
cli member list | grep -qE "^node 1 +voter +zone q " || fail "member update row: $(cli member list)"
expect_rc 0 cli member update 1 --zone q
grep -qx 'node 1 updated: cluster map epoch 4' "$dir/out" || fail "member update again: $(cat "$dir/out")"
expect_rc 0 cli member update 1 --zone ""
cli member list | grep -qE "^node 1 +voter +zone - " || fail "member update cleared: $(cli member list)"
expect_rc 3 cli member update 1
expect_rc 3 cli member update x --zone q
expect_rc 7 cli member update 2 --zone q
grep -q "node 2 is removed" "$dir/err" || fail "member update removed: $(cat "$dir/err")"

# error classes
expect_rc 3 cli frobnicate
expect_rc 3 cli get
expect_rc 7 cli get greeting --consistency bounded    # a bound is needed: clear error
grep -q "max_staleness_ms" "$dir/err" || fail "bounded error message"
expect_rc 6 cli get greeting --consistency eventual --min-index 99999999 --on-unmet fail
grep -q "BOUND_UNMET" "$dir/err" || fail "bound unmet message"

# every level, the receipt, and a session token carried between two runs
cli put session-key s1 --token-out "$dir/token" >/dev/null
for level in linearizable sequential causal session eventual; do
        cli get session-key --consistency "$level" --route any -v --token-in "$dir/token" \
                >"$dir/out" || fail "get at $level"
        grep -q "level $level" "$dir/out" || fail "receipt of $level: $(cat "$dir/out")"
        head -1 "$dir/out" | grep -qx s1 || fail "value at $level"
done
cli get session-key --consistency bounded --max-staleness-ms 60000 --node 1 --json \
        | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["receipt"]["level"] == "bounded", o' \
        || fail "bounded json receipt"
cli --json put session-key s2 --ack leader | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["ack"] == "leader" and o["durable"] is False, o' \
        || fail "leader_accepted ack"
expect_rc 7 cli put "$(head -c 5000 /dev/zero | tr '\0' k)" v   # key over 4 KiB
expect_rc 4 cli --endpoints 127.0.0.1:1 get x                  # nothing listens
cli --help >"$dir/help" # (grep -q on a pipe: the rest of --help meets SIGPIPE)
grep -q -- "--consistency" "$dir/help" || fail "help lists flags"
grep -q -- "--cacert" "$dir/help" || fail "help lists the TLS flags"

# scan: every page in key order (8 partitions merged), a range, keys only,
# a count, one page and its cursor, JSON, and a range that runs backwards
for k in s/c s/a s/b s/b/1 t/1 s; do cli put "$k" "v$k" >/dev/null || fail "put $k"; done
[ "$(cli scan s/ --limit 2)" = "$(printf 's/a vs/a\ns/b vs/b\ns/b/1 vs/b/1\ns/c vs/c')" ] ||
  fail "scan s/: $(cli scan s/ --limit 2)"
[ "$(cli scan --from s/b --to s/d --keys-only)" = "$(printf 's/b\ns/b/1\ns/c')" ] || fail "scan range: $(cli scan --from s/b --to s/d --keys-only)"
[ "$(cli scan s/ --count --limit 1)" = "4" ] || fail "scan --count: $(cli scan s/ --count --limit 1)"
out=$(cli scan s/ --page --limit 1 --keys-only)
[ "$out" = "$(printf 's/a\n(more: --cursor 732f61)')" ] || fail "scan --page: $out"
[ "$(cli scan s/ --cursor 732f61 --limit 1 --keys-only | head -1)" = "s/b" ] || fail "scan --cursor"
cli --json scan s/ --limit 3 | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["status"] == "OK" and [i["key"] for i in o["items"]] == ["s/a","s/b","s/b/1","s/c"] and o["count"] == 4 and o["pages"] == 2, o' ||
  fail "scan --json"
expect_rc 7 cli scan --from t --to s
expect_rc 3 cli scan s/ --from a
expect_rc 3 cli get s/a --keys-only

# watch: each change of a key, one line each, resumed after an index (so
# the writes need not race the watch's start); a prefix; JSON; usage.
v1=$(cli put w/k one -v | sed -n 's/^OK version=\([0-9]*\) .*/\1/p')
[ -n "$v1" ] || fail "put -v printed no version"
cli put w/k two >/dev/null
cli del w/k >/dev/null
want=$(printf 'put w/k one\nput w/k two\ndelete w/k')
out=$(cli watch w/k --from-index $((v1 - 1)) --events 3)
[ "$out" = "$want" ] || fail "watch w/k: $out"
out=$(cli watch --prefix w/ --from-index $((v1 - 1)) --events 3)
[ "$out" = "$want" ] || fail "watch --prefix w/: $out"
cli --json watch w/k --from-index $((v1 - 1)) --events 1 |
  python3 -c 'import json,sys; o=json.loads(sys.stdin.readline()); assert o["type"] == "put" and o["key"] == "w/k" and o["value"] == "one" and o["index"] == int(sys.argv[1]), o' "$v1" ||
  fail "watch --json"
out=$(cli watch w/k --from-index $((v1 + 2)) --idle-ms 300)
[ -z "$out" ] || fail "watch after the last change: $out"
expect_rc 3 cli watch
expect_rc 3 cli watch w/k --prefix w/
expect_rc 3 cli watch w/k --events 0
expect_rc 3 cli get w/k --from-index 3

# manual pages: they render, and tunekvd(8) lists every flag --help lists
for page in tunekvd.8 tunekv.conf.5 tunekv.1 tunekv-bench.1; do
  LANG=C MANWIDTH=200 man -l "$bin/man/$page" >"$dir/man-$page" 2>"$dir/manerr" || fail "man -l $page"
  [ ! -s "$dir/manerr" ] || fail "man -l $page warns: $(cat "$dir/manerr")"
done
for flag in $("$bin/tunekvd" --help | grep -oE '^  --[a-z-]+'); do
  grep -q -- "$flag" "$dir/man-tunekvd.8" || fail "tunekvd(8) lacks $flag"
done
grep -q "snapshot_bytes = value" "$dir/man-tunekv.conf.5" || fail "tunekv.conf(5) lacks snapshot_bytes"

# the installed static library: tkv_* symbols only, and a program links it
extra=$(nm -g --defined-only "$bin/dist/libtunekv.a" | awk '$2 ~ /^[TDBRV]$/ && $3 !~ /^tkv_/ {print $3}')
[ -z "$extra" ] || fail "libtunekv.a exports more than tkv_*: $(echo "$extra" | head -5)"
printf '#include "tunekv.h"\nint main(void) { return tkv_status_name(0)[0] == 0; }\n' >"$dir/link.c"
san=""
nm "$bin/dist/libtunekv.a" >"$dir/nm" # (grep -q on a pipe: nm's SIGPIPE fails pipefail)
if grep -q " U __asan_\| U __ubsan_" "$dir/nm"; then
  san="-fsanitize=address,undefined" # the sanitizer build's library
fi
cc $san -I"$src/include" -I"$bin/include" -o "$dir/link" "$dir/link.c" "$bin/dist/libtunekv.a" \
  -lprotobuf-c -lxxhash -lssl -lcrypto || fail "a program does not link libtunekv.a"
"$dir/link" || fail "a program linked with libtunekv.a"

# clean shutdown
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || fail "tunekvd exit status $rc after SIGTERM"
echo "test_cli: all passed"
