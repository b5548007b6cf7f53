from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

ACK_ALL_REPLICAS: Ack
ACK_COMMITTED: Ack
ACK_LEADER_ACCEPTED: Ack
COMPARE_CREATE_INDEX: CompareTarget
COMPARE_EQUAL: CompareOp
COMPARE_EXISTS: CompareTarget
COMPARE_GREATER: CompareOp
COMPARE_LESS: CompareOp
COMPARE_NOT_EQUAL: CompareOp
COMPARE_VALUE: CompareTarget
COMPARE_VERSION: CompareTarget
CONSISTENCY_BOUNDED_STALENESS: Consistency
CONSISTENCY_CAUSAL: Consistency
CONSISTENCY_EVENTUAL: Consistency
CONSISTENCY_LINEARIZABLE: Consistency
CONSISTENCY_SEQUENTIAL: Consistency
CONSISTENCY_SESSION: Consistency
DESCRIPTOR: _descriptor.FileDescriptor
EVENT_DELETE: EventType
EVENT_PUT: EventType
LEASE_GRANT: LeaseOp
LEASE_INFO: LeaseOp
LEASE_KEEPALIVE: LeaseOp
LEASE_LIST: LeaseOp
LEASE_REVOKE: LeaseOp
MEMBER_OP_ADD: MemberOp
MEMBER_OP_MOVE: MemberOp
MEMBER_OP_MOVE_CANCEL: MemberOp
MEMBER_OP_MOVE_DONE: MemberOp
MEMBER_OP_REMOVE: MemberOp
MEMBER_OP_REPLACE: MemberOp
MEMBER_OP_UNKNOWN: MemberOp
MEMBER_OP_UPDATE: MemberOp
MEMBER_STATE_JOINING: MemberState
MEMBER_STATE_LEAVING: MemberState
MEMBER_STATE_REMOVED: MemberState
MEMBER_STATE_UNKNOWN: MemberState
MEMBER_STATE_VOTER: MemberState
ON_UNMET_FAIL: OnUnmet
ON_UNMET_FORWARD_LEADER: OnUnmet
ON_UNMET_SERVE_STALE_LABELLED: OnUnmet
ON_UNMET_WAIT: OnUnmet
ROLE_ADD: UserRoleOp
ROLE_CANDIDATE: Role
ROLE_DELETE: UserRoleOp
ROLE_FOLLOWER: Role
ROLE_GET: UserRoleOp
ROLE_GRANT: UserRoleOp
ROLE_LEADER: Role
ROLE_LIST: UserRoleOp
ROLE_REVOKE: UserRoleOp
ROLE_UNAVAILABLE: Role
ROUTE_ANY: Route
ROUTE_FOLLOWER_PREFERRED: Route
ROUTE_LEADER: Route
ROUTE_NEAREST: Route
SESSION_FLAG_MONOTONIC_READS: SessionFlag
SESSION_FLAG_MONOTONIC_WRITES: SessionFlag
SESSION_FLAG_NONE: SessionFlag
SESSION_FLAG_READ_YOUR_WRITES: SessionFlag
SESSION_FLAG_WRITES_FOLLOW_READS: SessionFlag
STATUS_BOUND_UNMET: Status
STATUS_BUSY: Status
STATUS_COMPACTED: Status
STATUS_CONDITION_FAILED: Status
STATUS_INTERNAL: Status
STATUS_INVALID_ARGUMENT: Status
STATUS_NOT_FOUND: Status
STATUS_NOT_LEADER: Status
STATUS_NO_QUORUM: Status
STATUS_NO_SPACE: Status
STATUS_OK: Status
STATUS_OUTCOME_UNKNOWN: Status
STATUS_PERMISSION_DENIED: Status
STATUS_TIMEOUT: Status
STATUS_TOO_LARGE: Status
STATUS_UNAUTHENTICATED: Status
STATUS_UNAVAILABLE: Status
TXN_DELETE: TxnOpType
TXN_GET: TxnOpType
TXN_PUT: TxnOpType
USER_ADD: UserRoleOp
USER_DELETE: UserRoleOp
USER_GET: UserRoleOp
USER_GRANT_ROLE: UserRoleOp
USER_LIST: UserRoleOp
USER_PASSWD: UserRoleOp
USER_REVOKE_ROLE: UserRoleOp
USER_ROLE_OP_UNSPECIFIED: UserRoleOp

class AuthRequest(_message.Message):
    __slots__ = ["password", "user"]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    password: bytes
    user: str
    def __init__(self, user: _Optional[str] = ..., password: _Optional[bytes] = ...) -> None: ...

