#!/usr/bin/env python3
"""Unit tests of tests/verify/tunekv-check on synthetic histories.

Every check is shown both ways: a valid history it accepts, and a history
with the anomaly it exists for, which it must report (so each check is proven
able to fail). Histories are built in memory (History below) or simulated
(Simulation below: a correct Raft-like store with replicas, sessions, tokens
and faults), written to a temporary JSON-lines file, and judged by running
the script as a subprocess, as the harness does.

    python3 tests/verify/test_check.py [-v] [TestName...]
"""

import heapq
import importlib.machinery
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest
from bisect import bisect_right

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "tunekv-check")
MS = 1_000_000  # ns


# ---------------------------------------------------------------------------
# Hand-written histories


class History:
    """Builds a history event by event. Times are given in ms and written in
    ns; each helper writes an invoke and (unless kind is None) a completion,
    and returns the op id."""

    def __init__(self):
        self.events = []
        self.next_op = 1

    def _op(self, process, f, key, start, end, kind, invoke_fields, completion_fields):
        op_id = self.next_op
        self.next_op += 1
        inv = {"type": "invoke", "process": process, "op_id": op_id, "f": f, "key": key,
               "session": process, "time": int(start * MS)}
        inv.update({k: v for k, v in invoke_fields.items() if v is not None})
        self.events.append(inv)
        if kind is not None:
            comp = {"type": kind, "process": process, "op_id": op_id, "f": f, "key": key,
                    "time": int(end * MS)}
            comp.update({k: v for k, v in completion_fields.items() if v is not None})
            self.events.append(comp)
        return op_id

    def put(self, p, key, value, start, end, version=None, partition=0, kind="ok",
            token_from=None, ts=None):
        return self._op(p, "put", key, start, end, kind,
                        {"value": value, "token_from": token_from},
                        {"value": value, "version": version, "partition": partition,
                         "timestamp": ts}
                        if kind == "ok" else {"error": "OUTCOME_UNKNOWN"})

    def delete(self, p, key, start, end, version=None, found=True, partition=0, kind="ok",
               ts=None):
        return self._op(p, "delete", key, start, end, kind, {},
                        {"version": version, "partition": partition, "found": found,
                         "timestamp": ts}
                        if kind == "ok" else {"error": "OUTCOME_UNKNOWN"})

    def cas(self, p, key, expected, value, start, end, version=None, partition=0, kind="ok"):
        if kind == "ok":
            comp = {"succeeded": True, "version": version, "partition": partition}
        elif kind == "mismatch":
            kind, comp = "fail", {"succeeded": False, "error": "cas_mismatch",
                                  "version": version, "partition": partition}
        else:
            comp = {"error": "OUTCOME_UNKNOWN"}
        return self._op(p, "cas", key, start, end, kind,
                        {"value": value, "expected_version": expected}, comp)

    def get(self, p, key, start, end, value=None, version=0, index=None, level="LINEARIZABLE",
            node=1, partition=0, staleness_ms=None, max_staleness_ms=None, final=False,
            token_from=None, kind="ok", ts=None, value_ts=None, replicas=None):
        if index is None:
            index = version
        if staleness_ms is None:
            staleness_ms = 0 if level == "LINEARIZABLE" else -1
        comp = {"found": value is not None, "value": value, "version": version,
                "partition": partition, "index": index, "node": node,
                "staleness_ms": staleness_ms, "final": True if final else None,
                "timestamp": ts, "value_timestamp": value_ts}
        if kind != "ok":
            comp = {"error": "TIMEOUT"}
        return self._op(p, "get", key, start, end, kind,
                        {"consistency": level, "max_staleness_ms": max_staleness_ms,
                         "token_from": token_from, "replicas": replicas}, comp)

    def nemesis(self, f, at):
        self.events.append({"type": "info", "process": "nemesis", "f": f, "value": "n1",
                            "time": int(at * MS)})

    def final_reads(self, at, states, nodes=(1, 2, 3), replicas=None):
        """Final-phase EVENTUAL reads of each key on each node; states maps
        key -> (value, version, index, partition). replicas: the nodes the
        recorder says hold the keys (its "replicas" extension)."""
        for node in nodes:
            for key, (value, version, index, partition) in sorted(states.items()):
                self.get(100 + node, key, at, at + 1, value, version, index, "EVENTUAL",
                         node=node, partition=partition, final=True,
                         replicas=list(replicas) if replicas is not None else None)
                at += 2
        return at

    def lines(self):
        """The events with processes interleaved at random, each process's
        own in order, as the recorder writes them: file order is not time
        order."""
        queues = {}
        for e in self.events:
            queues.setdefault(e["process"], []).append(e)
        rnd, out = random.Random(7), []
        while queues:
            proc = rnd.choice(sorted(queues, key=str))
            out.append(json.dumps(queues[proc].pop(0)))
            if not queues[proc]:
                del queues[proc]
        return out


class Run:
    """The outcome of one checker run."""

    def __init__(self, proc, summary):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.summary = summary

    def anomalies(self, check):
        return self.summary["checks"][check]["anomalies"]


