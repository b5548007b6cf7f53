"""Wire codec: frames, requests and the conversion of answers to results.

A frame is a 4-byte big-endian length and a protobuf message of
proto/tunekv.proto (docs/protocol.md §2). Requests are built here as
tunekv_pb2 messages, and answers become the dataclasses of types.py, so the
rest of the client never touches protobuf field names. No I/O.
"""

from __future__ import annotations

import struct
from typing import List, Sequence, Tuple, Type, TypeVar, Union, cast

from . import tunekv_pb2 as pb
from .errors import BoundUnmet, ConditionFailed, ProtocolError, TunekvError, error_class
from .types import (
    Ack,
    ClusterInfo,
    Compare,
    Consistency,
    GetManyItem,
    GetManyResult,
    Grant,
    ScanItem,
    ScanPage,
    ScanReceipt,
    UserRoleResult,
    Lease,
    GetResult,
    LevelCounters,
    Limits,
    NodeInfo,
    NodeStatus,
    PartitionInfo,
    PartitionStatus,
    ReadOptions,
    Receipt,
    Op,
    Role,
    Status,
    TxnOpResult,
    TxnOpType,
    TxnResult,
    WriteResult,
)

HEADER = struct.Struct(">I")
# Largest answer frame accepted, as libtunekv (a GET answer holds a whole
# value of up to value_bytes_max, which the server may raise to 128 MiB).
RESPONSE_BYTES_MAX = 64 << 20

Bytes = Union[bytes, bytearray, memoryview, str]


# MemberState (docs/protocol.md §3.9) by name.
_MEMBER_STATES = {1: "voter", 2: "joining", 3: "removed", 4: "leaving"}


def as_bytes(b: Bytes) -> bytes:
    """Keys and values are bytes; a str is taken as UTF-8."""
    if isinstance(b, str):
        return b.encode("utf-8")
    return bytes(b)


def frame(req: pb.Request) -> bytes:
    body: bytes = req.SerializeToString()
    return HEADER.pack(len(body)) + body


def read_options(o: ReadOptions, token: bytes) -> pb.ReadOptions:
    return pb.ReadOptions(
        level=cast(pb.Consistency, int(o.level)),
        session_flags=int(o.session_flags),
        token=token,
        min_index=o.min_index,
        max_staleness_ms=o.max_staleness_ms,
        max_lag_entries=o.max_lag_entries,
        route=cast(pb.Route, int(o.route)),
        on_unmet=cast(pb.OnUnmet, int(o.on_unmet)),
        max_wait_ms=o.max_wait_ms,
        strict=o.strict,
        at_timestamp=o.at_timestamp,
    )


def write_options(ack: Ack, client_id: int, seq: int, token: bytes) -> pb.WriteOptions:
    return pb.WriteOptions(ack=cast(pb.Ack, int(ack)), client_id=client_id, seq=seq, token=token)


E = TypeVar("E", Ack, Consistency, Role, TxnOpType)


def _enum(cls: Type[E], value: int) -> E:
    """value as a member of cls. A value this client does not know (a newer
    server's) passes through as the int it is: it compares and prints as
    one, and the fields stay typed as the enum for the values that exist."""
    try:
        return cls(value)
    except ValueError:
        return cast(E, value)


def status(resp: pb.Response) -> int:
    """The answer's status as an int, to compare with types.Status (the
    generated enum is a type of its own for mypy; the values are the same)."""
    return int(resp.status)


def receipt(r: pb.ReadReceipt) -> Receipt:
    return Receipt(
        node_id=r.node_id,
        role=_enum(Role, r.role),
        term=r.term,
        applied_index=r.applied_index,
        level=_enum(Consistency, r.level),
        staleness_ms=r.staleness_ms,
        lag_entries=r.lag_entries,
        fallback=r.fallback,
        partition=r.partition,
        leader_known=r.leader_known,
        timestamp=r.timestamp,
        zone=r.zone,
    )