class BoundUnmet(_message.Message):
    __slots__ = ["applied_index", "lag_entries", "node_id", "required_index", "staleness_ms"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_INDEX_FIELD_NUMBER: _ClassVar[int]
    STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    lag_entries: int
    node_id: int
    required_index: int
    staleness_ms: int
    def __init__(self, required_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., staleness_ms: _Optional[int] = ..., lag_entries: _Optional[int] = ..., node_id: _Optional[int] = ...) -> None: ...

class CasRequest(_message.Message):
    __slots__ = ["expected_version", "key", "lease", "options", "value"]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    expected_version: int
    key: bytes
    lease: int
    options: WriteOptions
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., expected_version: _Optional[int] = ..., value: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ..., lease: _Optional[int] = ...) -> None: ...

class ClusterInfoRequest(_message.Message):
    __slots__ = ["users"]
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: bool
    def __init__(self, users: bool = ...) -> None: ...

class ClusterInfoResponse(_message.Message):
    __slots__ = ["epoch", "has_users", "metadata", "node_id", "nodes", "partition_count", "partitions", "users", "users_version"]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    HAS_USERS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    USERS_VERSION_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    has_users: bool
    metadata: PartitionInfo
    node_id: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    partition_count: int
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionInfo]
    users: bytes
    users_version: int
    def __init__(self, partition_count: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., partitions: _Optional[_Iterable[_Union[PartitionInfo, _Mapping]]] = ..., node_id: _Optional[int] = ..., epoch: _Optional[int] = ..., metadata: _Optional[_Union[PartitionInfo, _Mapping]] = ..., has_users: bool = ..., users: _Optional[bytes] = ..., users_version: _Optional[int] = ...) -> None: ...

class ConfirmRequest(_message.Message):
    __slots__ = ["from_node_id", "partition"]
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    from_node_id: int
    partition: int
    def __init__(self, from_node_id: _Optional[int] = ..., partition: _Optional[int] = ...) -> None: ...