def run_checker(lines, *args, timeout=600):
    """Writes lines to a temporary history and runs tunekv-check on it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "history.jsonl")
        summary_path = os.path.join(tmp, "summary.json")
        with open(path, "w") as f:
            for line in lines:
                f.write(line + "\n")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run([sys.executable, CHECKER, "--summary", summary_path, *args, path],
                              capture_output=True, text=True, timeout=timeout, env=env)
        summary = None
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
        return Run(proc, summary)


class CheckerTest(unittest.TestCase):
    """Assertions on a run, with the report printed when they fail."""

    def check(self, history, *args):
        lines = history.lines() if isinstance(history, History) else history
        return run_checker(lines, *args)

    def assertValid(self, run):
        self.assertEqual(run.code, 0, f"expected valid:\n{run.out}{run.err}")
        self.assertIs(run.summary["valid"], True)

    def assertAnomaly(self, run, check, *phrases):
        """The run found anomalies in check, and the report names them."""
        self.assertEqual(run.code, 1, f"expected an anomaly in {check}:\n{run.out}{run.err}")
        self.assertIs(run.summary["valid"], False)
        self.assertGreater(run.anomalies(check), 0, f"{check} found nothing:\n{run.out}")
        section = run.out.split(f"== {check}:")[1].split("\n== ")[0]
        for phrase in phrases:
            self.assertIn(phrase, section, f"'{phrase}' not in the {check} report:\n{run.out}")

    def assertOnly(self, run, *checks):
        """No check outside checks reported anything."""
        for name, counts in run.summary["checks"].items():
            if name not in checks:
                self.assertEqual(counts["anomalies"], 0, f"unexpected {name}:\n{run.out}")


def load_checker_module():
    """tunekv-check as a module (its file name has no .py), for the tests
    that drive the search directly."""
    loader = importlib.machinery.SourceFileLoader("tunekv_check", CHECKER)
    spec = importlib.util.spec_from_loader("tunekv_check", loader)
    module = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True
    loader.exec_module(module)
    return module


def base_history():
    """Two keys with a few writes and reads at several levels, and final
    reads agreeing with the last writes: valid."""
    h = History()
    h.put(1, "x", "x1", 0, 10, version=5)
    h.put(2, "y", "y1", 1, 11, version=6)
    h.get(1, "x", 12, 14, "x1", 5, index=8, level="SESSION", node=2)
    h.get(2, "y", 12, 15, "y1", 6, index=8, level="LINEARIZABLE")
    h.final_reads(100, {"x": ("x1", 5, 8, 0), "y": ("y1", 6, 8, 0)})
    return h


# ---------------------------------------------------------------------------
# A simulated correct cluster, for large valid histories


class Simulation:
    """A correct store: P partitions, each a Raft log applied by N replicas
    that lag behind; clients with sessions, tokens and dependencies, reads at
    every level served by a replica that meets the level; info writes that
    may or may not apply; nemesis annotations. Every history it writes is
    valid, so the checker must accept it."""

    LEVELS = ("LINEARIZABLE", "SEQUENTIAL", "CAUSAL", "SESSION", "BOUNDED_STALENESS",
              "EVENTUAL")

    def __init__(self, seed, processes=8, keys=20, partitions=4, nodes=3, ops=2000,
                 info_rate=0.01, levels=None, bug=None):
        self.rnd = random.Random(seed)
        self.partitions, self.nodes = partitions, nodes
        self.keys = [f"k{i}" for i in range(keys)]
        self.partition_of = {k: i % partitions for i, k in enumerate(self.keys)}
        self.levels = levels or self.LEVELS
        self.info_rate = info_rate
        self.bug = bug  # "stale-lin": LINEARIZABLE reads from a lagging replica
        self.ops_total = ops
        self.events = []
        self.next_op = 1
        self.next_process = processes + 1
        # Per partition: last index, commit times by index, per key history.
        self.last_index = [0] * partitions
        self.commit_time = [[0] for _ in range(partitions)]  # index -> time
        self.key_states = {k: ([0], [(False, None, 0)]) for k in self.keys}  # indexes, states
        self.deps = {}  # (key, value) -> dependency floors of its write
        self.tokens = []  # (completion time, op id, floors after it)
        self.run_clients(processes)
        self.final_phase()

    # -- the store

    def append(self, p, t, key=None, state=None):
        """Appends an entry (a write, or a barrier when key is None)."""
        self.last_index[p] += 1
        idx = self.last_index[p]
        self.commit_time[p].append(t)
        if key is not None:
            idxs, states = self.key_states[key]
            idxs.append(idx)
            states.append(state)
        return idx

    def state_at(self, key, idx):
        idxs, states = self.key_states[key]
        return states[bisect_right(idxs, idx) - 1]

    def current(self, key):
        return self.key_states[key][1][-1]

    # -- clients

    def run_clients(self, processes):
        """Each process runs ops back to back; ops take effect at a point
        between invoke and completion, executed in global time order."""
        procs = {}
        for p in range(1, processes + 1):
            procs[p] = {"t": self.rnd.randint(0, 5) * MS, "floors": {}}
        pending = []  # (effect time, op id, process, plan), a heap by effect time
        for p, st in procs.items():
            heapq.heappush(pending, self.plan(p, st))
        done = 0
        while pending and done < self.ops_total:
            effect, _, p, plan = heapq.heappop(pending)
            st = procs.pop(p)
            new_p = self.execute(p, st, plan)
            done += 1
            if new_p != p:  # retired after info: a new process and session
                st = {"t": st["t"], "floors": {}}
            procs[new_p] = st
            if self.rnd.random() < 0.002:
                self.events.append({"type": "info", "process": "nemesis",
                                    "f": self.rnd.choice(["kill", "pause", "restart"]),
                                    "value": "n1", "time": st["t"]})
            heapq.heappush(pending, self.plan(new_p, st))

    def plan(self, p, st):
        invoke = st["t"] + self.rnd.randint(1, 3) * MS // 2
        effect = invoke + self.rnd.randint(1, 4000) * 1000
        complete = effect + self.rnd.randint(1, 4000) * 1000
        r = self.rnd.random()
        f = "get" if r < 0.5 else "put" if r < 0.75 else "cas" if r < 0.9 else "delete"
        plan = {"f": f, "key": self.rnd.choice(self.keys), "invoke": invoke, "effect": effect,
                "complete": complete, "op": self.next_op}
        self.next_op += 1
        return (effect, plan["op"], p, plan)

    def emit(self, ev):
        self.events.append(ev)

    def merge(self, floors, other):
        for part, idx in other.items():
            if idx > floors.get(part, 0):
                floors[part] = idx

    def execute(self, p, st, plan):
        """Runs one op at its effect time; returns the process id that goes on."""
        f, key, op_id = plan["f"], plan["key"], plan["op"]
        part = self.partition_of[key]
        inv = {"type": "invoke", "process": p, "op_id": op_id, "f": f, "key": key,
               "session": p, "time": plan["invoke"]}
        if self.tokens and self.rnd.random() < 0.05:
            # A token published after an op that completed before this invoke.
            src = self.rnd.choice(self.tokens[-20:])
            if src[0] < plan["invoke"]:
                inv["token_from"] = src[1]
                self.merge(st["floors"], src[2])
        st["t"] = plan["complete"]
        if f == "get":
            self.execute_get(p, st, plan, inv, key, part)
            return p
        return self.execute_write(p, st, plan, inv, key, part)

    def execute_write(self, p, st, plan, inv, key, part):
        f, t = plan["f"], plan["effect"]
        value = f"v{plan['op']}"
        present, _, version = self.current(key)
        if f in ("put", "cas"):
            inv["value"] = value
        if f == "cas":
            inv["expected_version"] = version if self.rnd.random() < 0.7 else \
                self.rnd.randint(0, max(version, 1))
        self.emit(inv)
        comp = {"process": p, "op_id": plan["op"], "f": f, "key": key, "time": plan["complete"]}
        if self.rnd.random() < self.info_rate:  # maybe applied, never answered
            if self.rnd.random() < 0.5:
                self.apply_write(f, key, part, t, value, inv, st["floors"])
            # The client may give up before the write applies.
            comp.update(type="info", error="OUTCOME_UNKNOWN",
                        time=self.rnd.randint(plan["invoke"], plan["complete"]))
            self.emit(comp)
            return self.next_process_id()
        deps = dict(st["floors"])
        idx, ok = self.apply_write(f, key, part, t, value, inv, deps)
        comp.update(version=idx, partition=part)
        if f == "cas" and not ok:
            comp.update(type="fail", succeeded=False, error="cas_mismatch",
                        current_version=self.current(key)[2])
        else:
            comp["type"] = "ok"
            if f == "cas":
                comp["succeeded"] = True
            if f == "delete":
                comp["found"] = present
            st["floors"][part] = max(st["floors"].get(part, 0), idx)
        self.emit(comp)
        self.maybe_publish(plan["op"], st)
        return p

    def apply_write(self, f, key, part, t, value, inv, deps):
        """Applies a write; returns (index, took effect)."""
        if self.rnd.random() < 0.3:
            self.append(part, t)  # a barrier before it: indexes have gaps
        present, _, version = self.current(key)
        if f == "cas" and (version if present else 0) != inv["expected_version"]:
            return self.append(part, t), False
        if f == "delete":
            return self.append(part, t, key, (False, None, 0)), True
        idx = self.last_index[part] + 1
        self.deps[(key, value)] = dict(deps)
        return self.append(part, t, key, (True, value, idx)), True

    def next_process_id(self):
        self.next_process += 1
        return self.next_process - 1

    def read_index(self, st, level, part, t, max_staleness_ms):
        """The applied index of a replica allowed to serve this read."""
        last = self.last_index[part]
        if level == "LINEARIZABLE" and self.bug != "stale-lin":
            return last
        low = 0
        if level in ("SEQUENTIAL", "CAUSAL", "SESSION"):
            low = st["floors"].get(part, 0)
        elif level == "BOUNDED_STALENESS":
            cutoff = t - max_staleness_ms * MS
            low = bisect_right(self.commit_time[part], cutoff) - 1
        low = min(max(low, 0), last)
        return self.rnd.randint(max(low, last - 6), last) if low < last else last

    def staleness_of(self, part, idx, t):
        """A true upper bound: time since the first entry above idx committed."""
        if idx >= self.last_index[part]:
            return 0
        return (t - self.commit_time[part][idx + 1]) // MS + 1

    def execute_get(self, p, st, plan, inv, key, part):
        level = self.rnd.choice(self.levels)
        inv["consistency"] = level
        max_staleness = None
        if level == "BOUNDED_STALENESS":
            max_staleness = self.rnd.choice([1, 2, 5])
            inv["max_staleness_ms"] = max_staleness
        self.emit(inv)
        t = plan["effect"]
        idx = self.read_index(st, level, part, t, max_staleness)
        present, value, version = self.state_at(key, idx)
        staleness = -1 if self.rnd.random() < 0.2 else self.staleness_of(part, idx, t)
        if level == "LINEARIZABLE":
            staleness = 0
        self.emit({"type": "ok", "process": p, "op_id": plan["op"], "f": "get", "key": key,
                   "found": present, "value": value, "version": version, "partition": part,
                   "index": idx, "node": self.rnd.randint(1, self.nodes),
                   "staleness_ms": staleness, "time": plan["complete"]})
        st["floors"][part] = max(st["floors"].get(part, 0), idx)
        if present and level in ("LINEARIZABLE", "SEQUENTIAL", "CAUSAL"):
            self.merge(st["floors"], self.deps.get((key, value), {}))
        self.maybe_publish(plan["op"], st)

    def maybe_publish(self, op_id, st):
        if self.rnd.random() < 0.1:
            self.tokens.append((st["t"], op_id, dict(st["floors"])))

    def final_phase(self):
        t = max(e["time"] for e in self.events) + 1000 * MS
        for node in range(1, self.nodes + 1):
            p = self.next_process_id()
            for key in self.keys:
                part = self.partition_of[key]
                present, value, version = self.current(key)
                op_id = self.next_op
                self.next_op += 1
                self.emit({"type": "invoke", "process": p, "op_id": op_id, "f": "get",
                           "key": key, "session": p, "consistency": "EVENTUAL", "time": t})
                self.emit({"type": "ok", "process": p, "op_id": op_id, "f": "get", "key": key,
                           "found": present, "value": value, "version": version,
                           "partition": part, "index": self.last_index[part], "node": node,
                           "staleness_ms": 0, "final": True, "time": t + MS})
                t += 2 * MS

    def lines(self):
        self.events.sort(key=lambda e: e["time"])
        return [json.dumps(e) for e in self.events]


# ---------------------------------------------------------------------------
# The tests


class ValidHistories(CheckerTest):

    def test_base_history_is_valid(self):
        run = self.check(base_history())
        self.assertValid(run)
        self.assertEqual(run.summary["levels"]["SESSION"], {"reads": 1, "anomalies": 0})
        self.assertEqual(run.summary["ops"]["put"]["ok"], 2)
        for name in ("linearizable", "prefix", "session", "causal", "sequential", "bounded",
                     "lost", "final"):
            self.assertIn(name, run.summary["checks"])

    def test_concurrent_history_with_info_ops_is_valid(self):
        h = History()
        # Two concurrent puts; reads see them in index order.
        h.put(1, "x", "a", 0, 20, version=3)
        h.put(2, "x", "b", 5, 25, version=4)
        h.get(3, "x", 6, 30, "b", 4, index=4)
        # An info put that took effect: a later read returns it.
        h.put(4, "x", "c", 40, None, kind=None)
        h.get(5, "x", 50, 55, "c", 9, index=9)
        # An info put that never shows, and an info delete that did happen.
        h.put(6, "x", "never", 60, 61, kind="info")
        h.delete(7, "x", 70, None, kind=None)
        h.get(8, "x", 80, 85, None, 0, index=12)
        h.put(9, "x", "d", 90, 95, version=14)
        h.get(8, "x", 96, 97, "d", 14, index=14, level="CAUSAL", node=3)
        h.nemesis("kill", 30)
        h.nemesis("restart", 60)
        h.final_reads(200, {"x": ("d", 14, 15, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["faults"], {"kill": 1, "restart": 1})
        self.assertEqual(run.summary["ops"]["put"]["info"], 2)

    def test_cas_semantics_valid(self):
        h = History()
        h.cas(1, "x", 0, "a", 0, 10, version=2)  # create when absent
        h.cas(1, "x", 2, "b", 11, 20, version=3)
        h.cas(2, "x", 2, "c", 21, 30, version=4, kind="mismatch")  # stale: fails
        h.get(2, "x", 31, 35, "b", 3, index=4)
        h.cas(3, "x", 0, "d", 36, 40, version=5, kind="mismatch")  # exists: fails
        h.final_reads(100, {"x": ("b", 3, 5, 0)})
        self.assertValid(self.check(h))

    def test_simulated_cluster_is_valid(self):
        sim = Simulation(seed=1, ops=4000, info_rate=0.02)
        self.assertValid(self.check(sim.lines()))


class Linearizable(CheckerTest):

    def test_stale_linearizable_read(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 21, 25, "a", 3, index=3, node=2)  # after b was acknowledged
        h.final_reads(100, {"x": ("b", 4, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "linearizable", "not linearizable", "op 3 ", "'a'")
        self.assertEqual(run.summary["levels"]["LINEARIZABLE"]["anomalies"], 1)

    def test_same_read_is_fine_below_linearizable(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 21, 25, "a", 3, index=3, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": ("b", 4, 4, 0)})
        self.assertValid(self.check(h))

    def test_cas_that_succeeded_with_stale_expected_version(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.cas(2, "x", 3, "c", 21, 30, version=5)  # expected 3, but the version was 4
        h.final_reads(100, {"x": ("c", 5, 5, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "linearizable", "cas", "expected_version=3")

    def test_cas_mismatch_that_should_have_succeeded(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.cas(2, "x", 3, "c", 21, 30, version=5, kind="mismatch")
        h.final_reads(100, {"x": ("a", 3, 5, 0)})
        self.assertAnomaly(self.check(h), "linearizable", "cas_mismatch")

    def test_info_cas_may_explain_a_mismatch(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.cas(3, "x", 3, "z", 12, None, kind=None)  # maybe applied
        h.cas(2, "x", 3, "c", 21, 30, version=5, kind="mismatch")
        h.get(2, "x", 31, 32, "a", 3, index=5)
        h.final_reads(100, {"x": ("a", 3, 5, 0)})
        run = self.check(h)
        # The last read shows 'a' at version 3: the info cas did not apply,
        # so nothing explains the mismatch.
        self.assertAnomaly(run, "linearizable")
        h2 = History()
        h2.put(1, "x", "a", 0, 10, version=3)
        h2.cas(3, "x", 3, "z", 12, None, kind=None)
        h2.cas(2, "x", 3, "c", 21, 30, version=5, kind="mismatch")
        h2.get(2, "x", 31, 32, "z", 4, index=5)
        h2.final_reads(100, {"x": ("z", 4, 5, 0)})
        self.assertValid(self.check(h2))

    def test_time_budget_exceeded_is_unknown(self):
        h = History()
        for i in range(30):  # many concurrent info writes
            h.put(10 + i, "x", f"i{i}", i, None, kind=None)
        h.put(1, "x", "a", 0, 100, version=50)
        h.get(2, "x", 101, 102, "a", 50, index=50)
        h.final_reads(200, {"x": ("a", 50, 50, 0)})
        run = self.check(h, "--time-limit", "0")
        self.assertEqual(run.code, 2, run.out)
        self.assertEqual(run.summary["valid"], "unknown")
        self.assertEqual(run.summary["checks"]["linearizable"]["unknown"], 1)
        self.assertIn("UNKNOWN", run.out)
        self.assertValid(self.check(h))  # with time, it is decided

    def test_wgl_speed(self):
        """20 keys x 2 000 ops, 8 processes, with info ops: decided in time."""
        sim = Simulation(seed=2, processes=8, keys=20, ops=40000, info_rate=0.005,
                         levels=("LINEARIZABLE",) * 3 + ("SESSION",))
        start = time.monotonic()
        run = self.check(sim.lines(), "--time-limit", "60")
        elapsed = time.monotonic() - start
        self.assertValid(run)
        self.assertLess(elapsed, 45, f"WGL took {elapsed:.1f} s")
        print(f"\n  WGL: 40 000 ops over 20 keys in {elapsed:.1f} s", file=sys.stderr)


class Prefix(CheckerTest):

    def test_read_misses_a_write_below_its_index(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 21, 25, "a", 3, index=7, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": ("b", 4, 7, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "prefix", "misses a write applied by index 7", "'b'")
        self.assertOnly(run, "prefix")

    def test_read_absent_although_written(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.get(2, "x", 21, 25, None, 0, index=7, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": ("a", 3, 7, 0)})
        self.assertAnomaly(self.check(h), "prefix", "not found")

    def test_absent_read_explained_by_info_delete_is_not_an_anomaly(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.delete(3, "x", 12, None, kind=None)
        h.get(2, "x", 21, 25, None, 0, index=7, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": (None, 0, 7, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertGreater(run.summary["checks"]["prefix"]["unknown"], 0)

    def test_tombstone_naming_the_delete_is_valid(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.delete(1, "x", 11, 15, version=5)
        h.get(2, "x", 21, 25, None, 5, index=6, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": (None, 0, 6, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["tombstones"]["checked"], 1)

    def test_tombstone_naming_no_delete_is_reported(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.delete(1, "x", 11, 15, version=5)
        h.get(2, "x", 21, 25, None, 4, index=6, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": (None, 0, 6, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "tombstones", "no delete of the key was applied there")
        self.assertOnly(run, "tombstones")

    def test_tombstone_beyond_the_replicas_index_is_reported(self):
        h = History()
        h.delete(1, "x", 11, 15, version=9)
        h.get(2, "x", 21, 25, None, 9, index=6, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": (None, 0, 9, 0)})
        self.assertAnomaly(self.check(h), "tombstones", "beyond the index 6")

    def test_tombstone_an_info_delete_may_explain_is_unknown(self):
        h = History()
        h.delete(1, "x", 11, None, kind=None)
        h.get(2, "x", 21, 25, None, 7, index=8, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": (None, 0, 8, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["tombstones"]["unknown"], 1)

    def test_value_never_written_and_failed_write_read(self):
        h = History()
        h.put(1, "x", "a", 0, 10, kind="fail")
        h.get(2, "x", 21, 25, "a", 3, index=3, level="EVENTUAL")
        h.get(2, "x", 26, 27, "ghost", 4, index=4, level="EVENTUAL")
        run = self.check(h)
        self.assertAnomaly(run, "prefix", "the value's write failed",
                           "no operation ever wrote this value")

    def test_index_reuse_loses_an_acknowledged_write(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(2, "y", "b", 20, 30, version=3)  # same partition, same index
        h.final_reads(100, {"x": ("a", 3, 3, 0), "y": ("b", 3, 3, 0)})
        self.assertAnomaly(self.check(h), "prefix", "index reused: an acknowledged write was lost")


class Session(CheckerTest):

    def test_read_your_writes_broken(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(1, "x", 21, 25, "a", 3, index=3, level="SESSION", node=2)
        h.final_reads(100, {"x": ("b", 4, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "session", "read-your-writes broken", "'b'")
        self.assertEqual(run.summary["levels"]["SESSION"]["anomalies"], 1)

    def test_own_writes_seen_is_valid(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(1, "x", 21, 25, "b", 4, index=4, level="SESSION", node=2)
        h.get(2, "x", 21, 25, "a", 3, index=3, level="SESSION", node=3)  # another session
        h.final_reads(100, {"x": ("b", 4, 4, 0)})
        self.assertValid(self.check(h))

    def test_monotonic_reads_broken_across_replicas(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 21, 25, "b", 4, index=6, level="SEQUENTIAL", node=1)
        h.get(2, "x", 26, 30, "a", 3, index=3, level="SEQUENTIAL", node=2)
        h.final_reads(100, {"x": ("b", 4, 6, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "session", "monotonic reads broken", "node=2")
        self.assertOnly(run, "session")

    def test_monotonic_eventual_reads_are_not_checked(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 21, 25, "b", 4, index=6, level="EVENTUAL", node=1)
        h.get(2, "x", 26, 30, "a", 3, index=3, level="EVENTUAL", node=2)
        h.final_reads(100, {"x": ("b", 4, 6, 0)})
        self.assertValid(self.check(h))


class Causal(CheckerTest):

    def test_causal_broken_with_token_from(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, partition=0)
        a = h.put(1, "y", "y1", 11, 20, version=7, partition=1)
        # Session 2 merges session 1's token (taken after its write of y),
        # then reads x on a replica that has not applied x1.
        h.get(2, "x", 30, 35, None, 0, index=2, level="CAUSAL", node=3, partition=0,
              token_from=a)
        h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
        run = self.check(h)
        self.assertAnomaly(run, "causal", "causal (token) broken", f"op {a}")
        self.assertOnly(run, "causal")

    def test_causal_broken_via_dependency_of_a_read_value(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, partition=0)
        h.put(1, "y", "y1", 11, 20, version=7, partition=1)  # depends on x1
        h.get(2, "y", 30, 35, "y1", 7, index=7, level="CAUSAL", node=2, partition=1)
        h.get(2, "x", 36, 40, None, 0, index=2, level="CAUSAL", node=3, partition=0)
        h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
        run = self.check(h)
        self.assertAnomaly(run, "causal", "causal (dependency) broken",
                           "a dependency of the value read by")

    def test_causal_respected_is_valid(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, partition=0)
        a = h.put(1, "y", "y1", 11, 20, version=7, partition=1)
        h.get(2, "y", 30, 35, "y1", 7, index=7, level="CAUSAL", node=2, partition=1)
        h.get(2, "x", 36, 40, "x1", 3, index=3, level="CAUSAL", node=3, partition=0)
        h.get(3, "x", 36, 40, "x1", 3, index=5, level="SESSION", node=3, partition=0,
              token_from=a)
        # A SESSION read does not promise the dependencies of values.
        h.get(4, "y", 30, 35, "y1", 7, index=7, level="SESSION", node=2, partition=1)
        h.get(4, "x", 36, 40, None, 0, index=2, level="SESSION", node=3, partition=0)
        h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
        self.assertValid(self.check(h))


def two_writers_two_readers(b_sees_x):
    """The issue's two-reader case (issue 16): W1 writes x = x1 (partition 0,
    stamped 100), W2 writes y = y1 (partition 1, stamped 200). A reads x1,
    then y on a lagging follower: absent, at A's T of 100, before y1's stamp.
    B reads y1 (T 200), then x: with b_sees_x it waits for partition 0 to be
    closed at 200 and sees x1; without, its lagging follower answers absent
    at T 200, as a server without the wait would report it."""
    h = History()
    x = h.put(1, "x", "x1", 0, 10, version=3, partition=0, ts=100)
    h.put(2, "y", "y1", 1, 11, version=7, partition=1, ts=200)
    h.get(3, "x", 20, 22, "x1", 3, index=3, level="SEQUENTIAL", node=1, partition=0, ts=100,
          value_ts=100)
    h.get(3, "y", 23, 25, None, 0, index=2, level="SEQUENTIAL", node=3, partition=1, ts=100)
    h.get(4, "y", 20, 22, "y1", 7, index=7, level="SEQUENTIAL", node=1, partition=1, ts=200,
          value_ts=200)
    if b_sees_x:
        h.get(4, "x", 23, 25, "x1", 3, index=3, level="SEQUENTIAL", node=2, partition=0,
              ts=200, value_ts=100)
    else:
        h.get(4, "x", 23, 25, None, 0, index=2, level="SEQUENTIAL", node=2, partition=0,
              ts=200)
    h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
    return h, x


class Sequential(CheckerTest):

    def test_no_timestamps_is_skipped_not_failed(self):
        run = self.check(base_history())
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["sequential"]["checked"], 0)
        self.assertIn("no timestamps in this history: skipped", run.out)

    def test_one_order_across_partitions_is_valid(self):
        h, _ = two_writers_two_readers(b_sees_x=True)
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["sequential"]["checked"], 4)

    def test_two_reader_anomaly_is_reported(self):
        # Every per-partition check passes: only the one order is broken.
        h, x = two_writers_two_readers(b_sees_x=False)
        run = self.check(h)
        self.assertAnomaly(run, "sequential", "at T=200 finds nothing", f"op {x} (process 1)",
                           "stamped 100, at or below T")
        self.assertOnly(run, "sequential")

    def test_missed_write_between_value_and_t(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, ts=100)
        w = h.put(1, "x", "x2", 11, 20, version=4, ts=150)
        h.get(2, "x", 30, 32, "x1", 3, index=3, level="SEQUENTIAL", node=2, ts=180,
              value_ts=100)
        h.final_reads(100, {"x": ("x2", 4, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "sequential", "shows the value stamped 100", f"op {w}",
                           "in between")

    def test_t_going_back_in_a_session_is_reported(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, partition=0, ts=100)
        h.put(1, "y", "y1", 11, 20, version=7, partition=1, ts=200)
        first = h.get(2, "x", 30, 32, "x1", 3, index=3, level="SEQUENTIAL", partition=0, ts=300,
                      value_ts=100)
        h.get(2, "y", 33, 35, "y1", 7, index=7, level="SEQUENTIAL", partition=1, ts=250,
              value_ts=200)
        h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
        run = self.check(h)
        self.assertAnomaly(run, "sequential", "is at T=250, below 300", f"op {first}",
                           "its reads went back")
        self.assertOnly(run, "sequential")

    def test_write_not_stamped_above_what_its_session_saw(self):
        h = History()
        h.put(1, "y", "y1", 0, 10, version=7, partition=1, ts=200)
        h.get(2, "y", 20, 22, "y1", 7, index=7, level="CAUSAL", partition=1, ts=200,
              value_ts=200)
        w = h.put(2, "x", "x1", 23, 30, version=3, partition=0, ts=150)
        h.final_reads(100, {"x": ("x1", 3, 3, 0), "y": ("y1", 7, 7, 1)})
        run = self.check(h)
        self.assertAnomaly(run, "sequential", f"op {w} (process 2) put 'x'", "not above 200")

    def test_write_answered_above_its_value_stamp_is_placed_by_the_value(self):
        # A deduplicated retry answers with its own entry's stamp (300);
        # the value says 250: placed there, the read at 280 is fine.
        h = History()
        w = h.put(1, "x", "x1", 0, 10, version=3, ts=300)
        h.get(2, "x", 20, 22, "x1", 3, index=3, level="SEQUENTIAL", ts=280, value_ts=250)
        h.final_reads(100, {"x": ("x1", 3, 3, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertIn(f"op {w} (process 1) put 'x' value='x1'", run.out)
        self.assertIn("answered stamp 300, its value is stamped 250", run.out)

    def test_write_answered_below_its_value_stamp_is_reported(self):
        h = History()
        w = h.put(1, "x", "x1", 0, 10, version=3, ts=200)
        h.get(2, "x", 20, 22, "x1", 3, index=3, level="SEQUENTIAL", ts=280, value_ts=250)
        h.final_reads(100, {"x": ("x1", 3, 3, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "sequential", "says its value was stamped 250", f"op {w}",
                           "answered with stamp 200, before it")

    def test_absent_read_an_info_delete_may_explain_is_unknown(self):
        h = History()
        h.put(1, "x", "x1", 0, 10, version=3, ts=100)
        h.delete(2, "x", 11, 20, kind="info")
        h.get(3, "x", 30, 32, None, 0, index=5, level="SEQUENTIAL", node=2, ts=180)
        h.final_reads(100, {"x": (None, 0, 5, 0)})
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["sequential"]["unknown"], 1)


class Bounded(CheckerTest):

    def test_bounded_staleness_broken(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 300, 305, "a", 3, index=3, level="BOUNDED_STALENESS", node=2,
              max_staleness_ms=100, staleness_ms=-1)
        h.final_reads(1000, {"x": ("b", 4, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "bounded", "bound of 100 ms broken", "'b'")
        self.assertOnly(run, "bounded")

    def test_bounded_within_bound_is_valid(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        # b was acknowledged 80 ms before the read: within a 100 ms bound.
        h.get(2, "x", 100, 105, "a", 3, index=3, level="BOUNDED_STALENESS", node=2,
              max_staleness_ms=100, staleness_ms=95)
        h.final_reads(1000, {"x": ("b", 4, 4, 0)})
        self.assertValid(self.check(h))

    def test_staleness_under_reported(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.get(2, "x", 100, 105, "a", 3, index=3, level="EVENTUAL", node=2, staleness_ms=30)
        h.final_reads(1000, {"x": ("b", 4, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "bounded", "staleness under-reported", "staleness_ms 30")
        self.assertEqual(run.summary["levels"]["EVENTUAL"]["anomalies"], 1)


class LostAndFinal(CheckerTest):

    def test_lost_acknowledged_write_in_final_reads(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.final_reads(100, {"x": ("a", 3, 4, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "lost", "acknowledged write lost", "'b'")

    def test_lost_write_whose_index_was_reused(self):
        """A leader acknowledged x=a at index 3 and lost it; the next leader
        gave index 3 to y=b. The final reads miss a, and two operations
        claim index 3."""
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.nemesis("kill", 11)
        h.put(2, "y", "b", 20, 30, version=3)
        h.final_reads(100, {"x": (None, 0, 5, 0), "y": ("b", 3, 5, 0)})
        run = self.check(h)
        self.assertAnomaly(run, "lost", "acknowledged write lost", "'a'")
        self.assertAnomaly(run, "prefix", "index reused: an acknowledged write was lost",
                           "partition 0 index 3")

    def test_overwritten_by_delete_is_not_lost(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.delete(1, "x", 11, 20, version=4)
        h.final_reads(100, {"x": (None, 0, 4, 0)})
        self.assertValid(self.check(h))

    def test_replicas_differ_in_final_phase(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        h.final_reads(100, {"x": ("b", 4, 4, 0)}, nodes=(1, 2))
        h.final_reads(200, {"x": ("a", 3, 3, 0)}, nodes=(3,))
        run = self.check(h)
        self.assertAnomaly(run, "final", "replicas differ", "nodes [3]")
        self.assertOnly(run, "final")

    def test_no_final_reads_is_unknown(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        run = self.check(h)
        self.assertEqual(run.code, 2, run.out)
        self.assertEqual(run.summary["valid"], "unknown")
        self.assertIn("no final reads", run.out)

    def test_missing_final_read_is_unknown(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "y", "b", 0, 10, version=4)
        h.final_reads(100, {"x": ("a", 3, 4, 0), "y": ("b", 4, 4, 0)}, nodes=(1, 2))
        h.final_reads(200, {"x": ("a", 3, 4, 0)}, nodes=(3,))
        run = self.check(h)
        self.assertEqual(run.code, 2, run.out)
        self.assertEqual(run.summary["checks"]["final"]["unknown"], 1)

    def test_final_reads_from_the_keys_replicas_suffice(self):
        """More nodes than replicas: node 4 holds x, not y, and says so."""
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "y", "b", 0, 10, version=4, partition=1)
        at = h.final_reads(100, {"x": ("a", 3, 4, 0)}, nodes=(1, 2, 4), replicas=(1, 2, 4))
        h.final_reads(at, {"y": ("b", 4, 4, 1)}, nodes=(1, 2, 3), replicas=(1, 2, 3))
        self.assertValid(self.check(h))

    def test_missing_final_read_of_a_replica_is_unknown(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.final_reads(100, {"x": ("a", 3, 4, 0)}, nodes=(1, 2), replicas=(1, 2, 4))
        run = self.check(h)
        self.assertEqual(run.code, 2, run.out)
        self.assertIn("no final read from nodes [4]", run.out)


class Txn(CheckerTest):
    """TXNs on a pair of keys (the recorder's f "txn")."""

    PAIR = ["{t0}:a", "{t0}:b"]

    @staticmethod
    def txn(h, p, start, end, kind="ok", value=None, succeeded=True, version=None, reads=(),
            final=False, node=None):
        op_id = h.next_op
        h.next_op += 1
        inv = {"type": "invoke", "process": p, "op_id": op_id, "f": "txn", "keys": Txn.PAIR,
               "session": p, "time": int(start * MS)}
        if value is not None:
            inv["value"] = value
        if final:
            inv["final"] = True
        h.events.append(inv)
        comp = {"type": kind, "process": p, "op_id": op_id, "f": "txn", "keys": Txn.PAIR,
                "time": int(end * MS)}
        if kind == "ok":
            comp["reads"] = [{"key": k, "found": v is not None, "value": v, "version": ver}
                             for k, (v, ver) in zip(Txn.PAIR, reads)]
            if not final:
                comp.update(succeeded=succeeded, version=version)
            else:
                comp.update(final=True, node=node)
        h.events.append(comp)

    def history(self, final_reads=(("w1", 5), ("w1", 5))):
        """A written pair, read whole, and final reads (valid as given)."""
        h = base_history()
        self.txn(h, 7, 20, 30, value="w1", version=5)
        self.txn(h, 8, 31, 40, reads=(("w1", 5), ("w1", 5)), version=6)
        self.txn(h, 7, 41, 50, value="w2", succeeded=False, version=7,
                 reads=(("w1", 5), ("w1", 5)))
        for node in (1, 2, 3):
            self.txn(h, 200 + node, 300 + node, 301 + node, reads=final_reads, final=True,
                     node=node)
        return h

    def test_valid(self):
        run = self.check(self.history())
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["txn"]["checked"], 6)
        self.assertEqual(run.summary["ops"]["txn"], {"ok": 6, "fail": 0, "info": 0})

    def test_torn_read(self):
        h = self.history()
        self.txn(h, 9, 51, 60, reads=(("w1", 5), (None, 0)), version=8)
        run = self.check(h)
        self.assertAnomaly(run, "txn", "torn TXN")
        self.assertOnly(run, "txn")

    def test_value_of_a_failed_branch(self):
        h = self.history()
        self.txn(h, 9, 51, 60, reads=(("w2", 7), ("w2", 7)), version=8)
        run = self.check(h)
        self.assertAnomaly(run, "txn", "did not run its puts", "'w2'")

    def test_version_differs_from_the_writer(self):
        h = self.history()
        self.txn(h, 9, 51, 60, reads=(("w1", 6), ("w1", 6)), version=8)
        self.assertAnomaly(self.check(h), "txn", "at version 6, written at 5")

    def test_lost_from_the_final_state(self):
        run = self.check(self.history(final_reads=((None, 0), (None, 0))))
        self.assertAnomaly(run, "txn", "acknowledged TXN lost")

    def test_info_write_may_stand(self):
        h = self.history(final_reads=(("w3", 9), ("w3", 9)))
        self.txn(h, 9, 51, 60, kind="info", value="w3")
        self.assertValid(self.check(h))


