#!/usr/bin/env python3
"""chart.py: draw the latencies of a tunekv verification run as a PNG.

    tests/verify/chart.py HISTORY.jsonl OUT.png [--title TEXT]
                          [--max-per-second N] [--no-throughput] [--no-final]
                          [--cas-mismatch-fail] [--size WxH] [--keep DIR]

HISTORY.jsonl is a client history (../shared/HISTORY-FORMAT.md), as written
by build/tests/tkv-verify. The chart has two panels sharing the time axis
(seconds since the first event of the history):

  latency     one point per operation at the time it was invoked, its
              latency (invoke -> completion, in ms) on a log scale; one
              colour per read consistency level and one ("write") for
              put/cas/delete. Failed operations are drawn as crosses and
              operations with an unknown outcome (info, or no completion at
              all) as triangles, in the colour of their series. An
              operation that never completed is drawn with the latency it
              had reached when the history ends: a lower bound.
  throughput  operations that completed successfully, per series and per
              second, and the failed/unknown ones together (grey).

Fault windows from the nemesis annotations are shaded in both panels, one
light colour per kind, and labelled above the latency panel: kill ->
restart and pause -> resume of the same node, partition -> heal,
delay -> undelay. "heal all" (the end of the faults) closes every window
still open; a window never closed runs to the end of the history. Reads of
the final phase (completions marked "final": true) come after a dashed line
"final reads", or are left out with --no-final.

A cas whose comparison failed (type fail, error "cas_mismatch") is a
normal, definite answer, not an error: it is drawn as a successful write
unless --cas-mismatch-fail is given.

Large histories: successful operations are sampled to at most
--max-per-second (default 100) points per series per second (the slowest of
each second is always kept); every failed or unknown operation is drawn.
One million events take about 7 s (Python + gnuplot).

Needs gnuplot (Debian: apt-get install gnuplot-nox). Exit status: 0 chart
written; 1 the history cannot be read or gnuplot failed; 2 usage error or
gnuplot missing.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

LEVELS = ("LINEARIZABLE", "SEQUENTIAL", "CAUSAL", "SESSION", "BOUNDED_STALENESS", "EVENTUAL")
WRITE_FS = ("put", "cas", "delete")
WRITE = "write"

# Okabe-Ito colours: distinguishable with the common colour-vision
# deficiencies, and dark enough to read over the light fault shades.
SERIES_COLOURS = {
    "LINEARIZABLE": "#D55E00",
    "SEQUENTIAL": "#E69F00",
    "CAUSAL": "#009E73",
    "SESSION": "#56B4E9",
    "BOUNDED_STALENESS": "#CC79A7",
    "EVENTUAL": "#0072B2",
    WRITE: "#000000",
}
EXTRA_COLOURS = ("#8C564B", "#7F7F7F", "#BCBD22", "#17BECF")  # unknown levels
FAIL_GREY = "#808080"

# Fault kinds: the event that opens a window, the one that closes it, and
# the shade. The shades are light so that points stay readable on them.
FAULTS = (
    ("kill", "restart", "#F28E8E", "kill -> restart"),
    ("pause", "resume", "#F5C542", "pause -> resume"),
    ("partition", "heal", "#7DB4E8", "partition -> heal"),
    ("delay", "undelay", "#8ED08E", "delay -> undelay"),
)
FAULT_SHADE = {start: colour for start, _, colour, _ in FAULTS}
FAULT_TITLE = {start: title for start, _, _, title in FAULTS}
FAULT_CLOSER = {end: start for start, end, _, _ in FAULTS}
SHADE_ALPHA = 0.30

NS = 1e9
NODE_RE = re.compile(r"^(n\d+)\b")


class HistoryError(Exception):
    """The history cannot be read."""


def die(msg, status=1):
    print(f"chart.py: {msg}", file=sys.stderr)
    sys.exit(status)


# ---------------------------------------------------------------------------
# Reading the history


class Op:
    """One client operation: its invoke and (maybe) its completion."""

    __slots__ = ("series", "t_inv", "t_done", "outcome", "final")

    def __init__(self, series, t_inv):
        self.series = series
        self.t_inv = t_inv
        self.t_done = None  # None: no completion in the history
        self.outcome = "info"  # as the format says of a missing completion
        self.final = False


def series_of(e):
    f = e.get("f")
    if f == "get":
        return str(e.get("consistency") or "get")
    if f in WRITE_FS:
        return WRITE
    return None


def read_history(path, cas_mismatch_fail):
    """Return (ops, nemesis events, first time, last time), times in ns."""
    ops = {}
    nemesis = []
    t_first = t_last = None
    loads = json.loads
    try:
        f = open(path, "rb")
    except OSError as err:
        raise HistoryError(f"cannot open {path}: {err.strerror}")
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                e = loads(line)
                t = e["time"]
                kind = e["type"]
            except (ValueError, KeyError, TypeError) as err:
                raise HistoryError(f"{path}:{lineno}: not a history event ({err})")
            if not isinstance(t, (int, float)):
                raise HistoryError(f"{path}:{lineno}: time is not a number")
            # Threads append concurrently: lines are only roughly in order.
            if t_first is None or t < t_first:
                t_first = t
            if t_last is None or t > t_last:
                t_last = t
            if e.get("process") == "nemesis":
                nemesis.append((t, str(e.get("f", "")), str(e.get("value", ""))))
                continue
            op_id = e.get("op_id")
            if op_id is None:
                continue
            if kind == "invoke":
                s = series_of(e)
                if s is not None:
                    op = Op(s, t)
                    op.final = e.get("final") is True
                    ops[op_id] = op
                continue
            op = ops.get(op_id)
            if op is None or op.t_done is not None:
                continue  # completion of an unknown or already completed op
            op.t_done = t
            if kind == "ok":
                op.outcome = "ok"
            elif kind == "fail":
                mismatch = e.get("error") == "cas_mismatch"
                op.outcome = "fail" if cas_mismatch_fail or not mismatch else "ok"
            else:
                op.outcome = "info"
            if e.get("final") is True:
                op.final = True
    if t_first is None:
        raise HistoryError(f"{path}: no events")
    nemesis.sort(key=lambda n: n[0])
    return list(ops.values()), nemesis, t_first, t_last


# ---------------------------------------------------------------------------
# Fault windows


def short_label(f, value):
    """'pause' + 'n2 (isolating n1, leader of partition 3)' -> 'pause n2 (isolating n1)'."""
    value = re.sub(r"leader of partition (\d+)", r"leader p\1", value)
    value = re.sub(r"\(isolating (n\d+), leader p\d+\)", r"(isolating \1)", value)
    value = re.sub(r"\s*\|\s*", "|", value)
    value = re.sub(r"(n\d+) hears nothing from (n\d+) \(one-way\)", r"\1 deaf to \2, 1-way", value)
    value = value.replace(" hears nothing from ", " deaf to ")
    text = f"{f} {value}".strip()
    return text if len(text) <= 32 else text[:30] + ".."


def fault_windows(nemesis, t_first, t_last):
    """Pair the nemesis annotations into [kind, start, end, label] (seconds)."""
    opened = []  # [kind, node or None, t_start, value]
    windows = []

    def close(match, t):
        for w in [w for w in opened if match(w)]:
            opened.remove(w)
            windows.append((w[0], w[2], t, w[3]))

    for t, f, value in nemesis:
        node_m = NODE_RE.match(value)
        node = node_m.group(1) if node_m else None
        if f in FAULT_SHADE:
            opened.append([f, node, t, value])
        elif f == "heal" and value.strip() == "all":
            # The harness heals everything (resume, restart, flush rules) at
            # the end of the faults: nothing can still be in effect.
            close(lambda w: True, t)
        elif f in FAULT_CLOSER:
            kind = FAULT_CLOSER[f]
            same = [w for w in opened if w[0] == kind]
            if kind in ("kill", "pause"):
                # The same node, the oldest first; a resume of a node never
                # paused (annotation lost) closes nothing.
                same = [w for w in same if w[1] == node][:1]
            elif kind == "delay":
                exact = [w for w in same if w[3] == value]
                by_node = [w for w in same if node is not None and w[1] == node]
                same = exact[:1] or by_node[:1] or same  # else: undelay all
            # partition: a heal flushes every rule, closing every partition.
            close(lambda w, same=same: any(w is s for s in same), t)
    for w in opened:  # never closed: in effect until the end of the run
        windows.append((w[0], w[2], t_last, w[3]))

    # Windows of one kind opened together (isolate pauses every node but
    # one at once) get one shade and one label: "pause n2,n3 (...)".
    windows.sort(key=lambda w: w[1])
    groups = []
    for kind, start, end, value in windows:
        g = groups[-1] if groups else None
        if g and g["kind"] == kind and start - g["start"] < 0.05 * NS:
            g["end"] = max(g["end"], end)
            g["values"].append(value)
            continue
        groups.append({"kind": kind, "start": start, "end": end, "values": [value]})
    out = []
    for g in groups:
        nodes = []
        rest = None
        for v in g["values"]:
            m = NODE_RE.match(v)
            if m and g["kind"] in ("kill", "pause"):
                nodes.append(m.group(1))
                rest = v[m.end():]
        if len(nodes) == len(g["values"]) and len(nodes) > 1:
            label = short_label(g["kind"], ",".join(nodes) + (rest or ""))
        else:
            label = short_label(g["kind"], g["values"][0])
        out.append((g["kind"], (g["start"] - t_first) / NS, (g["end"] - t_first) / NS, label))
    return out


def label_lanes(windows, x_span, plot_px, char_px, max_lanes):
    """Give each label a lane (row) so that no two labels overlap."""
    per_char = x_span / plot_px * char_px if plot_px > 0 else 0
    lane_end = []  # x where each lane is free again
    lanes = []
    for kind, start, end, label in windows:
        width = (len(label) + 1) * per_char
        for i, free_at in enumerate(lane_end):
            if start >= free_at:
                lane_end[i] = start + width
                lanes.append(i)
                break
        else:
            if len(lane_end) < max_lanes:
                lane_end.append(start + width)
                lanes.append(len(lane_end) - 1)
            else:
                lanes.append(None)  # no room: shaded, not labelled
    return lanes, len(lane_end)


# ---------------------------------------------------------------------------
# Gnuplot


def gp_str(s):
    """A gnuplot double-quoted string literal."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def gp_path(p):
    return "'" + p.replace("'", "''") + "'"  # single quotes: no escapes inside


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(math.ceil(q * len(sorted_values))) - 1))
    return sorted_values[i]


