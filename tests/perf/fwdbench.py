#!/usr/bin/env python3
"""Closed-loop load through one node that must forward it: PUTs or GETs with
no_forward = false, sent to a node that does not lead the keys' partition,
which forwards each to the leader and relays the answer. A measuring tool
(docs/performance.md, "Forwarded large values"), not a test.

tunekv-bench cannot do this: libtunekv learns the partition map and sends
every request to its leader itself (with no_forward = true), whatever
endpoint it is given. So this tool speaks the wire protocol directly
(proto/tunekv.proto, encoded by hand: no protobuf package needed) on one
connection with --inflight requests outstanding.

  fwdbench.py --endpoint 127.0.0.1:7002 --op put --value-size 65536 -c 16 -d 5
  fwdbench.py --endpoint 127.0.0.1:7002 --op get --value-size 65536 -c 16 -d 5 --preload

Prints ops/s, p50, p99 and max latency (ms) and the count of answers whose
status is not OK (a GET of a key never written is NOT_FOUND: use --preload).
"""
import argparse
import os
import selectors
import socket
import struct
import sys
import time


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(number, v):
    return varint(number << 3) + varint(v)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def request(req_id, op, key, value, timeout_ms):
    """A framed Request: id 1, timeout_ms 2, get 16 {key 1} or put 17 {key 1, value 2}."""
    if op == "put":
        body = field_bytes(17, field_bytes(1, key) + field_bytes(2, value))
    else:
        body = field_bytes(16, field_bytes(1, key))
    msg = field_varint(1, req_id) + field_varint(2, timeout_ms) + body
    return struct.pack(">I", len(msg)) + msg


def read_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def response_id_status(msg):
    """Top-level id (1) and status (2) of a Response; the last occurrence wins."""
    i, rid, status = 0, 0, 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(msg, i)
            if number == 1:
                rid = v
            elif number == 2:
                status = v
        elif wire == 2:
            n, i = read_varint(msg, i)
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError("bad wire type %d" % wire)
    return rid, status


class Loop:
    def __init__(self, args):
        host, port = args.endpoint.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.args = args
        self.out = bytearray()
        self.inbuf = bytearray()
        self.sent = {}  # id -> send time (ns)
        self.next_id = 1
        self.next_key = 0

    def send(self, op, value):
        key = b"fwd-%06d" % (self.next_key % self.args.keys)
        self.next_key += 1
        rid = self.next_id
        self.next_id += 1
        self.out += request(rid, op, key, value, self.args.timeout_ms)
        self.sent[rid] = time.perf_counter_ns()

    def pump(self, on_answer):
        """Write what is queued, read what arrived; on_answer(latency_ns, status)."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        self.sel.modify(self.sock, events)
        for _, mask in self.sel.select(timeout=1.0):
            if mask & selectors.EVENT_WRITE and self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
            if mask & selectors.EVENT_READ:
                data = self.sock.recv(4 << 20)
                if not data:
                    sys.exit("fwdbench: connection closed by the node")
                self.inbuf += data
        now = time.perf_counter_ns()
        while len(self.inbuf) >= 4:
            (n,) = struct.unpack_from(">I", self.inbuf)
            if len(self.inbuf) < 4 + n:
                break
            rid, status = response_id_status(bytes(self.inbuf[4 : 4 + n]))
            del self.inbuf[: 4 + n]
            t0 = self.sent.pop(rid, None)
            if t0 is None:
                sys.exit("fwdbench: answer with unknown id %d" % rid)
            on_answer(now - t0, status)

    def run(self, op, value, seconds=None, count=None):
        """Keep --inflight requests outstanding for seconds, or until count answers."""
        lat, errors = [], 0
        done = 0

        def on_answer(ns, status):
            nonlocal errors, done
            lat.append(ns)
            done += 1
            if status != 0:
                errors += 1

        start = time.perf_counter()
        issued = 0
        while True:
            elapsed = time.perf_counter() - start
            stop = (seconds is not None and elapsed >= seconds) or (
                count is not None and issued >= count)
            while not stop and len(self.sent) < self.args.inflight:
                self.send(op, value)
                issued += 1
                stop = count is not None and issued >= count
            if stop and not self.sent:
                break
            if seconds is not None and elapsed >= seconds + 30:
                sys.exit("fwdbench: answers missing 30 s after the end")
            self.pump(on_answer)
        return lat, errors, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="host:port of the forwarding node")
    ap.add_argument("--op", choices=("put", "get"), required=True)
    ap.add_argument("--value-size", type=int, default=65536)
    ap.add_argument("-c", "--inflight", type=int, default=16)
    ap.add_argument("-d", "--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--keys", type=int, default=64)
    ap.add_argument("--preload", action="store_true", help="put every key once first")
    ap.add_argument("--timeout-ms", type=int, default=5000)
    args = ap.parse_args()

    value = os.urandom(args.value_size)  # incompressible, like a media blob
    loop = Loop(args)
    if args.preload:
        lat, errors, _ = loop.run("put", value, count=args.keys)
        if errors:
            sys.exit("fwdbench: preload: %d errors" % errors)
    loop.run(args.op, value, seconds=args.warmup)
    lat, errors, took = loop.run(args.op, value, seconds=args.duration)
    lat.sort()
    n = len(lat)
    print("op=%s value=%dB inflight=%d ops=%d ops/s=%.1f p50=%.2fms p99=%.2fms max=%.2fms "
          "errors=%d" % (args.op, args.value_size, args.inflight, n, n / took,
                         lat[n // 2] / 1e6, lat[min(n - 1, n * 99 // 100)] / 1e6,
                         lat[-1] / 1e6, errors))


if __name__ == "__main__":
    main()
