"""Exceptions of the tunekv client: one class per status.

Every failure is a TunekvError with .status (a types.Status) and .message
(the server's or the client's text; not stable, do not parse it). The
classes follow docs/protocol.md §5; the client-side ones follow libtunekv's
codes >= 100. A missing key is not an error (GetResult.found is False, and a
DELETE of a missing key returns WriteResult.found False), as in libtunekv's
answer body and the protocol's "an answer, not an error"; NotFound is what
Client.get_value() raises, for callers who prefer an exception.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type

from .types import Status


class TunekvError(Exception):
    """Base class of every error the client raises."""

    status: Status = Status.INTERNAL

    def __init__(self, message: str = "", status: Optional[Status] = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status.name}: {self.message}" if self.message else self.status.name


class NotFound(TunekvError):
    status = Status.NOT_FOUND


class ConditionFailed(TunekvError):
    """CAS: the key's version was not the expected one. current_version is
    the key's version when the CAS applied (0: absent), index the entry the
    failed CAS took."""

    status = Status.CONDITION_FAILED

    def __init__(self, message: str = "", current_version: int = 0, index: int = 0):
        super().__init__(message)
        self.current_version = current_version
        self.index = index


class NotLeader(TunekvError):
    """Reported only when no leader could be reached before the deadline:
    the client follows leader hints itself."""

    status = Status.NOT_LEADER


class BoundUnmet(TunekvError):
    """A read's bound could not be met on the replica (on_unmet said so).
    Carries what the read needed and what the replica had. Never retried."""

    status = Status.BOUND_UNMET

    def __init__(
        self,
        message: str = "",
        required_index: int = 0,
        applied_index: int = 0,
        staleness_ms: int = -1,
        lag_entries: int = 0,
        node_id: int = 0,
        leader_id: int = 0,
    ):
        super().__init__(message)
        self.required_index = required_index
        self.applied_index = applied_index
        self.staleness_ms = staleness_ms
        self.lag_entries = lag_entries
        self.node_id = node_id
        self.leader_id = leader_id


class NoQuorum(TunekvError):
    status = Status.NO_QUORUM


class Timeout(TunekvError, TimeoutError):
    """Nothing happened before the deadline (for a write: it was not applied;
    a write that may have been applied is OutcomeUnknown instead)."""

    status = Status.TIMEOUT


class OutcomeUnknown(TunekvError):
    """A write may or may not have been applied: every attempt, resent with
    the same (client_id, seq), ended without a definite answer."""

    status = Status.OUTCOME_UNKNOWN


class InvalidArgument(TunekvError, ValueError):
    status = Status.INVALID_ARGUMENT


class TooLarge(TunekvError, ValueError):
    status = Status.TOO_LARGE


class Busy(TunekvError):
    status = Status.BUSY


class Unavailable(TunekvError):
    status = Status.UNAVAILABLE


class Internal(TunekvError):
    status = Status.INTERNAL


class NoSpace(TunekvError):
    status = Status.NO_SPACE


class Unauthenticated(TunekvError, PermissionError):
    """Auth is on and the client has no user, or a wrong user or password
    (AsyncClient(user=..., password=...))."""

    status = Status.UNAUTHENTICATED


class PermissionDenied(TunekvError, PermissionError):
    """The client's user has no role granting this on this key."""

    status = Status.PERMISSION_DENIED


class Compacted(TunekvError):
    """at_timestamp, or a watch's start, is older than the change history
    the replica keeps. For a watch, compacted_partition and compacted_index
    say where to go on from: that partition's history holds every change
    after compacted_index (read the keys again, then watch after it)."""

    status = Status.COMPACTED

    def __init__(self, message: str = "", compacted_partition: int = 0, compacted_index: int = 0):
        super().__init__(message)
        self.compacted_partition = compacted_partition
        self.compacted_index = compacted_index


class ConnectFailed(TunekvError, ConnectionError):
    """No endpoint (or node) could be reached."""

    status = Status.CONNECT_FAILED


class ProtocolError(TunekvError):
    """The server sent something this client cannot decode, or an unknown
    status."""

    status = Status.PROTOCOL_ERROR


class ConnectionClosed(TunekvError, ConnectionError):
    """The connection broke with a STATUS or CLUSTER_INFO in flight (keyed
    requests are retried instead)."""

    status = Status.CONNECTION_CLOSED


class UsageError(TunekvError, ValueError):
    """Bad arguments to a client call (no request was sent)."""

    status = Status.USAGE_ERROR


_CLASSES: Tuple[Type[TunekvError], ...] = (
    NotFound,
    ConditionFailed,
    NotLeader,
    BoundUnmet,
    NoQuorum,
    Timeout,
    OutcomeUnknown,
    InvalidArgument,
    TooLarge,
    Busy,
    Unavailable,
    Internal,
    NoSpace,
    Unauthenticated,
    PermissionDenied,
    Compacted,
    ConnectFailed,
    ProtocolError,
    ConnectionClosed,
    UsageError,
)
_BY_STATUS: Dict[int, Type[TunekvError]] = {cls.status: cls for cls in _CLASSES}


def error_class(status: int) -> Type[TunekvError]:
    """The exception class of a status (ProtocolError for an unknown one)."""
    return _BY_STATUS.get(status, ProtocolError)
