#!/usr/bin/env python3
"""Sample values for the compression measurement: JSON user profiles of
0.9-3 KiB, repeated field names, varied content, seeded so every run writes
the same bytes. Usage: documents.py N > FILE (one document per line)."""
import json
import random
import sys

r = random.Random(7)
words = ("alpha beta gamma delta stream partition replica leader follower commit "
         "snapshot latency quorum session token bound staleness write read cluster "
         "node key value index version apply raft log segment").split()
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2000):
    doc = {
        "id": i,
        "user": f"user-{r.randrange(10**6):06d}",
        "email": f"user{r.randrange(10**6)}@example.com",
        "created_at": f"2026-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}T"
                      f"{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "tags": r.sample(words, 6),
        "preferences": {"theme": r.choice(["dark", "light"]),
                        "lang": r.choice(["en", "fr", "de", "ja"]),
                        "notifications": {"email": r.random() < .5, "push": r.random() < .5}},
        "history": [{"at": r.randrange(10**9),
                     "event": r.choice(["login", "logout", "purchase", "view"]),
                     "amount": round(r.random() * 100, 2)} for _ in range(r.randrange(8, 30))],
        "bio": " ".join(r.choice(words) for _ in range(r.randrange(40, 120))),
    }
    print(json.dumps(doc, separators=(",", ":")))