class ConfirmResponse(_message.Message):
    __slots__ = ["applied_index", "node_id", "partition", "term"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    node_id: int
    partition: int
    term: int
    def __init__(self, node_id: _Optional[int] = ..., partition: _Optional[int] = ..., term: _Optional[int] = ..., applied_index: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ["key", "options"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    options: WriteOptions
    def __init__(self, key: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class GetManyItem(_message.Message):
    __slots__ = ["deleted_index", "found", "mod_index", "partition", "timestamp", "value"]
    DELETED_INDEX_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    MOD_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    deleted_index: int
    found: bool
    mod_index: int
    partition: int
    timestamp: int
    value: bytes
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., mod_index: _Optional[int] = ..., timestamp: _Optional[int] = ..., partition: _Optional[int] = ..., deleted_index: _Optional[int] = ...) -> None: ...

class GetManyRequest(_message.Message):
    __slots__ = ["keys", "options"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    options: ReadOptions
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., options: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetManyResponse(_message.Message):
    __slots__ = ["items", "level", "node_id", "rounds", "timestamp", "token"]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[GetManyItem]
    level: Consistency
    node_id: int
    rounds: int
    timestamp: int
    token: bytes
    def __init__(self, items: _Optional[_Iterable[_Union[GetManyItem, _Mapping]]] = ..., timestamp: _Optional[int] = ..., node_id: _Optional[int] = ..., level: _Optional[_Union[Consistency, str]] = ..., token: _Optional[bytes] = ..., rounds: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ["key", "options"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    options: ReadOptions
    def __init__(self, key: _Optional[bytes] = ..., options: _Optional[_Union[ReadOptions, _Mapping]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ["create_index", "deleted_index", "found", "mod_index", "receipt", "timestamp", "token", "value"]
    CREATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DELETED_INDEX_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    MOD_INDEX_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    create_index: int
    deleted_index: int
    found: bool
    mod_index: int
    receipt: ReadReceipt
    timestamp: int
    token: bytes
    value: bytes
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., create_index: _Optional[int] = ..., mod_index: _Optional[int] = ..., receipt: _Optional[_Union[ReadReceipt, _Mapping]] = ..., token: _Optional[bytes] = ..., timestamp: _Optional[int] = ..., deleted_index: _Optional[int] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ["permission", "prefix"]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    permission: str
    prefix: bytes
    def __init__(self, permission: _Optional[str] = ..., prefix: _Optional[bytes] = ...) -> None: ...

class LeaderHint(_message.Message):
    __slots__ = ["client_addr", "node_id"]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    client_addr: str
    node_id: int
    def __init__(self, node_id: _Optional[int] = ..., client_addr: _Optional[str] = ...) -> None: ...

class LeaseInfo(_message.Message):
    __slots__ = ["id", "keys", "remaining_ms", "ttl_ms"]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    keys: int
    remaining_ms: int
    ttl_ms: int
    def __init__(self, id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., remaining_ms: _Optional[int] = ..., keys: _Optional[int] = ...) -> None: ...

class LeaseRequest(_message.Message):
    __slots__ = ["id", "key", "op", "options", "partition", "ttl_ms", "use_partition"]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    USE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    id: int
    key: bytes
    op: LeaseOp
    options: WriteOptions
    partition: int
    ttl_ms: int
    use_partition: bool
    def __init__(self, op: _Optional[_Union[LeaseOp, str]] = ..., id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., key: _Optional[bytes] = ..., partition: _Optional[int] = ..., use_partition: bool = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class LeaseResponse(_message.Message):
    __slots__ = ["id", "index", "keys", "keys_total", "leases", "leases_total", "partition", "remaining_ms", "ttl_ms"]
    ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    KEYS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    LEASES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    index: int
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    keys_total: int
    leases: _containers.RepeatedCompositeFieldContainer[LeaseInfo]
    leases_total: int
    partition: int
    remaining_ms: int
    ttl_ms: int
    def __init__(self, id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., remaining_ms: _Optional[int] = ..., keys: _Optional[_Iterable[bytes]] = ..., leases: _Optional[_Iterable[_Union[LeaseInfo, _Mapping]]] = ..., partition: _Optional[int] = ..., index: _Optional[int] = ..., keys_total: _Optional[int] = ..., leases_total: _Optional[int] = ...) -> None: ...

class LevelCounters(_message.Message):
    __slots__ = ["bound_unmet", "fallbacks", "fresh", "level", "served", "stale", "stale_ms", "stale_served", "stale_versions", "waits"]
    BOUND_UNMET_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    FRESH_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    STALE_MS_FIELD_NUMBER: _ClassVar[int]
    STALE_SERVED_FIELD_NUMBER: _ClassVar[int]
    STALE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    WAITS_FIELD_NUMBER: _ClassVar[int]
    bound_unmet: int
    fallbacks: int
    fresh: int
    level: Consistency
    served: int
    stale: int
    stale_ms: _containers.RepeatedScalarFieldContainer[int]
    stale_served: int
    stale_versions: _containers.RepeatedScalarFieldContainer[int]
    waits: int
    def __init__(self, level: _Optional[_Union[Consistency, str]] = ..., served: _Optional[int] = ..., stale_served: _Optional[int] = ..., waits: _Optional[int] = ..., fallbacks: _Optional[int] = ..., bound_unmet: _Optional[int] = ..., fresh: _Optional[int] = ..., stale: _Optional[int] = ..., stale_ms: _Optional[_Iterable[int]] = ..., stale_versions: _Optional[_Iterable[int]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ["conn_output_bytes_max", "conns_max", "frame_bytes_max", "inflight_per_conn_max", "key_bytes_max", "lease_keys_max", "lease_ttl_max_ms", "lease_ttl_min_ms", "leases_max", "request_timeout_max_ms", "request_timeout_ms", "token_bytes_max", "txn_bytes_max", "txn_compares_max", "txn_ops_max", "value_bytes_max"]
    CONNS_MAX_FIELD_NUMBER: _ClassVar[int]
    CONN_OUTPUT_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    FRAME_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    INFLIGHT_PER_CONN_MAX_FIELD_NUMBER: _ClassVar[int]
    KEY_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    LEASES_MAX_FIELD_NUMBER: _ClassVar[int]
    LEASE_KEYS_MAX_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MIN_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIMEOUT_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    TXN_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    TXN_COMPARES_MAX_FIELD_NUMBER: _ClassVar[int]
    TXN_OPS_MAX_FIELD_NUMBER: _ClassVar[int]
    VALUE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    conn_output_bytes_max: int
    conns_max: int
    frame_bytes_max: int
    inflight_per_conn_max: int
    key_bytes_max: int
    lease_keys_max: int
    lease_ttl_max_ms: int
    lease_ttl_min_ms: int
    leases_max: int
    request_timeout_max_ms: int
    request_timeout_ms: int
    token_bytes_max: int
    txn_bytes_max: int
    txn_compares_max: int
    txn_ops_max: int
    value_bytes_max: int
    def __init__(self, frame_bytes_max: _Optional[int] = ..., key_bytes_max: _Optional[int] = ..., value_bytes_max: _Optional[int] = ..., inflight_per_conn_max: _Optional[int] = ..., conns_max: _Optional[int] = ..., request_timeout_ms: _Optional[int] = ..., request_timeout_max_ms: _Optional[int] = ..., conn_output_bytes_max: _Optional[int] = ..., token_bytes_max: _Optional[int] = ..., txn_ops_max: _Optional[int] = ..., txn_compares_max: _Optional[int] = ..., txn_bytes_max: _Optional[int] = ..., leases_max: _Optional[int] = ..., lease_keys_max: _Optional[int] = ..., lease_ttl_min_ms: _Optional[int] = ..., lease_ttl_max_ms: _Optional[int] = ...) -> None: ...

class MemberRequest(_message.Message):
    __slots__ = ["client_addr", "node_id", "op", "partition", "peer_addr", "to_node_id", "update_zone", "zone"]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDR_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ZONE_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    client_addr: str
    node_id: int
    op: MemberOp
    partition: int
    peer_addr: str
    to_node_id: int
    update_zone: bool
    zone: str
    def __init__(self, op: _Optional[_Union[MemberOp, str]] = ..., node_id: _Optional[int] = ..., client_addr: _Optional[str] = ..., peer_addr: _Optional[str] = ..., zone: _Optional[str] = ..., partition: _Optional[int] = ..., to_node_id: _Optional[int] = ..., update_zone: bool = ...) -> None: ...

class MemberResponse(_message.Message):
    __slots__ = ["epoch"]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ["client_addr", "node_id", "peer_addr", "state", "successor", "zone"]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUCCESSOR_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    client_addr: str
    node_id: int
    peer_addr: str
    state: MemberState
    successor: int
    zone: str
    def __init__(self, node_id: _Optional[int] = ..., client_addr: _Optional[str] = ..., peer_addr: _Optional[str] = ..., zone: _Optional[str] = ..., state: _Optional[_Union[MemberState, str]] = ..., successor: _Optional[int] = ...) -> None: ...

class PartitionInfo(_message.Message):
    __slots__ = ["leader_id", "move_from", "move_to", "partition", "replicas"]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    MOVE_FROM_FIELD_NUMBER: _ClassVar[int]
    MOVE_TO_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    leader_id: int
    move_from: int
    move_to: int
    partition: int
    replicas: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, partition: _Optional[int] = ..., leader_id: _Optional[int] = ..., replicas: _Optional[_Iterable[int]] = ..., move_from: _Optional[int] = ..., move_to: _Optional[int] = ...) -> None: ...

class PartitionStatus(_message.Message):
    __slots__ = ["applied_index", "barriers", "bytes", "commit_index", "confirms", "confirms_failed", "digest", "history_bytes", "history_changes", "history_oldest_index", "history_start_ts", "keys", "lag_entries", "last_index", "leader_commit_index", "leader_id", "move_step", "move_step_ms", "partition", "reads", "ready", "replicas", "restores", "role", "snapshot_index", "snapshots", "staleness_ms", "term"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    BARRIERS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    CONFIRMS_FAILED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    HISTORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_CHANGES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_OLDEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    HISTORY_START_TS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEADER_COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    MOVE_STEP_FIELD_NUMBER: _ClassVar[int]
    MOVE_STEP_MS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    RESTORES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    barriers: int
    bytes: int
    commit_index: int
    confirms: int
    confirms_failed: int
    digest: int
    history_bytes: int
    history_changes: int
    history_oldest_index: int
    history_start_ts: int
    keys: int
    lag_entries: int
    last_index: int
    leader_commit_index: int
    leader_id: int
    move_step: str
    move_step_ms: int
    partition: int
    reads: _containers.RepeatedCompositeFieldContainer[LevelCounters]
    ready: bool
    replicas: _containers.RepeatedScalarFieldContainer[int]
    restores: int
    role: Role
    snapshot_index: int
    snapshots: int
    staleness_ms: int
    term: int
    def __init__(self, partition: _Optional[int] = ..., role: _Optional[_Union[Role, str]] = ..., leader_id: _Optional[int] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., last_index: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., keys: _Optional[int] = ..., ready: bool = ..., replicas: _Optional[_Iterable[int]] = ..., bytes: _Optional[int] = ..., digest: _Optional[int] = ..., snapshots: _Optional[int] = ..., restores: _Optional[int] = ..., reads: _Optional[_Iterable[_Union[LevelCounters, _Mapping]]] = ..., lag_entries: _Optional[int] = ..., staleness_ms: _Optional[int] = ..., leader_commit_index: _Optional[int] = ..., barriers: _Optional[int] = ..., confirms: _Optional[int] = ..., confirms_failed: _Optional[int] = ..., history_changes: _Optional[int] = ..., history_bytes: _Optional[int] = ..., history_oldest_index: _Optional[int] = ..., history_start_ts: _Optional[int] = ..., move_step: _Optional[str] = ..., move_step_ms: _Optional[int] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ["from_node_id"]
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    from_node_id: int
    def __init__(self, from_node_id: _Optional[int] = ...) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ["node_id"]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    def __init__(self, node_id: _Optional[int] = ...) -> None: ...

class ProbeRequest(_message.Message):
    __slots__ = ["applied_index", "close_ts", "from_node_id", "partition", "waiting"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    CLOSE_TS_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    close_ts: int
    from_node_id: int
    partition: int
    waiting: bool
    def __init__(self, from_node_id: _Optional[int] = ..., partition: _Optional[int] = ..., applied_index: _Optional[int] = ..., close_ts: _Optional[int] = ..., waiting: bool = ...) -> None: ...

class ProbeResponse(_message.Message):
    __slots__ = ["commit_index", "leader_time_ms", "node_id", "partition", "term"]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEADER_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    commit_index: int
    leader_time_ms: int
    node_id: int
    partition: int
    term: int
    def __init__(self, node_id: _Optional[int] = ..., partition: _Optional[int] = ..., commit_index: _Optional[int] = ..., term: _Optional[int] = ..., leader_time_ms: _Optional[int] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ["key", "lease", "options", "value"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    lease: int
    options: WriteOptions
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ..., lease: _Optional[int] = ...) -> None: ...

class ReadOptions(_message.Message):
    __slots__ = ["at_timestamp", "level", "max_lag_entries", "max_staleness_ms", "max_wait_ms", "min_index", "min_timestamp", "on_unmet", "route", "session_flags", "strict", "token"]
    AT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_INDEX_FIELD_NUMBER: _ClassVar[int]
    MIN_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ON_UNMET_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FLAGS_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    at_timestamp: int
    level: Consistency
    max_lag_entries: int
    max_staleness_ms: int
    max_wait_ms: int
    min_index: int
    min_timestamp: int
    on_unmet: OnUnmet
    route: Route
    session_flags: int
    strict: bool
    token: bytes
    def __init__(self, level: _Optional[_Union[Consistency, str]] = ..., session_flags: _Optional[int] = ..., token: _Optional[bytes] = ..., min_index: _Optional[int] = ..., max_staleness_ms: _Optional[int] = ..., max_lag_entries: _Optional[int] = ..., route: _Optional[_Union[Route, str]] = ..., on_unmet: _Optional[_Union[OnUnmet, str]] = ..., max_wait_ms: _Optional[int] = ..., strict: bool = ..., min_timestamp: _Optional[int] = ..., at_timestamp: _Optional[int] = ...) -> None: ...

class ReadReceipt(_message.Message):
    __slots__ = ["applied_index", "fallback", "lag_entries", "leader_known", "level", "node_id", "partition", "role", "staleness_ms", "term", "timestamp", "zone"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    LEADER_KNOWN_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    fallback: bool
    lag_entries: int
    leader_known: bool
    level: Consistency
    node_id: int
    partition: int
    role: Role
    staleness_ms: int
    term: int
    timestamp: int
    zone: str
    def __init__(self, node_id: _Optional[int] = ..., role: _Optional[_Union[Role, str]] = ..., term: _Optional[int] = ..., applied_index: _Optional[int] = ..., level: _Optional[_Union[Consistency, str]] = ..., staleness_ms: _Optional[int] = ..., lag_entries: _Optional[int] = ..., fallback: bool = ..., partition: _Optional[int] = ..., leader_known: bool = ..., timestamp: _Optional[int] = ..., zone: _Optional[str] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ["auth", "cas", "cluster_info", "confirm", "delete", "get", "get_many", "id", "lease", "member", "no_forward", "ping", "probe", "put", "scan", "status", "timeout_ms", "transfer_leader", "txn", "user_role", "watch", "watch_cancel"]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    CAS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_INFO_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    GET_MANY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    NO_FORWARD_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    PUT_FIELD_NUMBER: _ClassVar[int]
    SCAN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_LEADER_FIELD_NUMBER: _ClassVar[int]
    TXN_FIELD_NUMBER: _ClassVar[int]
    USER_ROLE_FIELD_NUMBER: _ClassVar[int]
    WATCH_CANCEL_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    auth: AuthRequest
    cas: CasRequest
    cluster_info: ClusterInfoRequest
    confirm: ConfirmRequest
    delete: DeleteRequest
    get: GetRequest
    get_many: GetManyRequest
    id: int
    lease: LeaseRequest
    member: MemberRequest
    no_forward: bool
    ping: PingRequest
    probe: ProbeRequest
    put: PutRequest
    scan: ScanRequest
    status: StatusRequest
    timeout_ms: int
    transfer_leader: TransferLeaderRequest
    txn: TxnRequest
    user_role: UserRoleRequest
    watch: WatchRequest
    watch_cancel: WatchCancelRequest
    def __init__(self, id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., no_forward: bool = ..., get: _Optional[_Union[GetRequest, _Mapping]] = ..., put: _Optional[_Union[PutRequest, _Mapping]] = ..., delete: _Optional[_Union[DeleteRequest, _Mapping]] = ..., cas: _Optional[_Union[CasRequest, _Mapping]] = ..., status: _Optional[_Union[StatusRequest, _Mapping]] = ..., cluster_info: _Optional[_Union[ClusterInfoRequest, _Mapping]] = ..., ping: _Optional[_Union[PingRequest, _Mapping]] = ..., probe: _Optional[_Union[ProbeRequest, _Mapping]] = ..., confirm: _Optional[_Union[ConfirmRequest, _Mapping]] = ..., auth: _Optional[_Union[AuthRequest, _Mapping]] = ..., user_role: _Optional[_Union[UserRoleRequest, _Mapping]] = ..., txn: _Optional[_Union[TxnRequest, _Mapping]] = ..., transfer_leader: _Optional[_Union[TransferLeaderRequest, _Mapping]] = ..., get_many: _Optional[_Union[GetManyRequest, _Mapping]] = ..., scan: _Optional[_Union[ScanRequest, _Mapping]] = ..., lease: _Optional[_Union[LeaseRequest, _Mapping]] = ..., member: _Optional[_Union[MemberRequest, _Mapping]] = ..., watch: _Optional[_Union[WatchRequest, _Mapping]] = ..., watch_cancel: _Optional[_Union[WatchCancelRequest, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ["bound", "cluster_info", "confirm", "epoch", "get", "get_many", "id", "leader_hint", "lease", "member", "message", "pong", "probe", "scan", "status", "status_info", "txn", "user_role", "watch", "write"]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_INFO_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    GET_MANY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_HINT_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    SCAN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_INFO_FIELD_NUMBER: _ClassVar[int]
    TXN_FIELD_NUMBER: _ClassVar[int]
    USER_ROLE_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    bound: BoundUnmet
    cluster_info: ClusterInfoResponse
    confirm: ConfirmResponse
    epoch: int
    get: GetResponse
    get_many: GetManyResponse
    id: int
    leader_hint: LeaderHint
    lease: LeaseResponse
    member: MemberResponse
    message: str
    pong: PingResponse
    probe: ProbeResponse
    scan: ScanResponse
    status: Status
    status_info: StatusResponse
    txn: TxnResponse
    user_role: UserRoleResponse
    watch: WatchResponse
    write: WriteResponse
    def __init__(self, id: _Optional[int] = ..., status: _Optional[_Union[Status, str]] = ..., message: _Optional[str] = ..., leader_hint: _Optional[_Union[LeaderHint, _Mapping]] = ..., bound: _Optional[_Union[BoundUnmet, _Mapping]] = ..., epoch: _Optional[int] = ..., get: _Optional[_Union[GetResponse, _Mapping]] = ..., write: _Optional[_Union[WriteResponse, _Mapping]] = ..., status_info: _Optional[_Union[StatusResponse, _Mapping]] = ..., cluster_info: _Optional[_Union[ClusterInfoResponse, _Mapping]] = ..., pong: _Optional[_Union[PingResponse, _Mapping]] = ..., probe: _Optional[_Union[ProbeResponse, _Mapping]] = ..., confirm: _Optional[_Union[ConfirmResponse, _Mapping]] = ..., user_role: _Optional[_Union[UserRoleResponse, _Mapping]] = ..., txn: _Optional[_Union[TxnResponse, _Mapping]] = ..., get_many: _Optional[_Union[GetManyResponse, _Mapping]] = ..., scan: _Optional[_Union[ScanResponse, _Mapping]] = ..., lease: _Optional[_Union[LeaseResponse, _Mapping]] = ..., member: _Optional[_Union[MemberResponse, _Mapping]] = ..., watch: _Optional[_Union[WatchResponse, _Mapping]] = ...) -> None: ...

class ScanItem(_message.Message):
    __slots__ = ["create_index", "key", "mod_index", "partition", "timestamp", "value"]
    CREATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MOD_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    create_index: int
    key: bytes
    mod_index: int
    partition: int
    timestamp: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., mod_index: _Optional[int] = ..., create_index: _Optional[int] = ..., partition: _Optional[int] = ..., timestamp: _Optional[int] = ...) -> None: ...

class ScanReceipt(_message.Message):
    __slots__ = ["applied_index", "level", "node_id", "partition"]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    level: Consistency
    node_id: int
    partition: int
    def __init__(self, partition: _Optional[int] = ..., node_id: _Optional[int] = ..., applied_index: _Optional[int] = ..., level: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ["bytes_max", "count_only", "cursor", "end", "keys_only", "limit", "options", "partitions", "prefix", "start"]
    BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    COUNT_ONLY_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    KEYS_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    bytes_max: int
    count_only: bool
    cursor: bytes
    end: bytes
    keys_only: bool
    limit: int
    options: ReadOptions
    partitions: _containers.RepeatedScalarFieldContainer[int]
    prefix: bytes
    start: bytes
    def __init__(self, prefix: _Optional[bytes] = ..., start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., limit: _Optional[int] = ..., cursor: _Optional[bytes] = ..., keys_only: bool = ..., count_only: bool = ..., options: _Optional[_Union[ReadOptions, _Mapping]] = ..., partitions: _Optional[_Iterable[int]] = ..., bytes_max: _Optional[int] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ["count", "cursor", "items", "level", "more", "node_id", "receipts", "rounds", "timestamp", "token"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    count: int
    cursor: bytes
    items: _containers.RepeatedCompositeFieldContainer[ScanItem]
    level: Consistency
    more: bool
    node_id: int
    receipts: _containers.RepeatedCompositeFieldContainer[ScanReceipt]
    rounds: int
    timestamp: int
    token: bytes
    def __init__(self, items: _Optional[_Iterable[_Union[ScanItem, _Mapping]]] = ..., more: bool = ..., cursor: _Optional[bytes] = ..., count: _Optional[int] = ..., receipts: _Optional[_Iterable[_Union[ScanReceipt, _Mapping]]] = ..., timestamp: _Optional[int] = ..., level: _Optional[_Union[Consistency, str]] = ..., token: _Optional[bytes] = ..., node_id: _Optional[int] = ..., rounds: _Optional[int] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ["connections", "epoch", "forwarded", "limits", "loop_lag_max_ms", "loop_lag_ms", "members", "node_id", "partition_count", "partitions", "uptime_ms", "version", "watches"]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    LOOP_LAG_MS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    connections: int
    epoch: int
    forwarded: int
    limits: Limits
    loop_lag_max_ms: int
    loop_lag_ms: int
    members: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    node_id: int
    partition_count: int
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionStatus]
    uptime_ms: int
    version: str
    watches: int
    def __init__(self, node_id: _Optional[int] = ..., version: _Optional[str] = ..., uptime_ms: _Optional[int] = ..., connections: _Optional[int] = ..., partition_count: _Optional[int] = ..., partitions: _Optional[_Iterable[_Union[PartitionStatus, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., loop_lag_ms: _Optional[int] = ..., loop_lag_max_ms: _Optional[int] = ..., forwarded: _Optional[int] = ..., epoch: _Optional[int] = ..., members: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., watches: _Optional[int] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ["node_id", "partition"]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    partition: int
    def __init__(self, partition: _Optional[int] = ..., node_id: _Optional[int] = ...) -> None: ...

class TxnCompare(_message.Message):
    __slots__ = ["key", "number", "op", "target", "value"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    number: int
    op: CompareOp
    target: CompareTarget
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., target: _Optional[_Union[CompareTarget, str]] = ..., op: _Optional[_Union[CompareOp, str]] = ..., number: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class TxnOp(_message.Message):
    __slots__ = ["key", "lease", "type", "value"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    lease: int
    type: TxnOpType
    value: bytes
    def __init__(self, type: _Optional[_Union[TxnOpType, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., lease: _Optional[int] = ...) -> None: ...

class TxnOpResult(_message.Message):
    __slots__ = ["create_index", "found", "mod_index", "type", "value", "value_omitted"]
    CREATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    MOD_INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_OMITTED_FIELD_NUMBER: _ClassVar[int]
    create_index: int
    found: bool
    mod_index: int
    type: TxnOpType
    value: bytes
    value_omitted: bool
    def __init__(self, type: _Optional[_Union[TxnOpType, str]] = ..., found: bool = ..., value: _Optional[bytes] = ..., create_index: _Optional[int] = ..., mod_index: _Optional[int] = ..., value_omitted: bool = ...) -> None: ...

class TxnRequest(_message.Message):
    __slots__ = ["compares", "failure", "options", "success"]
    COMPARES_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    compares: _containers.RepeatedCompositeFieldContainer[TxnCompare]
    failure: _containers.RepeatedCompositeFieldContainer[TxnOp]
    options: WriteOptions
    success: _containers.RepeatedCompositeFieldContainer[TxnOp]
    def __init__(self, compares: _Optional[_Iterable[_Union[TxnCompare, _Mapping]]] = ..., success: _Optional[_Iterable[_Union[TxnOp, _Mapping]]] = ..., failure: _Optional[_Iterable[_Union[TxnOp, _Mapping]]] = ..., options: _Optional[_Union[WriteOptions, _Mapping]] = ...) -> None: ...

class TxnResponse(_message.Message):
    __slots__ = ["index", "partition", "replayed", "results", "succeeded", "token"]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    index: int
    partition: int
    replayed: bool
    results: _containers.RepeatedCompositeFieldContainer[TxnOpResult]
    succeeded: bool
    token: bytes
    def __init__(self, succeeded: bool = ..., index: _Optional[int] = ..., partition: _Optional[int] = ..., results: _Optional[_Iterable[_Union[TxnOpResult, _Mapping]]] = ..., token: _Optional[bytes] = ..., replayed: bool = ...) -> None: ...

class UserRoleRequest(_message.Message):
    __slots__ = ["name", "old_password", "op", "password", "permission", "prefix", "role", "secret"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OLD_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    name: str
    old_password: bytes
    op: UserRoleOp
    password: bytes
    permission: str
    prefix: bytes
    role: str
    secret: bytes
    def __init__(self, op: _Optional[_Union[UserRoleOp, str]] = ..., name: _Optional[str] = ..., password: _Optional[bytes] = ..., role: _Optional[str] = ..., permission: _Optional[str] = ..., prefix: _Optional[bytes] = ..., secret: _Optional[bytes] = ..., old_password: _Optional[bytes] = ...) -> None: ...

class UserRoleResponse(_message.Message):
    __slots__ = ["grants", "names", "roles"]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    names: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[str]] = ..., grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ...) -> None: ...

class WatchCancelRequest(_message.Message):
    __slots__ = ["watch_id"]
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    watch_id: int
    def __init__(self, watch_id: _Optional[int] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ["create_index", "index", "key", "partition", "timestamp", "type", "value"]
    CREATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    create_index: int
    index: int
    key: bytes
    partition: int
    timestamp: int
    type: EventType
    value: bytes
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., partition: _Optional[int] = ..., index: _Optional[int] = ..., create_index: _Optional[int] = ..., timestamp: _Optional[int] = ...) -> None: ...

class WatchProgress(_message.Message):
    __slots__ = ["index", "node_id", "partition", "staleness_ms"]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    STALENESS_MS_FIELD_NUMBER: _ClassVar[int]
    index: int
    node_id: int
    partition: int
    staleness_ms: int
    def __init__(self, partition: _Optional[int] = ..., index: _Optional[int] = ..., staleness_ms: _Optional[int] = ..., node_id: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ["key", "keys_only", "options", "partitions", "prefix", "start"]
    KEYS_ONLY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    keys_only: bool
    options: ReadOptions
    partitions: _containers.RepeatedScalarFieldContainer[int]
    prefix: bool
    start: _containers.RepeatedCompositeFieldContainer[WatchStart]
    def __init__(self, key: _Optional[bytes] = ..., prefix: bool = ..., start: _Optional[_Iterable[_Union[WatchStart, _Mapping]]] = ..., keys_only: bool = ..., options: _Optional[_Union[ReadOptions, _Mapping]] = ..., partitions: _Optional[_Iterable[int]] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ["canceled", "compacted_index", "compacted_partition", "created", "events", "level", "node_id", "progress"]
    CANCELED_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_INDEX_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_PARTITION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    canceled: bool
    compacted_index: int
    compacted_partition: int
    created: bool
    events: _containers.RepeatedCompositeFieldContainer[WatchEvent]
    level: Consistency
    node_id: int
    progress: _containers.RepeatedCompositeFieldContainer[WatchProgress]
    def __init__(self, created: bool = ..., canceled: bool = ..., events: _Optional[_Iterable[_Union[WatchEvent, _Mapping]]] = ..., progress: _Optional[_Iterable[_Union[WatchProgress, _Mapping]]] = ..., level: _Optional[_Union[Consistency, str]] = ..., node_id: _Optional[int] = ..., compacted_index: _Optional[int] = ..., compacted_partition: _Optional[int] = ...) -> None: ...

class WatchStart(_message.Message):
    __slots__ = ["after_index", "every", "partition"]
    AFTER_INDEX_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    after_index: int
    every: bool
    partition: int
    def __init__(self, partition: _Optional[int] = ..., after_index: _Optional[int] = ..., every: bool = ...) -> None: ...

class WriteOptions(_message.Message):
    __slots__ = ["ack", "client_id", "retry", "seq", "token"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ack: Ack
    client_id: int
    retry: bool
    seq: int
    token: bytes
    def __init__(self, ack: _Optional[_Union[Ack, str]] = ..., client_id: _Optional[int] = ..., seq: _Optional[int] = ..., token: _Optional[bytes] = ..., retry: bool = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ["ack", "current_version", "durable", "index", "partition", "timestamp", "token"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ack: Ack
    current_version: int
    durable: bool
    index: int
    partition: int
    timestamp: int
    token: bytes
    def __init__(self, index: _Optional[int] = ..., current_version: _Optional[int] = ..., partition: _Optional[int] = ..., ack: _Optional[_Union[Ack, str]] = ..., durable: bool = ..., token: _Optional[bytes] = ..., timestamp: _Optional[int] = ...) -> None: ...

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class SessionFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Route(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class OnUnmet(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Ack(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class LeaseOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class CompareTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class CompareOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class TxnOpType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MemberOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class UserRoleOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MemberState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