def fmt_ms(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def series_order(ops):
    present = {op.series for op in ops}
    order = [s for s in LEVELS if s in present]
    order += sorted(s for s in present if s not in LEVELS and s != WRITE)
    if WRITE in present:
        order.append(WRITE)
    return order


def build(args, ops, nemesis, t_first, t_last, workdir):
    """Write the data files and the gnuplot script; return the script path."""
    width, height = args.size
    t_end = (t_last - t_first) / NS
    x_max = max(t_end * 1.02, 1.0)  # room for the final reads at the end
    order = series_order(ops)
    colour = {}
    extra = iter(EXTRA_COLOURS * 10)
    for s in order:
        colour[s] = SERIES_COLOURS.get(s) or next(extra)

    final_start = None
    if args.no_final:
        ops = [op for op in ops if not op.final]
    else:
        finals = [op.t_inv for op in ops if op.final]
        if finals:
            final_start = (min(finals) - t_first) / NS

    # Latency points. Per series and per second of invoke time, keep every
    # failure and at most N successes, the slowest always among them: the
    # tail is what a fault shows.
    rng = random.Random(1)
    ok_buckets = {s: {} for s in order}
    bad = []  # (x, ms, outcome, series)
    lat_sorted = {s: [] for s in order}
    counts = {s: {"ok": 0, "fail": 0, "info": 0} for s in order}
    for op in ops:
        done = op.t_done if op.t_done is not None else t_last
        ms = max((done - op.t_inv) / 1e6, 1e-3)  # log scale: no zero
        x = (op.t_inv - t_first) / NS
        counts[op.series][op.outcome] += 1
        if op.outcome == "ok":
            lat_sorted[op.series].append(ms)
            ok_buckets[op.series].setdefault(int(x), []).append((x, ms))
        else:
            bad.append((x, ms, op.outcome, op.series))
    sampled = False
    y_lo, y_hi = math.inf, 0.0
    for s in order:
        points = []
        for bucket in ok_buckets[s].values():
            if len(bucket) > args.max_per_second:
                sampled = True
                slowest = max(bucket, key=lambda p: p[1])
                rest = [p for p in bucket if p is not slowest]
                bucket = [slowest] + rng.sample(rest, args.max_per_second - 1)
            points.extend(bucket)
        points.sort()
        with open(os.path.join(workdir, f"ok{order.index(s)}.dat"), "w") as f:
            f.write("".join(f"{x:.4f} {ms:.4f}\n" for x, ms in points))
        for _, ms in points:
            y_lo, y_hi = min(y_lo, ms), max(y_hi, ms)
        lat_sorted[s].sort()
    for outcome in ("fail", "info"):
        with open(os.path.join(workdir, f"{outcome}.dat"), "w") as f:
            for x, ms, o, s in bad:
                if o == outcome:
                    f.write(f"{x:.4f} {ms:.4f} {int(colour[s][1:], 16)}\n")
                    y_lo, y_hi = min(y_lo, ms), max(y_hi, ms)
    if y_hi == 0.0:
        y_lo, y_hi = 0.1, 10.0
    y_lo = 10 ** math.floor(math.log10(y_lo))
    y_hi = 10 ** math.ceil(math.log10(y_hi * 1.05))
    if y_hi <= y_lo:
        y_hi = y_lo * 10

    # Throughput: completions per second of completion time.
    n_buckets = int(math.floor(t_end)) + 1
    tput = {s: [0] * n_buckets for s in order}
    tput_bad = [0] * n_buckets
    for op in ops:
        if op.t_done is None:
            continue
        b = min(int((op.t_done - t_first) / NS), n_buckets - 1)
        if op.outcome == "ok":
            tput[op.series][b] += 1
        else:
            tput_bad[b] += 1
    with open(os.path.join(workdir, "tput.dat"), "w") as f:
        for b in range(n_buckets):
            f.write(f"{b + 0.5} " + " ".join(str(tput[s][b]) for s in order) + f" {tput_bad[b]}\n")

    # Layout, in screen fractions: the legend gets the right-hand side,
    # where it cannot cover data.
    left, right = 0.07, 0.77
    plot_px = (right - left) * width
    char_px = 6.2  # an 8 pt label in pngcairo, a little generously
    windows = fault_windows(nemesis, t_first, t_last)
    lanes, n_lanes = label_lanes(windows, x_max, plot_px, char_px, max_lanes=4)
    line_h = 13.0 / height  # one label row, as a screen fraction
    top_panel_top = 1.0 - 0.05  # under the title
    labels_h = n_lanes * line_h + (0.01 if n_lanes else 0)
    lat_top = top_panel_top - labels_h
    if args.no_throughput:
        lat_bottom, tp_top, tp_bottom = 0.09, None, None
    else:
        tp_bottom = 0.09
        tp_top = 0.30
        lat_bottom = tp_top + 0.035

    g = []
    w = g.append
    # libgd's png needs truecolor for the transparent shades.
    term = "pngcairo" if args.terminal == "pngcairo" else "png truecolor"
    w(f"set terminal {term} size {width},{height} noenhanced font 'Sans,9'")
    w(f"set output {gp_path(args.out)}")
    w("set encoding utf8")
    w("set multiplot")
    w(f"set label 900 {gp_str(title_text(args, ops, counts))} at screen 0.5, screen 0.985 center "
      "front font 'Sans,11'")
    w(f"set xrange [0:{x_max:.3f}]")
    w("set grid xtics ytics lc rgb '#DDDDDD' lw 1 dt 1")
    w("set border 3 lc rgb '#444444'")
    w("set tics nomirror out scale 0.6")
    w(f"set lmargin at screen {left}")
    w(f"set rmargin at screen {right}")

    # Fault shades, drawn behind the data of each panel (objects in graph
    # y coordinates span any y range, so both panels share them).
    for i, (kind, start, end, label) in enumerate(windows):
        end = max(end, start + x_max / plot_px)  # at least a pixel wide
        w(f"set object {i + 1} rect from first {start:.4f}, graph 0 to first {end:.4f}, graph 1 "
          f"behind fc rgb '{FAULT_SHADE[kind]}' fs transparent solid {SHADE_ALPHA} noborder")
    if final_start is not None:
        w(f"set arrow 1 from first {final_start:.4f}, graph 0 to first {final_start:.4f}, graph 1 "
          "nohead dt 2 lw 1.5 lc rgb '#333333' front")

    # Panel 1: latency.
    w(f"set tmargin at screen {lat_top:.4f}")
    w(f"set bmargin at screen {lat_bottom:.4f}")
    w("set logscale y 10")
    w(f"set yrange [{y_lo:g}:{y_hi:g}]")
    w("set format y '%g'")
    w("set ylabel 'latency (ms, log scale)'")
    if args.no_throughput:
        w("set xlabel 'seconds since the first event'")
    else:
        w("set format x ''")
        w("unset xlabel")
    for i, (kind, start, end, label) in enumerate(windows):
        if lanes[i] is None:
            continue
        y = lat_top + 0.006 + (lanes[i] + 0.5) * line_h
        w(f"set label {i + 1} {gp_str(label)} at first {start:.4f}, screen {y:.4f} "
          "left offset 0.2,0 font 'Sans,8' tc rgb '#333333'")
    if final_start is not None:
        w(f"set label 899 'final reads' at first {final_start:.4f}, graph 0.97 "
          "right offset -0.4,0 font 'Sans,8' tc rgb '#333333' front")
    w(f"set key at screen {right + 0.015:.4f}, screen {lat_top:.4f} left top Left reverse "
      "samplen 1.5 spacing 1.1 font 'Sans,8' box lc rgb '#BBBBBB' width 1")

    plots = []
    keys = []
    for s in order:
        c = counts[s]
        n = c["ok"] + c["fail"] + c["info"]
        p = lat_sorted[s]
        title = f"{s} {n}"
        if p:
            title += f", p99 {fmt_ms(percentile(p, 0.99))} ms"
        plots.append(f"{gp_path(os.path.join(workdir, f'ok{order.index(s)}.dat'))} using 1:2 "
                     f"with points pt 7 ps 0.35 lc rgb '{colour[s]}' notitle")
        # The key gets a bigger mark than the data's, to show the colour.
        keys.append(f"NaN with points pt 7 ps 1 lc rgb '{colour[s]}' title {gp_str(title)}")
    n_fail = sum(c["fail"] for c in counts.values())
    n_info = sum(c["info"] for c in counts.values())
    if n_fail:
        plots.append(f"{gp_path(os.path.join(workdir, 'fail.dat'))} using 1:2:3 with points "
                     "pt 2 ps 0.9 lw 1.5 lc rgb variable notitle")
    if n_info:
        plots.append(f"{gp_path(os.path.join(workdir, 'info.dat'))} using 1:2:3 with points "
                     "pt 8 ps 0.9 lw 1.3 lc rgb variable notitle")
    # Legend-only entries (NaN plots draw nothing).
    plots += keys
    plots.append("NaN with points pt 2 ps 0.9 lw 1.5 lc rgb '#333333' "
                 f"title {gp_str(f'fail (in series colour) {n_fail}')}")
    plots.append("NaN with points pt 8 ps 0.9 lw 1.3 lc rgb '#333333' "
                 f"title {gp_str(f'info / no reply {n_info}')}")
    kinds_seen = [k for k, _, _, _ in FAULTS if any(wd[0] == k for wd in windows)]
    for k in kinds_seen:
        plots.append(f"NaN with boxes fs transparent solid {SHADE_ALPHA * 1.6:.2f} noborder "
                     f"fc rgb '{FAULT_SHADE[k]}' title {gp_str(FAULT_TITLE[k])}")
    if final_start is not None:
        plots.append(f"NaN with lines dt 2 lw 1.5 lc rgb '#333333' title 'final reads'")
    # Notes go under the legend as text: as key entries they would draw a
    # sample mark.
    notes = []
    if sampled:
        notes += [f"ok points: at most {args.max_per_second}/s per series",
                  "(slowest kept); every fail/info"]
    if any(lane is None for lane in lanes):
        notes.append("some fault labels left out")
    for i, note in enumerate(reversed(notes)):
        w(f"set label {890 + i} {gp_str(note)} at screen {right + 0.015:.4f}, "
          f"screen {lat_bottom + 0.005 + i * line_h:.4f} left font 'Sans,8' tc rgb '#555555'")
    w("plot " + ", \\\n     ".join(plots))

    # Panel 2: throughput.
    if not args.no_throughput:
        for i, _ in enumerate(windows):
            if lanes[i] is not None:
                w(f"unset label {i + 1}")
        w("unset label 899")
        for i in range(3):
            w(f"unset label {890 + i}")
        w("unset label 900")
        w(f"set tmargin at screen {tp_top:.4f}")
        w(f"set bmargin at screen {tp_bottom:.4f}")
        w("unset logscale y")
        w("set yrange [0:*]")
        w("set format x '%g'")
        w("set format y '%g'")
        w("set xlabel 'seconds since the first event'")
        w("set ylabel 'completed ops/s'")
        w("set ytics autofreq")
        w("unset key")
        tp = os.path.join(workdir, "tput.dat")
        plots = []
        for i, s in enumerate(order):
            plots.append(f"{gp_path(tp)} using 1:{i + 2} with lines lw 1.4 lc rgb '{colour[s]}'")
        plots.append(f"{gp_path(tp)} using 1:{len(order) + 2} with lines lw 1.4 dt 3 "
                     f"lc rgb '{FAIL_GREY}'")
        w("set label 901 'ok per series; grey dotted: fail + info' at screen "
          f"{right + 0.015:.4f}, screen {tp_top:.4f} left offset 0,-0.6 font 'Sans,8' "
          "tc rgb '#333333'")
        w("plot " + ", \\\n     ".join(plots))
    w("unset multiplot")
    w("set output")
    script = os.path.join(workdir, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(g) + "\n")
    return script


def title_text(args, ops, counts):
    if args.title is not None:
        head = args.title
    else:
        head = f"tunekv verification: {os.path.basename(os.path.dirname(os.path.abspath(args.history))) or args.history}"
    n = len(ops)
    fails = sum(c["fail"] for c in counts.values())
    infos = sum(c["info"] for c in counts.values())
    return f"{head}  ({n} operations, {fails} failed, {infos} unknown)"


# ---------------------------------------------------------------------------


def parse_size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or int(m.group(1)) < 400 or int(m.group(2)) < 300:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT, at least 400x300")
    return int(m.group(1)), int(m.group(2))


def main():
    ap = argparse.ArgumentParser(
        description="Draw the latencies of a tunekv verification history (JSON lines) as a PNG.")
    ap.add_argument("history", help="the history, e.g. DIR/history.jsonl from tkv-verify")
    ap.add_argument("out", help="the PNG to write")
    ap.add_argument("--title", help="chart title (default: the history's directory name)")
    ap.add_argument("--max-per-second", type=int, default=100, metavar="N",
                    help="successful points drawn per series per second (default 100)")
    ap.add_argument("--no-throughput", action="store_true", help="leave out the throughput panel")
    ap.add_argument("--no-final", action="store_true", help="leave out the final-phase reads")
    ap.add_argument("--cas-mismatch-fail", action="store_true",
                    help="draw cas comparisons that failed as failures")
    ap.add_argument("--size", type=parse_size, default=(1280, 720), metavar="WxH",
                    help="image size in pixels (default 1280x720)")
    ap.add_argument("--keep", metavar="DIR", help="keep the data files and gnuplot script in DIR")
    args = ap.parse_args()
    if args.max_per_second < 2:
        ap.error("--max-per-second must be at least 2")

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        ap.error(f"no directory {out_dir} for {args.out}")

    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        die("gnuplot not found in PATH; install it (Debian: apt-get install gnuplot-nox)", 2)
    # gnuplot-nox has the cairo terminal; a build without it still has libgd's.
    probe = subprocess.run([gnuplot, "-e", "set terminal pngcairo"], capture_output=True, text=True)
    args.terminal = "pngcairo" if probe.returncode == 0 and not probe.stderr.strip() else "png"

    try:
        ops, nemesis, t_first, t_last = read_history(args.history, args.cas_mismatch_fail)
    except HistoryError as err:
        die(str(err))
    if not ops:
        die(f"{args.history}: no client operations")

    def run(workdir):
        script = build(args, ops, nemesis, t_first, t_last, workdir)
        r = subprocess.run([gnuplot, script], capture_output=True, text=True)
        # gnuplot warns on stderr about plots with nothing to draw (the
        # legend-only entries); only its exit status means failure.
        if r.returncode != 0:
            hint = "" if args.keep else " (--keep DIR keeps the script)"
            die(f"gnuplot failed{hint}:\n{r.stderr.strip()}")

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        run(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="tkv-chart.") as d:
            run(d)
    print(f"chart.py: wrote {args.out}")


if __name__ == "__main__":
    main()