class Watch(CheckerTest):
    """Watches of the recorder (f "watch"): a key and a prefix watch over
    writes in two partitions."""

    @staticmethod
    def watch(h, p, key, start, lines, end, prefix=False, end_type="ok", at=1, error=None):
        """A watch op of process p: invoke, start (partition -> index), then
        lines: ("put", key, value, partition, index), ("delete", key,
        partition, index) or ("resume", positions), then its end."""
        op_id = h.next_op
        h.next_op += 1

        def line(type_, **fields):
            nonlocal at
            ev = {"type": type_, "process": p, "op_id": op_id, "f": "watch",
                  "time": int(at * MS)}
            ev.update(fields)
            h.events.append(ev)
            at += 0.01

        def positions(pos):
            return [[part, index] for part, index in sorted(pos.items())]

        line("invoke", key=key, prefix=prefix)
        line("start", node=1, positions=positions(start))
        for x in lines:
            if x[0] == "put":
                line("event", event="put", key=x[1], value=x[2], partition=x[3], index=x[4])
            elif x[0] == "delete":
                line("event", event="delete", key=x[1], partition=x[2], index=x[3])
            else:
                line("resume", by="library", node=2, positions=positions(x[1]))
        end_fields = {"positions": positions(end)}
        if error is not None:
            end_fields["error"] = error
        line(end_type, **end_fields)
        return op_id

    @staticmethod
    def writes():
        """k0 (partition 0) and k1 (partition 1) written; a failed put, a
        cas mismatch and a delete of an absent key change nothing."""
        h = History()
        h.put(1, "k0", "a", 10, 11, version=5, partition=0)
        h.put(1, "k1", "b", 12, 13, version=3, partition=1)
        h.put(1, "k0", "c", 14, 15, version=7, partition=0)
        h.delete(1, "k1", 16, 17, version=4, partition=1)
        h.put(1, "k0", "x", 18, 19, kind="fail")
        h.cas(1, "k0", 5, "y", 20, 21, version=8, partition=0, kind="mismatch")
        h.delete(1, "k1", 22, 23, version=6, found=False, partition=1)
        h.put(1, "k0", "d", 24, 25, version=9, partition=0)
        h.get(1, "k0", 26, 27, "d", 9, index=9, level="LINEARIZABLE")
        h.final_reads(200, {"k0": ("d", 9, 9, 0), "k1": (None, 0, 6, 1)})
        return h

    KEY_EVENTS = [("put", "k0", "a", 0, 5), ("put", "k0", "c", 0, 7), ("put", "k0", "d", 0, 9)]
    PREFIX_EVENTS = [("put", "k0", "a", 0, 5), ("put", "k1", "b", 1, 3),
                     ("delete", "k1", 1, 4), ("put", "k0", "c", 0, 7),
                     ("put", "k0", "d", 0, 9)]

    def history(self, key_events=None, prefix_events=None):
        h = self.writes()
        self.watch(h, "w1", "k0", {0: 2}, self.KEY_EVENTS if key_events is None else key_events,
                   {0: 9})
        self.watch(h, "w2", "k", {0: 2, 1: 1},
                   self.PREFIX_EVENTS if prefix_events is None else prefix_events,
                   {0: 9, 1: 6}, prefix=True)
        return h

    def test_valid(self):
        run = self.check(self.history())
        self.assertValid(run)
        self.assertEqual(run.summary["checks"]["watch"]["checked"], 8)
        self.assertEqual(run.summary["ops"]["watch"], {"ok": 2, "fail": 0, "info": 0})
        self.assertIn("2 watches, 8 acknowledged writes in their windows", run.out)

    def test_resumed_without_gap_or_duplicate_is_valid(self):
        events = self.PREFIX_EVENTS[:2] + [("resume", {0: 5, 1: 3})] + self.PREFIX_EVENTS[2:]
        self.assertValid(self.check(self.history(prefix_events=events)))

    def test_skipped_event(self):
        run = self.check(self.history(prefix_events=self.PREFIX_EVENTS[:3]
                                      + self.PREFIX_EVENTS[4:]))
        self.assertAnomaly(run, "watch", "acknowledged put of 'k0' at (0, 7) is missing")
        self.assertOnly(run, "watch")
        self.assertEqual(run.anomalies("watch"), 1)

    def test_skipped_after_a_resume(self):
        events = self.PREFIX_EVENTS[:2] + [("resume", {0: 7, 1: 4})] + self.PREFIX_EVENTS[4:]
        run = self.check(self.history(prefix_events=events))
        self.assertAnomaly(run, "watch", "delete of 'k1' at (1, 4) is missing",
                           "put of 'k0' at (0, 7) is missing")

    def test_duplicate_after_a_resume(self):
        events = self.KEY_EVENTS[:2] + [("resume", {0: 5})] + self.KEY_EVENTS[1:]
        run = self.check(self.history(key_events=events))
        self.assertAnomaly(run, "watch", "duplicate event put 'k0' at (0, 7)")
        self.assertEqual(run.anomalies("watch"), 1)

    def test_out_of_order(self):
        events = [self.KEY_EVENTS[1], self.KEY_EVENTS[0], self.KEY_EVENTS[2]]
        run = self.check(self.history(key_events=events))
        self.assertAnomaly(run, "watch", "event at (0, 5) after one at (0, 7): out of order")

    def test_order_is_per_partition(self):
        # k1's events may come between, before or after k0's: partitions
        # have orders of their own.
        events = [self.PREFIX_EVENTS[i] for i in (1, 2, 0, 3, 4)]
        self.assertValid(self.check(self.history(prefix_events=events)))

    def test_wrong_value(self):
        events = [self.KEY_EVENTS[0], ("put", "k0", "d", 0, 7), self.KEY_EVENTS[2]]
        run = self.check(self.history(key_events=events))
        self.assertAnomaly(run, "watch", "with value 'd', but that write put 'c'")

    def test_event_of_a_write_that_failed(self):
        events = self.KEY_EVENTS[:2] + [("put", "k0", "x", 0, 8), self.KEY_EVENTS[2]]
        run = self.check(self.history(key_events=events))
        self.assertAnomaly(run, "watch", "value 'x', of a write that did not happen")

    def test_event_of_a_cas_that_mismatched(self):
        events = self.KEY_EVENTS[:2] + [("put", "k0", "y", 0, 8), self.KEY_EVENTS[2]]
        run = self.check(self.history(key_events=events))
        self.assertAnomaly(run, "watch", "of a write that did not happen", "cas_mismatch")

    def test_event_of_an_info_write_may_appear(self):
        h = self.history(key_events=self.KEY_EVENTS + [("put", "k0", "e", 0, 11)])
        h.put(1, "k0", "e", 30, 31, kind="info")
        self.assertValid(self.check(h))

    def test_event_before_its_start(self):
        h = self.writes()
        self.watch(h, "w1", "k0", {0: 5}, self.KEY_EVENTS, {0: 9})
        run = self.check(h)
        self.assertAnomaly(run, "watch", "at or before its start 5")

    def test_compacted_watch_is_judged_up_to_its_end(self):
        h = self.writes()
        self.watch(h, "w1", "k0", {0: 2}, self.KEY_EVENTS[:1], {0: 6}, end_type="fail",
                   error="COMPACTED")
        run = self.check(h)
        self.assertValid(run)
        self.assertEqual(run.summary["ops"]["watch"], {"ok": 0, "fail": 1, "info": 0})
        h = self.writes()
        self.watch(h, "w1", "k0", {0: 2}, self.KEY_EVENTS[:1], {0: 7}, end_type="fail",
                   error="COMPACTED")
        self.assertAnomaly(self.check(h), "watch", "put of 'k0' at (0, 7) is missing")

    def test_malformed_watch_lines(self):
        lines = self.history().lines()
        bad = [json.dumps({"type": "event", "process": "w9", "op_id": 999, "f": "watch",
                           "time": 1})]
        run = self.check(lines + bad)
        self.assertEqual(run.code, 2, run.out)
        self.assertIn("which has no invoke", run.out)
        bad = json.loads(next(x for x in lines if '"event"' in x and '"w1"' in x))
        del bad["index"]
        bad["op_id"] = next(json.loads(x)["op_id"] for x in lines if '"w1"' in x)
        run = self.check([x for x in lines if '"w1"' not in x or '"ok"' not in x]
                         + [json.dumps(bad)])
        self.assertEqual(run.code, 2, run.out)
        self.assertIn("missing field 'index'", run.out)