def error(resp: pb.Response, op: str) -> TunekvError:
    """The exception for a failed answer (status not OK)."""
    msg = f"{op}: {resp.message}" if resp.message else op
    code = status(resp)
    if code == Status.BOUND_UNMET:
        b = resp.bound
        return BoundUnmet(
            msg,
            required_index=b.required_index,
            applied_index=b.applied_index,
            staleness_ms=b.staleness_ms,
            lag_entries=b.lag_entries,
            node_id=b.node_id,
            leader_id=resp.leader_hint.node_id,
        )
    if code == Status.CONDITION_FAILED:
        return ConditionFailed(msg, current_version=resp.write.current_version, index=resp.write.index)
    cls = error_class(code)
    if cls is ProtocolError and code not in (Status.PROTOCOL_ERROR,):
        return ProtocolError(f"{op}: unknown status {code}: {resp.message}")
    return cls(msg)


def get_result(resp: pb.Response, op: str = "get") -> GetResult:
    """A GET answer as a result (OK or NOT_FOUND), or raise its error."""
    if status(resp) not in (Status.OK, Status.NOT_FOUND):
        raise error(resp, op)
    if resp.WhichOneof("body") != "get":
        raise ProtocolError(f"{op}: answer {Status(resp.status).name} without a get body")
    g = resp.get
    found = status(resp) == Status.OK and g.found
    return GetResult(
        found=found,
        value=bytes(g.value) if found else None,
        create_index=g.create_index,
        mod_index=g.mod_index,
        receipt=receipt(g.receipt),
        token=bytes(g.token),
        timestamp=g.timestamp,
        deleted_index=g.deleted_index,
    )


def user_role_result(resp: pb.Response) -> UserRoleResult:
    """A USER_ROLE answer as a result, or raise its error."""
    if status(resp) != Status.OK:
        raise error(resp, "user_role")
    u = resp.user_role
    return UserRoleResult(
        names=list(u.names),
        roles=list(u.roles),
        grants=[Grant(permission=g.permission, prefix=bytes(g.prefix)) for g in u.grants],
    )


def lease_result(resp: pb.Response, op: str) -> Lease:
    """A LEASE answer (GRANT, KEEPALIVE, REVOKE, INFO) as a Lease, or raise
    its error."""
    if status(resp) != Status.OK:
        raise error(resp, op)
    if resp.WhichOneof("body") != "lease":
        raise ProtocolError(f"{op}: answer without a lease body")
    x = resp.lease
    return Lease(
        id=x.id, ttl_ms=x.ttl_ms, remaining_ms=x.remaining_ms, partition=x.partition,
        keys=[bytes(k) for k in x.keys], keys_total=x.keys_total,
    )


def lease_list_result(resp: pb.Response) -> List[Lease]:
    """A LEASE_LIST answer, or raise its error."""
    if status(resp) != Status.OK:
        raise error(resp, "lease_list")
    if resp.WhichOneof("body") != "lease":
        raise ProtocolError("lease_list: answer without a lease body")
    x = resp.lease
    return [
        Lease(id=i.id, ttl_ms=i.ttl_ms, remaining_ms=i.remaining_ms, partition=x.partition, keys=[], keys_total=i.keys)
        for i in x.leases
    ]


def get_many_result(resp: pb.Response) -> GetManyResult:
    """A GET_MANY answer as a result, or raise its error."""
    if status(resp) != Status.OK:
        raise error(resp, "get_many")
    if resp.WhichOneof("body") != "get_many":
        raise ProtocolError(f"get_many: answer {Status(resp.status).name} without a get_many body")
    g = resp.get_many
    return GetManyResult(
        items=[
            GetManyItem(
                found=i.found,
                value=bytes(i.value) if i.found else None,
                mod_index=i.mod_index,
                timestamp=i.timestamp,
                partition=i.partition,
                deleted_index=i.deleted_index,
            )
            for i in g.items
        ],
        timestamp=g.timestamp,
        node_id=g.node_id,
        level=_enum(Consistency, g.level),
        rounds=g.rounds,
        token=bytes(g.token),
    )


