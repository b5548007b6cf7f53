"""Capture what crosses loopback TCP ports for a while (AF_PACKET, root):
   sniff.py SECONDS OUT_FILE PORT...
writes the TCP payload bytes seen to or from any PORT into OUT_FILE.
Exits 77 if raw sockets are not allowed here."""
import socket
import struct
import sys
import time

seconds, out, ports = float(sys.argv[1]), sys.argv[2], {int(p) for p in sys.argv[3:]}
try:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.bind(("lo", 0))
except (PermissionError, OSError) as e:
    print(f"sniff: {e}", file=sys.stderr)
    sys.exit(77)
s.settimeout(0.2)
seen = bytearray()
end = time.monotonic() + seconds
with open(out + ".ready", "w"):
    pass
while time.monotonic() < end:
    try:
        frame = s.recv(65535)
    except socket.timeout:
        continue
    if len(frame) < 14 + 20 or struct.unpack("!H", frame[12:14])[0] != 0x0800:
        continue
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6:
        continue
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    sport, dport = struct.unpack("!HH", tcp[:4])
    if sport in ports or dport in ports:
        seen += tcp[(tcp[12] >> 4) * 4:]
with open(out, "wb") as f:
    f.write(seen)
