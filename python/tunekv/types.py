"""Enumerations, options and results of the tunekv client.

The enumerations carry the wire values of proto/tunekv.proto (package
tunekv.v1) under shorter names; docs/protocol.md §3 says what each one means.
Results are frozen dataclasses: they are copies of an answer, and keep
nothing of the connection that brought them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import List, Optional, Tuple


class _Enum(enum.IntEnum):
    """An IntEnum that prints as its name (Python 3.11 prints the number)."""

    def __str__(self) -> str:
        return self.name


class Status(_Enum):
    """A server status (tunekv.v1.Status), or a client-side condition (>= 100,
    the values of libtunekv's enum tkv_code)."""

    OK = 0
    NOT_FOUND = 1
    CONDITION_FAILED = 2
    NOT_LEADER = 3
    BOUND_UNMET = 4
    NO_QUORUM = 5
    TIMEOUT = 6
    OUTCOME_UNKNOWN = 7
    INVALID_ARGUMENT = 8
    TOO_LARGE = 9
    BUSY = 10
    UNAVAILABLE = 11
    INTERNAL = 12
    NO_SPACE = 13
    UNAUTHENTICATED = 14
    PERMISSION_DENIED = 15
    COMPACTED = 16
    CONNECT_FAILED = 100
    PROTOCOL_ERROR = 101
    CONNECTION_CLOSED = 103
    USAGE_ERROR = 104


class Consistency(_Enum):
    """The guarantee a read asks for, and the one its receipt says it got
    (docs/consistency.md)."""

    LINEARIZABLE = 0
    SEQUENTIAL = 1
    CAUSAL = 2
    SESSION = 3
    BOUNDED_STALENESS = 4
    EVENTUAL = 5


class SessionFlag(enum.IntFlag):
    """Bits of a read's session_flags."""

    NONE = 0
    READ_YOUR_WRITES = 1
    MONOTONIC_READS = 2
    MONOTONIC_WRITES = 4
    WRITES_FOLLOW_READS = 8


class Route(_Enum):
    """Which replica may serve a read below LINEARIZABLE."""

    LEADER = 0
    FOLLOWER_PREFERRED = 1
    NEAREST = 2
    ANY = 3


class OnUnmet(_Enum):
    """What a read does when the replica does not meet its bound."""

    WAIT = 0
    FAIL = 1
    FORWARD_LEADER = 2
    SERVE_STALE_LABELLED = 3


class Ack(_Enum):
    """When a write is answered."""

    COMMITTED = 0
    ALL_REPLICAS = 1
    LEADER_ACCEPTED = 2


class Role(_Enum):
    """The Raft role of a replica."""

    UNAVAILABLE = 0
    FOLLOWER = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(frozen=True)
class ReadOptions:
    """Everything a GET can ask (docs/protocol.md §3.3). The defaults are a
    linearizable read from the leader.

    timeout: seconds for the whole read, retries included (None: the
    client's default). node_id: send the read to this node (route is then
    ignored); it serves a read below LINEARIZABLE from its own replica, and
    forwards what it cannot serve, as libtunekv's tkv_read_options.node_id.
    """

    level: Consistency = Consistency.LINEARIZABLE
    session_flags: int = 0
    min_index: int = 0
    max_staleness_ms: int = 0
    max_lag_entries: int = 0
    route: Route = Route.LEADER
    on_unmet: OnUnmet = OnUnmet.WAIT
    max_wait_ms: int = 0
    strict: bool = False
    timeout: Optional[float] = None
    node_id: int = 0
    # The state as of this write timestamp (a receipt's or a write's), from
    # the replicas' change history; 0 = the current state. SEQUENTIAL or
    # EVENTUAL; Compacted when the history no longer reaches back there.
    at_timestamp: int = 0


@dataclass(frozen=True)
class Receipt:
    """What a read delivered (ReadReceipt): who served it, at which applied
    index, and at which level (EVENTUAL and fallback=True when
    SERVE_STALE_LABELLED served it below the level asked)."""

    node_id: int
    role: Role
    term: int
    applied_index: int
    level: Consistency
    staleness_ms: int  # upper bound; -1 = unknown
    lag_entries: int
    fallback: bool
    partition: int
    leader_known: bool
    # The read's place in the cluster-wide order of writes (hybrid-logical-
    # clock timestamp): at SEQUENTIAL, at or above the session's.
    timestamp: int = 0
    zone: str = ""  # the serving node's zone; "" unless configured


@dataclass(frozen=True)
class GetResult:
    """The answer to a GET. A missing key is an answer, not an error:
    found is False, value None, and the receipt says who found nothing."""

    found: bool
    value: Optional[bytes]
    create_index: int
    mod_index: int  # the key's version, for cas()
    receipt: Receipt
    token: bytes = b""  # the answer's token delta (already merged into the session)
    timestamp: int = 0  # the value's write timestamp; 0: absent
    # Absent: the index of the delete that removed the key while the
    # replica's change history has it (its tombstone); else 0.
    deleted_index: int = 0

    @property
    def version(self) -> int:
        """The key's version (mod_index): what cas() compares."""
        return self.mod_index


class UserRoleOp(_Enum):
    """User and role management operations (docs/protocol.md §4.8)."""

    USER_ADD = 1
    USER_DELETE = 2
    USER_PASSWD = 3
    USER_GRANT_ROLE = 4
    USER_REVOKE_ROLE = 5
    USER_LIST = 6
    USER_GET = 7
    ROLE_ADD = 8
    ROLE_DELETE = 9
    ROLE_GRANT = 10
    ROLE_REVOKE = 11
    ROLE_LIST = 12
    ROLE_GET = 13


@dataclass(frozen=True)
class Grant:
    """What a role grants: read, write, readwrite or admin on keys that
    start with prefix (empty: every key)."""

    permission: str
    prefix: bytes


@dataclass(frozen=True)
class Lease:
    """A lease (docs/protocol.md §4.11): its id (partition + 1 in the high
    16 bits), TTL, what is left of it on the partition leader's clock (-1:
    unknown), and for lease_info the keys attached (keys lists up to half a
    frame of them; keys_total counts them all)."""

    id: int
    ttl_ms: int
    remaining_ms: int
    partition: int
    keys: List[bytes]
    keys_total: int


@dataclass(frozen=True)
class UserRoleResult:
    """A user and role answer: the names listed (USER_LIST, ROLE_LIST),
    a user's roles (USER_GET), a role's grants (ROLE_GET)."""

    names: List[str]
    roles: List[str]
    grants: List[Grant]


@dataclass(frozen=True)
class GetManyItem:
    """One key of a GET_MANY, in the order asked."""

    found: bool
    value: Optional[bytes]
    mod_index: int  # the key's version; 0: absent
    timestamp: int  # the value's write timestamp; 0: absent
    partition: int
    deleted_index: int = 0  # absent: its delete's index (GetResult.deleted_index)


@dataclass(frozen=True)
class GetManyResult:
    """The answer to a GET_MANY: every item is its key's state at timestamp
    (docs/consistency.md, "Multi-key reads at one timestamp")."""

    items: List[GetManyItem]
    timestamp: int
    node_id: int
    level: Consistency
    rounds: int
    token: bytes = b""


@dataclass(frozen=True)
class ScanItem:
    """One key of a SCAN page, in key order."""

    key: bytes
    value: bytes  # b"" with keys_only
    mod_index: int  # the key's version
    create_index: int  # the write that created it
    timestamp: int  # the value's write timestamp
    partition: int


@dataclass(frozen=True)
class ScanReceipt:
    """Which state of one partition a SCAN page shows."""

    partition: int
    node_id: int  # the replica that served it
    applied_index: int  # the page shows the partition at this index
    level: Consistency


@dataclass(frozen=True)
class ScanPage:
    """One page of a SCAN (docs/protocol.md, SCAN; docs/consistency.md,
    "Scans"): items in key order (none with count_only), count the keys
    it holds, more and cursor to ask for the next page, one receipt per
    partition read; at SEQUENTIAL every partition's state at timestamp."""

    items: List[ScanItem]
    count: int
    more: bool
    cursor: bytes
    receipts: List[ScanReceipt]
    timestamp: int
    node_id: int
    level: Consistency
    rounds: int
    token: bytes = b""


@dataclass(frozen=True)
class WriteResult:
    """The answer to a PUT, DELETE or CAS. index is the Raft index the write
    took (the key's new version for PUT and CAS). found is False only for a
    DELETE of a key that did not exist (the delete still took an index)."""

    index: int
    partition: int
    ack: Ack  # delivered: ALL_REPLICAS asked may come back COMMITTED
    durable: bool  # False only for LEADER_ACCEPTED
    found: bool = True
    token: bytes = b""
    timestamp: int = 0  # the write's place in the order of writes (at_timestamp reads)

    @property
    def version(self) -> int:
        return self.index


@dataclass(frozen=True)
class LevelCounters:
    level: Consistency
    served: int
    stale_served: int
    waits: int
    fallbacks: int
    bound_unmet: int


@dataclass(frozen=True)
class PartitionStatus:
    partition: int
    role: Role
    leader_id: int
    term: int
    commit_index: int
    applied_index: int
    last_index: int
    snapshot_index: int
    keys: int
    ready: bool
    replicas: Tuple[int, ...]
    bytes: int
    digest: int
    snapshots: int
    restores: int
    reads: Tuple[LevelCounters, ...]
    lag_entries: int
    staleness_ms: int
    leader_commit_index: int
    barriers: int
    confirms: int
    confirms_failed: int


@dataclass(frozen=True)
class Limits:
    frame_bytes_max: int
    key_bytes_max: int
    value_bytes_max: int
    inflight_per_conn_max: int
    conns_max: int
    request_timeout_ms: int
    request_timeout_max_ms: int
    conn_output_bytes_max: int
    token_bytes_max: int
    txn_ops_max: int = 0
    txn_compares_max: int = 0
    txn_bytes_max: int = 0
    leases_max: int = 0
    lease_keys_max: int = 0
    lease_ttl_min_ms: int = 0
    lease_ttl_max_ms: int = 0


@dataclass(frozen=True)
class NodeStatus:
    """STATUS of one node (docs/protocol.md §3.8)."""

    node_id: int
    version: str
    uptime_ms: int
    connections: int
    partition_count: int
    partitions: Tuple[PartitionStatus, ...]
    limits: Limits
    loop_lag_ms: int
    loop_lag_max_ms: int
    forwarded: int
    watches: int = 0  # WATCH streams open on the node, other nodes' shares included


@dataclass(frozen=True)
class NodeInfo:
    node_id: int
    client_addr: str
    peer_addr: str
    zone: str = ""  # [node.N] zone; "" unless configured
    state: str = "unknown"  # in the cluster map: voter, joining, removed; unknown before it


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader_id: int  # 0 = unknown
    replicas: Tuple[int, ...]


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster layout as one node sees it (CLUSTER_INFO)."""

    partition_count: int
    nodes: Tuple[NodeInfo, ...]
    partitions: Tuple[PartitionInfo, ...]
    node_id: int  # the node that answered
    epoch: int = 0  # of the cluster map that node applied; 0: none yet


@dataclass
class Stats:
    """Counters of one client, for tests and for curious callers."""

    attempts: int = 0  # requests put on a connection, retries included
    retries: int = 0  # attempts after the first of a request
    resent_maybe_applied: int = 0  # write attempts sent with retry=True
    not_leader: int = 0  # NOT_LEADER answers
    connections_lost: int = 0  # connections that broke with requests in flight
    map_fetches: int = 0  # CLUSTER_INFO requests sent to learn the map
    late_answers: int = 0  # answers to no request in flight
    bad_tokens: int = 0  # token deltas in answers that did not parse


class CompareTarget(_Enum):
    """What a TXN compare reads from its key (tunekv.v1.CompareTarget)."""

    VERSION = 0  # the key's version (mod_index); 0 when absent
    CREATE_INDEX = 1  # the index that created it; 0 when absent
    VALUE = 2  # its value; never holds for an absent key
    EXISTS = 3  # 1 when it exists, else 0


class CompareOp(_Enum):
    """key's side OP operand (tunekv.v1.CompareOp)."""

    EQUAL = 0
    NOT_EQUAL = 1
    LESS = 2
    GREATER = 3


class TxnOpType(_Enum):
    GET = 0
    PUT = 1
    DELETE = 2


@dataclass(frozen=True)
class Compare:
    """One TXN compare; build it with the class methods."""

    key: bytes
    target: CompareTarget
    op: CompareOp = CompareOp.EQUAL
    number: int = 0
    value: bytes = b""

    @classmethod
    def version(cls, key: bytes, version: int, op: CompareOp = CompareOp.EQUAL) -> "Compare":
        return cls(key, CompareTarget.VERSION, op, number=version)

    @classmethod
    def create_index(cls, key: bytes, index: int, op: CompareOp = CompareOp.EQUAL) -> "Compare":
        return cls(key, CompareTarget.CREATE_INDEX, op, number=index)

    @classmethod
    def value_of(cls, key: bytes, value: bytes, op: CompareOp = CompareOp.EQUAL) -> "Compare":
        return cls(key, CompareTarget.VALUE, op, value=value)

    @classmethod
    def exists(cls, key: bytes, exists: bool = True) -> "Compare":
        return cls(key, CompareTarget.EXISTS, CompareOp.EQUAL, number=1 if exists else 0)


@dataclass(frozen=True)
class Op:
    """One TXN op; build it with the class methods."""

    type: TxnOpType
    key: bytes
    value: bytes = b""
    lease: int = 0  # PUT: attach the key to this lease (0: none, detach)

    @classmethod
    def put(cls, key: bytes, value: bytes, lease: int = 0) -> "Op":
        """A put; with lease, the key is attached to it as a PUT with a
        lease does. The lease must live in the TXN's partition; a missing
        one (NotFound) or one at lease_keys_max (TooLarge) refuses the
        whole TXN."""
        return cls(TxnOpType.PUT, key, value, lease)

    @classmethod
    def delete(cls, key: bytes) -> "Op":
        return cls(TxnOpType.DELETE, key)

    @classmethod
    def get(cls, key: bytes) -> "Op":
        return cls(TxnOpType.GET, key)


@dataclass(frozen=True)
class TxnOpResult:
    """One op's result. found: GET, the key exists; PUT and DELETE, it
    existed before. value, create_index and mod_index: GET only."""

    type: TxnOpType
    found: bool
    value: Optional[bytes] = None
    create_index: int = 0
    mod_index: int = 0
    value_omitted: bool = False  # beyond txn_bytes_max of values: GET it


@dataclass(frozen=True)
class TxnResult:
    """A TXN's answer: which branch ran (succeeded: the success ops), its
    index (the version of its puts), and one result per op of that branch.
    replayed: a retry of a TXN already applied, whose results were not kept."""

    succeeded: bool
    index: int
    partition: int
    results: Tuple[TxnOpResult, ...]
    replayed: bool = False
    token: bytes = b""


class EventType(_Enum):
    """What a watch event is (tunekv.v1.EventType)."""

    PUT = 0
    DELETE = 1


@dataclass(frozen=True)
class WatchEvent:
    """One change a watch delivers (docs/protocol.md, WATCH). Events of one
    partition come in its log order; those of different partitions may
    interleave."""

    type: EventType
    key: bytes
    value: Optional[bytes]  # PUT without keys_only; None for a DELETE or keys_only
    partition: int
    index: int  # the change's log index (a PUT: the key's new version)
    create_index: int  # PUT: the write that created the key
    timestamp: int  # the change's write timestamp


@dataclass(frozen=True)
class WatchInfo:
    """Where and how a watch runs now (libtunekv's struct tkv_watch_info)."""

    node_id: int  # the node serving it (or that served it last)
    level: Consistency  # the level its start was served at
    staleness_ms: int  # the largest of its partitions' at the last progress frame; -1 unknown
    resumes: int  # times its stream broke and it went on after its positions
    compacted_partition: int = 0  # after Compacted: the partition whose history
    compacted_index: int = 0  # is complete only after this index