def scan_page(resp: pb.Response) -> ScanPage:
    """A SCAN answer as a page, or raise its error."""
    if status(resp) != Status.OK:
        raise error(resp, "scan")
    if resp.WhichOneof("body") != "scan":
        raise ProtocolError(f"scan: answer {Status(resp.status).name} without a scan body")
    s = resp.scan
    return ScanPage(
        items=[
            ScanItem(
                key=bytes(i.key),
                value=bytes(i.value),
                mod_index=i.mod_index,
                create_index=i.create_index,
                timestamp=i.timestamp,
                partition=i.partition,
            )
            for i in s.items
        ],
        count=s.count,
        more=s.more,
        cursor=bytes(s.cursor),
        receipts=[
            ScanReceipt(
                partition=r.partition,
                node_id=r.node_id,
                applied_index=r.applied_index,
                level=_enum(Consistency, r.level),
            )
            for r in s.receipts
        ],
        timestamp=s.timestamp,
        node_id=s.node_id,
        level=_enum(Consistency, s.level),
        rounds=s.rounds,
        token=bytes(s.token),
    )


def write_result(resp: pb.Response, op: str) -> WriteResult:
    """A PUT/DELETE/CAS answer as a result (OK, or NOT_FOUND for DELETE),
    or raise its error (ConditionFailed for a CAS that did not apply)."""
    if status(resp) not in (Status.OK, Status.NOT_FOUND) or (
        status(resp) == Status.NOT_FOUND and op != "delete"
    ):
        raise error(resp, op)
    if resp.WhichOneof("body") != "write":
        raise ProtocolError(f"{op}: answer {Status(resp.status).name} without a write body")
    w = resp.write
    return WriteResult(
        index=w.index,
        partition=w.partition,
        ack=_enum(Ack, w.ack),
        durable=w.durable,
        found=status(resp) == Status.OK,
        token=bytes(w.token),
        timestamp=w.timestamp,
    )


