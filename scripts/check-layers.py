#!/usr/bin/env python3
"""Who may call and include whom in the daemon (docs/architecture.md,
"Layers").

Every function in src/foo.c starts with foo_ (STYLE), so a call names the
file it lands in, and the header of module foo is foo.h (the few others
are in HEADERS below), so an include names the module it reaches into.
This script reads the daemon's sources (src/*.c for calls, comments and
strings removed; src/*.c and src/*.h for every `#include "x.h"` of a
header in src/), and fails when

  - a module calls one in a higher layer, or includes a header of one,
    unless the edge is in KNOWN (calls) or KNOWN_INCLUDES below (each with
    its reason; the lists may only shrink: an entry that no longer occurs
    fails too, so it gets deleted), or
  - modules call each other in a circle, or include each other's headers
    in a circle (any strongly connected component of more than one module),
    within a layer or across, through edges other than the KNOWN ones:
    every circle left runs through a known upward edge, and removing those
    edges removes the circles.

  usage: scripts/check-layers.py [--graph]   (--graph prints every edge)
"""
import os
import re
import sys

# Lower number = lower layer. A module may call its own layer and below.
LAYERS = {
    # base: no knowledge of requests, Raft or the network
    "err": 0, "log": 0, "heap": 0, "buffer": 0, "frame": 0, "deadline": 0,
    "slab": 0, "config": 0, "value": 0, "pbwire": 0, "keys": 0, "peerauth": 0,
    "raftwire": 0, "siphash": 0, "spare": 0, "pballoc": 0, "hlc": 0, "fresh": 0,
    "notify": 0, "latency": 0, "tls": 0,
    # users, roles, the permission check and password hashing: pure, read
    # by config (the KDF's bounds) as well as by the request path
    "auth": 0,
    # the cluster map's encoding, its check against a configuration, the
    # data dir's copy: pure apart from that file
    "cmap": 0,
    # the rebalancer's decisions over a cluster map: pure
    "balance": 0,
    # header-only base modules (no .c file)
    "queue": 0, "keyhash": 0, "varint": 0,
    # state machine: the store and what is replicated
    "store": 1, "changes": 1, "snapshot": 1, "command": 1, "dedup": 1, "session": 1, "lease": 1,
    "fsm": 2,
    # network: the peer port (its Raft side, node links), connections that
    # send requests (both report upward through callbacks); the data dir's
    # identity
    "identity": 3, "transport": 3, "raftguard": 3, "peer": 3, "conn": 3, "tlsrelay": 3,
    # the partition's Raft group: the only raft caller
    "group": 4, "group_write": 4, "group_read": 4, "group_confirm": 4, "group_lease": 4,
    "group_member": 4,
    # pure decisions over group state
    "read": 5, "route": 5,
    # a request in progress (its memory, deadline and answers) and the node
    # as the handlers see it (groups, read states, links, clock)
    "call": 6, "node": 6,
    # handlers (kv writes, reads at every level, node-to-node, admin)
    "rpc_kv": 7, "rpc_many": 7, "rpc_scan": 7, "rpc_fanout": 7, "rpc_txn": 7, "rpc_read": 7, "rpc_admin": 7, "rpc_forward": 7,
    "rpc_route": 7, "rpc_node": 7, "rpc_auth": 7, "rpc_users": 7, "rpc_lease": 7,
    # WATCH streams: their start is a SCAN round (rpc_scan.c), their events the
    # change history
    "rpc_watch": 7,
    # the metadata group: the cluster map, TRANSFER_LEADER, MEMBER
    "rpc_meta": 7, "rpc_member": 7, "rpc_join": 7, "rpc_move": 7, "rpc_balance": 7,
    # rpc_internal.h, the header the handlers share with dispatch (struct
    # rpc_method, the handlers' declarations, the kinds of node calls): it
    # has no .c file; it sits with the handlers, since they include it
    "rpc_internal": 7,
    # dispatch: decode, admit, the method table
    "rpc": 8,
    # the composition root: owns everything, wires callbacks
    "server": 9, "server_place": 9, "main": 9, "metrics": 9,
}

# Files that are one module behind one header (group.h): calls among them
# are internal, like calls inside one file.
UNITS = {"group_write": "group", "group_read": "group", "group_confirm": "group",
         "group_lease": "group", "group_member": "group"}

# Headers that are not foo.h of a module foo: the module they belong to.
HEADERS = {
    "group_internal.h": "group",  # struct group, calls between the group files
    "group_test.h": "group",      # test-only accessors to a group's raft side
    "transport_raft.h": "transport",  # the per-group transport handed to raft_uv
    "server_internal.h": "server",    # between server.c and server_place.c
}

# Upward edges allowed, each with its reason. Issue 13 removed the last
# one: keep it empty (a lower layer reports upward through callbacks).
KNOWN = {}

# Upward includes allowed, each with its reason: keep it empty too (a lower
# layer gets the narrow struct it needs: conn_set, node, peer_env).
KNOWN_INCLUDES = {}

