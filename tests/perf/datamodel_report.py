#!/usr/bin/env python3
"""The table of scripts/measure-vs-etcd-datamodel.sh: each tunekv cell beside
the etcd cell it is measured against, with the ratios issue 19 sets targets
for (throughput >= 3x etcd's; latency <= 0.5x at one in flight).

    datamodel_report.py OUT/datamodel.jsonl > OUT/datamodel.md

Which etcd cell a tunekv variant is set against: a SCAN at SEQUENTIAL or
EVENTUAL (a consistent cut, or each partition as its replica has it, no
consensus round) against etcd's serializable Range (the member's own state);
a LINEARIZABLE SCAN against the linearizable Range; TXN against Txn; a watch
against the watch with as many watchers.
"""
import json
import sys

ETCD_OF = {
    "sequential": "serializable",
    "sequential-tagged": "serializable",
    "eventual": "serializable",
    "eventual-tagged": "serializable",
    "linearizable": "linearizable",
    "linearizable-tagged": "linearizable",
    "txn": "txn",
}

LABEL = {
    "serializable": "Range serializable",
    "linearizable": "Range linearizable",
    "sequential": "SCAN SEQUENTIAL, 3 partitions",
    "sequential-tagged": "SCAN SEQUENTIAL, hash tag (1 partition)",
    "eventual": "SCAN EVENTUAL, 3 partitions",
    "eventual-tagged": "SCAN EVENTUAL, hash tag (1 partition)",
    "linearizable-tagged": "SCAN LINEARIZABLE, hash tag (1 partition)",
    "txn": "TXN 2 compares + 2 puts",
}


def label(r):
    v = r["variant"]
    if r["system"] == "tunekv" and v == "linearizable":
        return "SCAN LINEARIZABLE, 3 partitions"
    if r["system"] == "etcd" and v == "txn":
        return "Txn 2 compares + 2 puts"
    return LABEL.get(v, v)


def busy(r):
    """The 1-minute load average and the machine's busy CPU (% of one core)
    just before the cell ('!' when the wait for a quiet machine gave up),
    then the CPU during it of the kernel (its threads and interrupts), and
    of the rest that was neither the servers nor the generator (steal, which
    is not CPU this machine had, left out)."""
    flag = "" if r.get("quiet_before", 1) else " !"
    other = r.get("cpu_pct_other")
    if other is not None:
        kernel = r["kthreads_during_pct"] + r.get("irq_during_pct", 0)
        other = f" / {kernel:.0f}% / {other:.0f}%"
    else:
        other = ""
    return f"{r.get('load1', '')} / {r.get('pre_busy_pct', '')}%{flag}{other}"


def ms(us):
    return f"{us / 1000:.2f}"


def cell_cols(r):
    a = r["all"]
    err = r.get("errors", 0)
    return (f"{r['ops_per_s']:,.0f}".replace(",", " "), ms(a["p50_us"]), ms(a["p99_us"]),
            f"{r.get('server_cpu_us_per_op', 0):.0f}", str(err))


def loop_table(rows):
    etcd = {(r["cell"], r["variant"], r["clients"]): r for r in rows if r["system"] == "etcd"}
    out = ["| cell | in flight | system, request | ops/s | p50 ms | p99 ms | server CPU µs/op "
           "| errors | × etcd ops/s | × etcd p50 | load1 / busy before / kernel / other CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["cell"] == "watch":
            continue
        ratio_t = ratio_l = ""
        if r["system"] == "tunekv":
            e = etcd.get((r["cell"], ETCD_OF.get(r["variant"], ""), r["clients"]))
            if e and e["ops_per_s"] > 0 and e["all"]["p50_us"] > 0:
                ratio_t = f"{r['ops_per_s'] / e['ops_per_s']:.2f}"
                ratio_l = f"{r['all']['p50_us'] / e['all']['p50_us']:.2f}"
        cols = cell_cols(r)
        out.append(f"| {r['cell']} | {r['clients']} | {r['system']}: {label(r)} | "
                   + " | ".join(cols) + f" | {ratio_t} | {ratio_l} | {busy(r)} |")
    return out


def watch_table(rows):
    out = ["| watchers | puts/s asked | system | puts/s done | events/s | events received / expected | "
           "put→event p50 ms | p99 ms | put p50 ms | server CPU µs/event | load1 / busy before / kernel / other CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    seen = []
    for r in rows:
        if r["cell"] != "watch":
            continue
        a = r["all"]
        put_p50 = ms(r["put"]["p50_us"]) if "put" in r else ""
        w = (r.get("watchers", ""), r.get("rate", ""))
        seen.append((w, r["system"]))
        out.append(f"| {w[0]} | {w[1]:g} | {r['system']} | {r.get('puts_per_s', 0):.0f} | "
                   f"{r['ops_per_s']:,.0f} | "
                   f"{r.get('events_received', '')} / {r.get('events_expected', '')} | "
                   f"{ms(a['p50_us'])} | {ms(a['p99_us'])} | {put_p50} | "
                   f"{r.get('server_cpu_us_per_op', 0):.0f} | {busy(r)} |"
                   .replace(",", " "))
    for w in sorted({w for w, s in seen}):
        if (w, "tunekv") not in seen:
            out.append(f"| {w[0]} | {w[1]:g} | tunekv | not measured in this run "
                       "(its place is marked in the driver script) | | | | | | | |")
    return out


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("### SCAN / Range of 100 keys by prefix, and TXN\n")
    print("\n".join(loop_table(rows)))
    print("\n### Watch: put → event\n")
    print("\n".join(watch_table(rows)))


if __name__ == "__main__":
    main()