class Report(CheckerTest):

    def test_at_most_20_anomalies_printed_all_counted(self):
        h = History()
        h.put(1, "x", "a", 0, 10, version=3)
        h.put(1, "x", "b", 11, 20, version=4)
        for i in range(25):  # 25 reads miss b below their index
            h.get(2 + i, "x", 30 + i, 31 + i, "a", 3, index=9, level="EVENTUAL")
        h.final_reads(100, {"x": ("b", 4, 9, 0)})
        run = self.check(h)
        self.assertEqual(run.anomalies("prefix"), 25)
        self.assertEqual(run.summary["levels"]["EVENTUAL"], {"reads": 28, "anomalies": 25})
        section = run.out.split("== prefix:")[1].split("\n== ")[0]
        self.assertEqual(section.count("ANOMALY"), 20)
        self.assertIn("... and 5 more prefix anomalies", section)

    def test_summary_schema(self):
        run = self.check(base_history())
        s = run.summary
        self.assertEqual(set(s), {"valid", "ops", "levels", "checks", "faults"})
        self.assertEqual(s["ops"]["total"], 10)
        self.assertEqual(s["ops"]["get"], {"ok": 8, "fail": 0, "info": 0})
        self.assertEqual(set(s["levels"]), {"LINEARIZABLE", "SEQUENTIAL", "CAUSAL", "SESSION",
                                            "BOUNDED_STALENESS", "EVENTUAL"})
        self.assertEqual(s["levels"]["EVENTUAL"], {"reads": 6, "anomalies": 0})
        for name in ("linearizable", "prefix", "session", "causal", "bounded", "lost", "final"):
            self.assertTrue({"checked", "anomalies", "unknown"} <= set(s["checks"][name]))
        self.assertEqual(s["checks"]["final"]["checked"], 2)
        self.assertEqual(s["checks"]["lost"]["checked"], 2)
        self.assertEqual(s["faults"], {})
        self.assertIn("consistency level", run.out)