def txn_request(compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> pb.TxnRequest:
    """The TxnRequest of a TXN, without its WriteOptions."""

    def op(o: Op) -> pb.TxnOp:
        return pb.TxnOp(
            type=cast(pb.TxnOpType, int(o.type)), key=as_bytes(o.key), value=as_bytes(o.value), lease=o.lease
        )

    return pb.TxnRequest(
        compares=[
            pb.TxnCompare(
                key=as_bytes(x.key),
                target=cast(pb.CompareTarget, int(x.target)),
                op=cast(pb.CompareOp, int(x.op)),
                number=x.number,
                value=as_bytes(x.value),
            )
            for x in compares
        ],
        success=[op(o) for o in success],
        failure=[op(o) for o in failure],
    )


def txn_result(resp: pb.Response) -> TxnResult:
    """A TXN answer as a result, or raise its error."""
    if status(resp) != Status.OK:
        raise error(resp, "txn")
    if resp.WhichOneof("body") != "txn":
        raise ProtocolError("txn: answer OK without a txn body")
    t = resp.txn
    return TxnResult(
        succeeded=t.succeeded,
        index=t.index,
        partition=t.partition,
        results=tuple(
            TxnOpResult(
                type=_enum(TxnOpType, r.type),
                found=r.found,
                value=bytes(r.value) if r.found and r.type == pb.TXN_GET and not r.value_omitted else None,
                create_index=r.create_index,
                mod_index=r.mod_index,
                value_omitted=r.value_omitted,
            )
            for r in t.results
        ),
        replayed=t.replayed,
        token=bytes(t.token),
    )


def token_delta(resp: pb.Response) -> bytes:
    which = resp.WhichOneof("body")
    if which == "get":
        return bytes(resp.get.token)
    if which == "write":
        return bytes(resp.write.token)
    if which == "txn":
        return bytes(resp.txn.token)
    if which == "get_many":
        return bytes(resp.get_many.token)
    if which == "scan":
        return bytes(resp.scan.token)
    return b""


def _partition_status(p: pb.PartitionStatus) -> PartitionStatus:
    return PartitionStatus(
        partition=p.partition,
        role=_enum(Role, p.role),
        leader_id=p.leader_id,
        term=p.term,
        commit_index=p.commit_index,
        applied_index=p.applied_index,
        last_index=p.last_index,
        snapshot_index=p.snapshot_index,
        keys=p.keys,
        ready=p.ready,
        replicas=tuple(p.replicas),
        bytes=p.bytes,
        digest=p.digest,
        snapshots=p.snapshots,
        restores=p.restores,
        reads=tuple(
            LevelCounters(
                level=_enum(Consistency, c.level),
                served=c.served,
                stale_served=c.stale_served,
                waits=c.waits,
                fallbacks=c.fallbacks,
                bound_unmet=c.bound_unmet,
            )
            for c in p.reads
        ),
        lag_entries=p.lag_entries,
        staleness_ms=p.staleness_ms,
        leader_commit_index=p.leader_commit_index,
        barriers=p.barriers,
        confirms=p.confirms,
        confirms_failed=p.confirms_failed,
    )


def node_status(resp: pb.Response) -> NodeStatus:
    if status(resp) != Status.OK:
        raise error(resp, "status")
    if resp.WhichOneof("body") != "status_info":
        raise ProtocolError("status: answer without a status body")
    s = resp.status_info
    lim = s.limits
    return NodeStatus(
        node_id=s.node_id,
        version=s.version,
        uptime_ms=s.uptime_ms,
        connections=s.connections,
        partition_count=s.partition_count,
        partitions=tuple(_partition_status(p) for p in s.partitions),
        limits=Limits(
            frame_bytes_max=lim.frame_bytes_max,
            key_bytes_max=lim.key_bytes_max,
            value_bytes_max=lim.value_bytes_max,
            inflight_per_conn_max=lim.inflight_per_conn_max,
            conns_max=lim.conns_max,
            request_timeout_ms=lim.request_timeout_ms,
            request_timeout_max_ms=lim.request_timeout_max_ms,
            conn_output_bytes_max=lim.conn_output_bytes_max,
            token_bytes_max=lim.token_bytes_max,
            txn_ops_max=lim.txn_ops_max,
            txn_compares_max=lim.txn_compares_max,
            txn_bytes_max=lim.txn_bytes_max,
            leases_max=lim.leases_max,
            lease_keys_max=lim.lease_keys_max,
            lease_ttl_min_ms=lim.lease_ttl_min_ms,
            lease_ttl_max_ms=lim.lease_ttl_max_ms,
        ),
        loop_lag_ms=s.loop_lag_ms,
        loop_lag_max_ms=s.loop_lag_max_ms,
        forwarded=s.forwarded,
        watches=s.watches,
    )


def cluster_info(resp: pb.Response) -> ClusterInfo:
    if status(resp) != Status.OK:
        raise error(resp, "cluster_info")
    if resp.WhichOneof("body") != "cluster_info":
        raise ProtocolError("cluster_info: answer without a cluster_info body")
    ci = resp.cluster_info
    if ci.partition_count == 0 or ci.partition_count > 1024:
        raise ProtocolError(f"cluster_info: unusable partition count {ci.partition_count}")
    for p in ci.partitions:
        if p.partition >= ci.partition_count:
            raise ProtocolError(f"cluster_info: partition {p.partition} out of range")
    return ClusterInfo(
        partition_count=ci.partition_count,
        nodes=tuple(
            NodeInfo(n.node_id, n.client_addr, n.peer_addr, n.zone, _MEMBER_STATES.get(n.state, "unknown"))
            for n in ci.nodes
        ),
        partitions=tuple(PartitionInfo(p.partition, p.leader_id, tuple(p.replicas)) for p in ci.partitions),
        node_id=ci.node_id,
        epoch=ci.epoch,
    )


def decode_response(body: bytes) -> pb.Response:
    try:
        resp: pb.Response = pb.Response.FromString(body)
        return resp
    except Exception as e:  # google.protobuf.message.DecodeError, and bad UTF-8
        raise ProtocolError(f"undecodable answer frame of {len(body)} bytes: {e}") from None


def leader_hint(resp: pb.Response) -> Tuple[int, str]:
    if resp.HasField("leader_hint"):
        return resp.leader_hint.node_id, resp.leader_hint.client_addr
    return 0, ""