CALL = re.compile(r"\b([a-z][a-z0-9_]*)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def strip(code):
    """Remove comments, string and character literals."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("/*", i):
            j = code.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            i = j + 1
            out.append('""')
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_comments(code):
    """Remove comments only (an include's file name is a string)."""
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    return re.sub(r"//[^\n]*", "", code)


def module_of(name, modules):
    best = None
    for m in modules:
        if (name == m or name.startswith(m + "_")) and (best is None or len(m) > len(best)):
            best = m
    return best


def edges(src):
    modules = sorted(LAYERS)
    found = {}
    for f in sorted(os.listdir(src)):
        if not f.endswith(".c"):
            continue
        me = f[:-2]
        if me not in LAYERS:
            sys.exit(f"check-layers: src/{f} has no layer: add it to LAYERS")
        me = UNITS.get(me, me)
        with open(os.path.join(src, f)) as fh:
            code = strip(fh.read())
        for name in CALL.findall(code):
            to = module_of(name, modules)
            to = UNITS.get(to, to)
            if to is not None and to != me:
                found.setdefault((me, to), name)
    return found


def header_module(header):
    """The module a header of src/ belongs to."""
    if header in HEADERS:
        return HEADERS[header]
    name = header[:-2] if header.endswith(".h") else header
    return UNITS.get(name, name)


def includes(src):
    """Module edges (a, b): a file of module a includes a header of b."""
    found = {}
    present = set(os.listdir(src))
    for f in sorted(present):
        if not f.endswith((".c", ".h")):
            continue
        me = header_module(f) if f.endswith(".h") else UNITS.get(f[:-2], f[:-2])
        if me not in LAYERS:
            sys.exit(f"check-layers: src/{f} belongs to no module with a layer: add it to "
                     "LAYERS or HEADERS")
        with open(os.path.join(src, f)) as fh:
            code = strip_comments(fh.read())
        for h in INCLUDE.findall(code):
            if h not in present:
                continue  # generated (tunekv.pb-c.h, tunekv_version.h) or not ours
            to = header_module(h)
            if to not in LAYERS:
                sys.exit(f"check-layers: src/{h} belongs to no module with a layer: add it to "
                         "LAYERS or HEADERS")
            if to != me:
                found.setdefault((me, to), f"src/{f} includes {h}")
    return found


def circles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(found, known, what):
    """Upward edges not in known, stale known entries, circles."""
    graph, bad = {}, []
    for a, b in found:
        if (a, b) not in known:
            graph.setdefault(a, set()).add(b)
    for (a, b), how in sorted(found.items()):
        if LAYERS[a] < LAYERS[b] and (a, b) not in known:
            bad.append(f"{a} (layer {LAYERS[a]}) {how} of {b} (layer {LAYERS[b]})")
    for a, b in sorted(known):
        if (a, b) not in found:
            bad.append(f"{what} lists {a} -> {b}, which no longer occurs: delete the entry")
    for comp in circles(graph):
        bad.append(f"{what} circle: " + " <-> ".join(comp))
    return bad


# The raft boundary (issue 13): only these files may include <raft.h>.
RAFT_FILES = re.compile(r"^(group[a-z_]*|transport[a-z_]*|fsm)\.[ch]$")


def raft_includers(src):
    """Files of src/ outside the raft boundary that include <raft.h>."""
    bad = []
    for f in sorted(os.listdir(src)):
        if f.endswith((".c", ".h")) and not RAFT_FILES.match(f):
            with open(os.path.join(src, f)) as fh:
                if re.search(r"^\s*#\s*include\s*<raft", strip_comments(fh.read()), re.M):
                    bad.append(f"src/{f} includes <raft.h>: only group, transport and fsm "
                               f"files may (docs/architecture.md)")
    return bad


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    calls = {e: f"calls {name}" for e, name in edges(os.path.join(root, "src")).items()}
    incs = includes(os.path.join(root, "src"))
    if "--graph" in sys.argv:
        for (a, b), how in sorted(calls.items()) + sorted(incs.items()):
            print(f"{a}({LAYERS[a]}) -> {b}({LAYERS[b]})  e.g. {how}")
    bad = check(calls, KNOWN, "call") + check(incs, KNOWN_INCLUDES, "include")
    bad += raft_includers(os.path.join(root, "src"))
    for line in bad:
        print("check-layers:", line, file=sys.stderr)
    if bad:
        sys.exit(1)
    up = sum(1 for a, b in calls if LAYERS[a] < LAYERS[b])
    up_inc = sum(1 for a, b in incs if LAYERS[a] < LAYERS[b])
    print(f"check-layers: {len(calls)} call edges and {len(incs)} include edges between "
          f"modules, no circle, {up} known upward calls (KNOWN) and {up_inc} known upward "
          f"includes (KNOWN_INCLUDES) left")


if __name__ == "__main__":
    main()