class SearchAgainstExhaustive(unittest.TestCase):
    """The WGL search (with its reductions) against a plain exhaustive
    search on many small random key histories: it must never reject what
    has a linearization in which every info write has one definite index
    (no false positive), and never accept what the model itself rejects."""

    @classmethod
    def setUpClass(cls):
        cls.tc = load_checker_module()

    def random_ops(self, rnd):
        tc = self.tc
        ops, values = [], []
        for i in range(rnd.randint(1, 7)):
            call = rnd.randint(0, 20)
            ret = call + rnd.randint(0, 10)
            version, expected = rnd.randint(1, 8), rnd.randint(0, 6)
            kind = rnd.choice(["put", "delete", "cas", "mismatch", "get", "get", "get",
                               "iput", "idel", "icas", "icas"])
            value = f"v{i}"
            if kind in ("put", "cas", "iput", "icas"):
                values.append(value)
            if kind == "put":
                spec = (tc.K_PUT, value, version, None, None)
            elif kind == "delete":
                spec = (tc.K_DEL, None, version, None, rnd.choice([True, False, None]))
            elif kind == "cas":
                spec = (tc.K_CAS, value, version, expected, None)
            elif kind == "mismatch":
                seen = rnd.choice([None, None, 0, rnd.randint(1, 8)])
                spec = (tc.K_MISMATCH, None, version, expected, seen)
            elif kind == "get":
                spec = None  # filled once all values are known
            else:
                k = {"iput": tc.K_IPUT, "idel": tc.K_IDEL, "icas": tc.K_ICAS}[kind]
                read = kind != "idel" and rnd.random() < 0.4
                spec = (k, value if read else tc.UNSEEN if k != tc.K_IDEL else None, None,
                        expected if k == tc.K_ICAS else None, None)
                ret = call + rnd.randint(0, 15) if read else None
            ops.append([spec, call, ret])
        for op in ops:
            if op[0] is None:
                found = bool(values) and rnd.random() < 0.7
                op[0] = (tc.K_GET, rnd.choice(values) if found else None,
                         rnd.randint(1, 8) if found else 0, None, found)
        return [tc.SearchOp(None, spec, call, ret) for spec, call, ret in ops]

    def exhaustive(self, ops, exact):
        """Tries every order; with exact, an info write that takes effect
        gets each possible definite index in turn."""
        tc = self.tc
        finite = [o for o in ops if o.ret is not None]
        info = (tc.K_IPUT, tc.K_IDEL, tc.K_ICAS)

        def step(state, o, index):
            if index is None:
                return tc.model_step(state, o.spec)
            if o.spec[0] == tc.K_ICAS and not tc.cas_could_succeed(state, o.spec[3]):
                return None
            if o.spec[0] == tc.K_IDEL:
                return (False, None, 0, index)
            return (True, o.spec[1], index, index)

        def search(state, done):
            if all(o in done for o in finite):
                return True
            for o in ops:
                if o in done or any(p not in done and p is not o and p.ret < o.call
                                    for p in finite):
                    continue
                indexes = range(state[3] + 1, 12) if exact and o.spec[0] in info else [None]
                for index in indexes:
                    new = step(state, o, index)
                    if new is not None and search(new, done | {o}):
                        return True
            return False

        return search(self.tc.INITIAL_STATE, frozenset())

    def test_no_false_positive_and_no_laxness(self):
        rnd = random.Random(2024)
        verdicts = {True: 0, False: 0}
        for _ in range(1500):
            ops = self.random_ops(rnd)
            found = self.tc.WglSearch(ops, time.monotonic() + 60).run()
            verdicts[found] += 1
            if not found:
                self.assertFalse(self.exhaustive(ops, exact=True), self.describe(ops))
            else:
                self.assertTrue(self.exhaustive(ops, exact=False), self.describe(ops))
        self.assertGreater(min(verdicts.values()), 300, verdicts)  # both outcomes exercised

    def describe(self, ops):
        return "\n".join(f"{o.spec} [{o.call}, {o.ret}]" for o in sorted(ops, key=lambda o: o.call))


