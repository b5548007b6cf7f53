#!/usr/bin/env bash
# tunekvd under systemd, without systemd as PID 1: the unit verifies
# (systemd-analyze verify, with the built manual pages), and the daemon
# speaks the notify protocol the unit's Type=notify and WatchdogSec rely
# on: READY=1 once serving, WATCHDOG=1 at least every half WATCHDOG_USEC
# from its loop, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
# SIGTERM, then exit 0. A Python listener plays systemd's notify socket.
#   usage: test_systemd.sh BUILD_DIR
set -euo pipefail
bin=$(cd "${1:?build dir}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-systemd-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_systemd: FAIL: $*" >&2; exit 1; }

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$dir/man/man8" "$dir/man/man5"
  cp "$bin/man/tunekvd.8" "$dir/man/man8/"
  cp "$bin/man/tunekv.conf.5" "$dir/man/man5/"
  sed "s|^ExecStart=/usr/bin/tunekvd|ExecStart=$bin/tunekvd|" "$src/conf/systemd/tunekvd.service" \
    >"$dir/tunekvd.service"
  MANPATH=$dir/man systemd-analyze verify "$dir/tunekvd.service" >"$dir/verify" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$dir/verify")"
else
  echo "test_systemd: systemd-analyze not installed: unit not verified"
fi

python3 - "$bin/tunekvd" "$dir" <<'PY' || fail "notify protocol (daemon log: $(tail -3 "$dir/log"))"
import os, signal, socket, subprocess, sys, time
daemon, d = sys.argv[1], sys.argv[2]
path = os.path.join(d, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(0.5)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
env.pop("WATCHDOG_PID", None)
log = open(os.path.join(d, "log"), "w")
p = None
def start():
    """Start the daemon on fresh ports (another test may take them first:
    then it exits, and the caller tries others)."""
    port = 20000 + (os.getpid() + int(time.monotonic() * 1000)) % 20000
    return subprocess.Popen([daemon, "--node-id", "1", "--client-addr", f"127.0.0.1:{port}",
                          "--peer-addr", f"127.0.0.1:{port + 1}", "--data-dir",
                          os.path.join(d, "data")], env=env, stderr=log)
def expect(word, limit=30.0):
    """Wait for a datagram naming word; the ones before it are returned.
    The daemon exiting first ends the wait at once."""
    end = time.monotonic() + limit
    seen = []
    while time.monotonic() < end:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            if p.poll() is not None:
                raise ChildProcessError(f"daemon exited {p.returncode} before {word}")
            continue
        seen.append(msg)
        if word in msg.split("\n"):
            return seen
    raise SystemExit(f"no {word} within {limit} s; got {seen}")
try:
    for attempt in range(3):
        p = start()
        try:
            expect("READY=1")
            break
        except ChildProcessError:
            if attempt == 2:
                raise
    t0 = time.monotonic()
    expect("WATCHDOG=1", 1.0)  # half of 0.4 s, from the loop
    expect("WATCHDOG=1", 1.0)
    p.send_signal(signal.SIGHUP)
    expect("RELOADING=1", 5)
    expect("READY=1", 5)
    p.send_signal(signal.SIGTERM)
    expect("STOPPING=1", 5)
    rc = p.wait(30)
    if rc != 0:
        raise SystemExit(f"exit {rc}")
finally:
    if p is not None and p.poll() is None:
        p.kill()
PY
echo "test_systemd: all passed"
