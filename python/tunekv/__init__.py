"""tunekv: a Python client for the tunekv replicated key-value store.

    import tunekv
    with tunekv.Client("127.0.0.1:7001,127.0.0.1:7002") as c:
        w = c.put(b"k", b"v")
        r = c.get(b"k", level=tunekv.Consistency.SESSION)
        print(r.value, r.version, r.receipt.level)

Client is blocking; AsyncClient (tunekv.aio) is the same client for
asyncio. See python/README.md and docs/protocol.md.
"""

from .aio import AsyncClient, tls_context
from .client import Client
from .errors import (
    BoundUnmet,
    Busy,
    ConditionFailed,
    ConnectFailed,
    ConnectionClosed,
    Internal,
    InvalidArgument,
    NoQuorum,
    NoSpace,
    NotFound,
    NotLeader,
    OutcomeUnknown,
    PermissionDenied,
    ProtocolError,
    Timeout,
    TooLarge,
    TunekvError,
    Unauthenticated,
    Unavailable,
    UsageError,
)
from .token import TokenOrder
from .token import compare as token_compare
from .token import merge_bytes as token_merge
from .types import (
    Ack,
    ClusterInfo,
    Compare,
    CompareOp,
    CompareTarget,
    Consistency,
    GetManyItem,
    GetManyResult,
    GetResult,
    Grant,
    Lease,
    UserRoleOp,
    UserRoleResult,
    Limits,
    NodeInfo,
    NodeStatus,
    OnUnmet,
    Op,
    PartitionInfo,
    PartitionStatus,
    ReadOptions,
    Receipt,
    Role,
    Route,
    SessionFlag,
    Stats,
    Status,
    TxnOpResult,
    TxnOpType,
    TxnResult,
    WriteResult,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "tls_context",
    "Client",
    "BoundUnmet",
    "Busy",
    "ConditionFailed",
    "ConnectFailed",
    "ConnectionClosed",
    "Internal",
    "InvalidArgument",
    "NoQuorum",
    "NoSpace",
    "NotFound",
    "NotLeader",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProtocolError",
    "Timeout",
    "TooLarge",
    "TunekvError",
    "Unauthenticated",
    "Unavailable",
    "UsageError",
    "TokenOrder",
    "token_compare",
    "token_merge",
    "Ack",
    "ClusterInfo",
    "Compare",
    "CompareOp",
    "CompareTarget",
    "Consistency",
    "GetManyItem",
    "GetManyResult",
    "GetResult",
    "Grant",
    "Lease",
    "UserRoleOp",
    "UserRoleResult",
    "Limits",
    "NodeInfo",
    "NodeStatus",
    "OnUnmet",
    "Op",
    "PartitionInfo",
    "PartitionStatus",
    "ReadOptions",
    "Receipt",
    "Role",
    "Route",
    "SessionFlag",
    "Stats",
    "Status",
    "TxnOpResult",
    "TxnOpType",
    "TxnResult",
    "WriteResult",
]