class Malformed(CheckerTest):

    def test_malformed_json(self):
        lines = base_history().lines()
        lines.insert(2, '{"type": "invoke", "process": 1,')
        run = self.check(lines)
        self.assertEqual(run.code, 2)
        self.assertIn("not valid JSON", run.out)
        self.assertEqual(run.summary["valid"], "unknown")

    def test_completion_without_invoke(self):
        run = self.check(['{"type": "ok", "process": 1, "op_id": 9, "f": "put", "key": "x", '
                          '"version": 1, "time": 5}'])
        self.assertEqual(run.code, 2)
        self.assertIn("op_id 9", run.out)

    def test_missing_field(self):
        run = self.check(['{"type": "invoke", "process": 1, "op_id": 9, "f": "put", '
                          '"key": "x", "value": "a"}'])
        self.assertEqual(run.code, 2)
        self.assertIn("missing field 'time'", run.out)

    def test_unreadable_file_and_usage(self):
        proc = subprocess.run([sys.executable, CHECKER, "/nonexistent/history.jsonl"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("cannot read", proc.stdout)
        proc = subprocess.run([sys.executable, CHECKER], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)


class Scale(CheckerTest):

    def test_200k_events(self):
        """A valid history of about 200 000 events, mostly below
        LINEARIZABLE: all checks in a few seconds."""
        sim = Simulation(seed=3, processes=16, keys=200, partitions=8, ops=100000,
                         info_rate=0.005,
                         levels=("SEQUENTIAL", "CAUSAL", "SESSION", "BOUNDED_STALENESS",
                                 "EVENTUAL"))
        lines = sim.lines()
        self.assertGreater(len(lines), 190000)
        start = time.monotonic()
        run = self.check(lines)
        elapsed = time.monotonic() - start
        self.assertValid(run)
        print(f"\n  {len(lines)} events checked in {elapsed:.1f} s", file=sys.stderr)
        self.assertLess(elapsed, 60)


if __name__ == "__main__":
    unittest.main()
