"""When a keyed request is tried again, and what it finally reports.

The same policy as libtunekv's src/client/retry.c (its header has the table),
as pure code: the caller tells it how each attempt ended and the time, and
it says what to do next. In short: final answers are delivered; NOT_LEADER
with a hint is resent at once; NOT_LEADER without one, UNAVAILABLE,
NO_QUORUM, BUSY and TIMEOUT, a refused connection or a lost one back off
(20 ms doubling to 100 ms) until the deadline; OUTCOME_UNKNOWN for a write
is resent with the same (client_id, seq) and retry=True, at most twice. A
write that may have been applied is reported as its answer or
OUTCOME_UNKNOWN, never as anything else.
"""

from __future__ import annotations

import enum
from typing import Tuple

from .types import Status

BACKOFF_FIRST = 0.020
BACKOFF_MAX = 0.100
HOPS_MAX = 3
UNKNOWN_MAX = 2
LAST = 0.010  # the last attempt gets at least this long

_TRANSIENT = frozenset(
    (Status.NOT_LEADER, Status.UNAVAILABLE, Status.NO_QUORUM, Status.BUSY, Status.TIMEOUT)
)


class End(enum.Enum):
    ANSWER = 1  # the server answered with a status
    UNSENT = 2  # the link broke before the attempt was written
    LOST = 3  # the link broke after it was written
    REFUSED = 4  # no connection to its node could be made
    NO_ROUTE = 5  # not sent: no partition map


class Action(enum.Enum):
    DELIVER = 1
    NOW = 2
    LATER = 3
    GIVE_UP = 4


def wants_refresh(end: End, status: int, has_hint: bool) -> bool:
    """Whether the partition map should be fetched again."""
    if end is End.ANSWER:
        return (status == Status.NOT_LEADER and not has_hint) or status in (
            Status.UNAVAILABLE,
            Status.NO_QUORUM,
            Status.BUSY,
        )
    return end in (End.LOST, End.REFUSED)


class Retry:
    """The retry state of one keyed request (times in seconds, monotonic)."""

    def __init__(self, write: bool, deadline: float):
        self.write = write
        self.deadline = deadline
        self.backoff = 0.0
        self.hops = 0
        self.unknowns = 0
        self.attempts = 0
        self.maybe_applied = False  # WriteOptions.retry of the next attempt
        self.elsewhere = False  # reads: an untried replica can take the next attempt now
        self.status: int = Status.OK  # the last failure
        self.message = ""

    def _local_failure(self, status: int) -> None:
        # A failure the client saw itself does not hide what a server said.
        if self.status in (Status.OK, Status.CONNECT_FAILED, Status.CONNECTION_CLOSED):
            self.status = status

    def _later(self, now: float) -> Tuple[Action, float]:
        self.hops = 0
        self.backoff = BACKOFF_FIRST if self.backoff == 0 else min(self.backoff * 2, BACKOFF_MAX)
        at = min(now + self.backoff, self.deadline - LAST)
        if at <= now:
            return Action.GIVE_UP, 0.0
        return Action.LATER, at

    def _now(self, now: float) -> Tuple[Action, float]:
        if now >= self.deadline:
            return Action.GIVE_UP, 0.0
        if self.hops >= HOPS_MAX:
            return self._later(now)
        self.hops += 1
        return Action.NOW, now

    def next(self, end: End, status: int, has_hint: bool, now: float) -> Tuple[Action, float]:
        """Record how an attempt ended; returns the action and, for LATER,
        when."""
        if end is End.ANSWER:
            if status == Status.OUTCOME_UNKNOWN and self.write:
                self.maybe_applied = True
                self.status = status
                self.unknowns += 1
                if self.unknowns >= UNKNOWN_MAX:
                    return Action.GIVE_UP, 0.0
                return self._later(now)
            if status not in _TRANSIENT:
                return Action.DELIVER, 0.0
            self.status = status
            if (status == Status.NOT_LEADER and has_hint) or (not self.write and self.elsewhere):
                return self._now(now)
            return self._later(now)
        if end is End.UNSENT:
            return self._now(now)
        if end is End.LOST:
            self.maybe_applied = self.maybe_applied or self.write
            self._local_failure(Status.CONNECTION_CLOSED)
            return self._now(now) if self.elsewhere and not self.write else self._later(now)
        if end is End.REFUSED:
            self._local_failure(Status.CONNECT_FAILED)
            return self._now(now) if self.elsewhere and not self.write else self._later(now)
        # NO_ROUTE
        if status in (Status.CONNECT_FAILED, Status.CONNECTION_CLOSED):
            self._local_failure(status)
        elif status != Status.OK:
            self.status = status
        return self._later(now)

    def expire(self, sent: bool) -> None:
        """The deadline passed with an attempt on the wire and no answer."""
        if sent:
            self.maybe_applied = self.maybe_applied or self.write
            self.status = Status.TIMEOUT

    def final_status(self) -> int:
        """What a request that gives up reports."""
        if self.write and self.maybe_applied:
            return Status.OUTCOME_UNKNOWN
        return self.status if self.status != Status.OK else Status.TIMEOUT
