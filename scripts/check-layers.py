#!/usr/bin/env python3
"""Who may call whom in the daemon (docs/architecture.md, "Layers").

Every function in src/foo.c starts with foo_ (STYLE), so a call names the
file it lands in. This script reads the daemon's sources (src/*.c, comments
and strings removed), finds each call into another module, and fails when

  - a module calls one in a higher layer, unless the edge is in KNOWN below
    (each with its reason; the list may only shrink: an entry that no longer
    occurs fails too, so it gets deleted), or
  - modules call each other in a circle (any strongly connected component
    of more than one module), within a layer or across, through edges other
    than the KNOWN ones: every circle left runs through a known upward edge,
    and removing those edges removes the circles.

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
    "raftwire": 0, "siphash": 0, "spare": 0, "pballoc": 0,
    "notify": 0, "latency": 0,
    # state machine: the store and what is replicated
    "store": 1, "snapshot": 1, "command": 1, "dedup": 1, "session": 1,
    "auth": 1,
    "fsm": 2,
    # network: the peer port (its Raft side, node links), connections that
    # send requests (both report upward through callbacks); the data dir's
    # identity
    "identity": 3, "transport": 3, "raftguard": 3, "peer": 3, "conn": 3,
    # the partition's Raft group: the only raft caller
    "group": 4, "group_write": 4, "group_read": 4, "group_confirm": 4,
    # pure decisions over group state
    "read": 5, "route": 5,
    # a request in progress (its memory, deadline and answers) and the node
    # as the handlers see it (groups, read states, links, clock)
    "call": 6, "node": 6,
    # handlers (kv writes, reads at every level, node-to-node, admin)
    "rpc_kv": 7, "rpc_read": 7, "rpc_admin": 7, "rpc_forward": 7,
    "rpc_route": 7, "rpc_node": 7, "rpc_auth": 7, "rpc_users": 7,
    # dispatch: decode, admit, the method table
    "rpc": 8,
    # the composition root: owns everything, wires callbacks
    "server": 9, "main": 9, "metrics": 9,
}

# Files that are one module behind one header (group.h): calls among them
# are internal, like calls inside one file.
UNITS = {"group_write": "group", "group_read": "group", "group_confirm": "group"}

# Upward edges allowed, each with its reason. Issue 13 removed the last
# one: keep it empty (a lower layer reports upward through callbacks).
KNOWN = {}

CALL = re.compile(r"\b([a-z][a-z0-9_]*)\s*\(")


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


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = edges(os.path.join(root, "src"))
    graph = {}
    for a, b in found:
        if (a, b) not in KNOWN:
            graph.setdefault(a, set()).add(b)
    if "--graph" in sys.argv:
        for (a, b), name in sorted(found.items()):
            print(f"{a}({LAYERS[a]}) -> {b}({LAYERS[b]})  e.g. {name}")
    bad = []
    for (a, b), name in sorted(found.items()):
        if LAYERS[a] < LAYERS[b] and (a, b) not in KNOWN:
            bad.append(f"{a} (layer {LAYERS[a]}) calls {name} in {b} (layer {LAYERS[b]})")
    for a, b in sorted(KNOWN):
        if (a, b) not in found:
            bad.append(f"KNOWN lists {a} -> {b}, which no longer occurs: delete the entry")
    for comp in circles(graph):
        bad.append("call circle: " + " <-> ".join(comp))
    for line in bad:
        print("check-layers:", line, file=sys.stderr)
    if bad:
        sys.exit(1)
    up = sum(1 for a, b in found if LAYERS[a] < LAYERS[b])
    print(f"check-layers: {len(found)} module edges, no circle, {up} known upward "
          f"edges left (KNOWN)")


if __name__ == "__main__":
    main()
