/* A streaming validator for the raft messages a peer sends us, in raft_uv
 * 0.15's wire layout, so that libraft never decodes a message it would
 * misparse. libraft 0.15 trusts every byte of a peer stream (see
 * ../shared/security-repro/README.md): a wrong header length makes it read
 * past its buffer, a large one makes it allocate what the wire says, an
 * entry type it refuses leaves a NULL batch it then dereferences, a type
 * above 2^16 is truncated into another one, and odd entry lengths point its
 * entries past the payload. Every inbound raft byte passes a struct
 * raftwire before raft acts on it (raftguard.h).
 *
 * Normal path: raftwire_feed() takes bytes in any chunks (one at a time
 * works). It buffers one message's preamble and header (bounded by the
 * limits), validates them against raft's layout, decodes a snapshot's
 * configuration, asks the caller's policy check, and only then emits the
 * preamble and header. The payload follows as it arrives: command and
 * barrier entries and snapshot data stream through unbuffered; a RAFT_CHANGE
 * entry is held until it is whole and its configuration decodes, because
 * raft decodes it when it appends it. Failure modes: any refusal returns an
 * error with w->why naming the problem; the stream is then dead (every later
 * feed returns the same error) and the caller must close the connection.
 * Bytes of the refused message already emitted are at most its header and
 * the entries before the refused one; raft, when the connection closes,
 * frees a message whose header it decoded but whose payload it did not get.
 *
 * Wire layout, from canonical/raft v0.15.0 (Debian's libraft 0.15.0). All
 * integers are little endian; "u64" is 8 bytes.
 *
 *   message   = type u64 | header length u64 | header | payload
 *               (uv_encoding.c:181-214; read in uv_recv.c:234-270, which only
 *               refuses a zero header length). Types, include/raft.h:326-331:
 *               1 AppendEntries, 2 AppendEntries result, 3 RequestVote,
 *               4 RequestVote result, 5 InstallSnapshot, 6 TimeoutNow. raft
 *               truncates the type to 16 bits before switching on the full
 *               value (uv_encoding.c:485, 490) and asserts a type above 0
 *               (uv_recv.c:254), so only 1..6 are valid.
 *   AppendEntries header = term | prev log index | prev log term |
 *               leader commit | n entries u64 | n × (term u64 | type u8 |
 *               3 unused | length u32)   (uv_encoding.c:120-132, 281-305).
 *               Its size is computed with a leader id that is never written
 *               (uv_encoding.c:42-51), so raft 0.15 sends 48 + 16n bytes, the
 *               last 8 unused; the decoder reads 40 + 16n (uv_encoding.c:
 *               348-422) without looking at the length. Both are accepted.
 *               n is truncated to 32 bits (uv_encoding.c:356): at most
 *               2^32 - 1 entries, whatever the limit.
 *               Entry types, raft.h:164-166: 1 RAFT_COMMAND, 2 RAFT_BARRIER,
 *               3 RAFT_CHANGE (checked at uv_encoding.c:376; a refusal leaves
 *               n set and entries NULL: the NULL dereference at :500).
 *   AppendEntries payload = the entries' data back to back, NOT padded by
 *               the sender (uv_encoding.c:257-264); raft expects the sum of
 *               the lengths (uv_encoding.c:499-501) but places each entry at
 *               the previous one's end padded to 8 (uv_encoding.c:537-548).
 *               Every entry but the last must therefore be a multiple of 8
 *               long, or raft's entries point past the payload. A zero-length
 *               entry gets no buffer (:537-540), and an all-empty batch
 *               leaves the batch pointer unset (uv_recv.c:268: no payload
 *               read), which raft's reject path frees; raft never sends one
 *               (barriers are 8 bytes, client.c:79), so it is refused.
 *   AppendEntries result header = term | rejected (an index) | last log
 *               index: 24 bytes (uv_encoding.c:53-58, 134-143, 424-434).
 *   RequestVote header = term | candidate id | last log index | last log
 *               term | flags (bit 0 disrupt leader, bit 1 pre-vote): 40
 *               bytes; a 32-byte legacy form has no flags (uv_encoding.c:
 *               17-28, 86-103, 307-327).
 *   RequestVote result header = term | vote granted (raft's bool) | flags
 *               (bit 0 pre-vote): 24 bytes, legacy 16 (uv_encoding.c:30-40,
 *               105-118, 329-346).
 *   InstallSnapshot header = term | last index | last term | conf index |
 *               conf length u64 | configuration | data length u64
 *               (uv_encoding.c:145-161, 436-463). As for AppendEntries the
 *               size counts an unwritten leader id (:60-71): raft sends 56 +
 *               conf length bytes and reads 48 + conf length; both are
 *               accepted. The conf length is not checked against the header
 *               (the over-read of peer-6). Payload = data length bytes; zero
 *               leaves the snapshot buffer unset (uv_recv.c:268, 287), which
 *               raft later frees, so it is refused.
 *   TimeoutNow header = term | last log index | last log term: 24 bytes
 *               (uv_encoding.c:73-78, 163-170, 465-474).
 *   configuration (InstallSnapshot header, RAFT_CHANGE entry data) =
 *               version u8 (1) | n servers u64 | n × (id u64 | address, NUL
 *               terminated | role u8), padded to a multiple of 8 with bytes
 *               never written (configuration.c:214-256). The decoder (configuration.c:
 *               278-333) asserts a non-empty buffer, reads ids and roles
 *               unchecked, bounds only the address; configurationAdd
 *               (configuration.c:114-138) asserts id != 0 and refuses an
 *               unknown role (0 standby, 1 voter, 2 spare: raft.h:88-90) and
 *               duplicate ids or addresses. raft decodes a RAFT_CHANGE entry
 *               when it appends it (replication.c:878, membership.c:126).
 *
 * Beyond the layout, this module refuses what raft never sends: unknown flag
 * bits, a vote granted other than 0 or 1, an entry term of 0, above the
 * message's term, below the previous entry's or the previous log term, an
 * empty configuration, an empty address, and padding bytes beyond 7. Policy
 * (sender a current voter, term sanity) belongs to the caller's check. */
#ifndef TKV_RAFTWIRE_H
#define TKV_RAFTWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message types (raft's RAFT_IO_* values). */
enum raftwire_type {
        RAFTWIRE_APPEND_ENTRIES = 1,
        RAFTWIRE_APPEND_ENTRIES_RESULT = 2,
        RAFTWIRE_REQUEST_VOTE = 3,
        RAFTWIRE_REQUEST_VOTE_RESULT = 4,
        RAFTWIRE_INSTALL_SNAPSHOT = 5,
        RAFTWIRE_TIMEOUT_NOW = 6,
};

/* Entry types (raft's enum raft_entry_type). */
enum raftwire_entry_type {
        RAFTWIRE_COMMAND = 1,
        RAFTWIRE_BARRIER = 2,
        RAFTWIRE_CHANGE = 3,
};

/* Bytes of the type and header length that open every message. */
#define RAFTWIRE_PREAMBLE_BYTES 16

/* Bytes of an AppendEntries header before its entry headers, and of one
 * entry header. */
#define RAFTWIRE_AE_FIXED_BYTES 40
#define RAFTWIRE_AE_ENTRY_BYTES 16

/* Bytes of an InstallSnapshot header besides its configuration (as raft
 * reads it; raft 0.15 sends 8 more). */
#define RAFTWIRE_IS_FIXED_BYTES 48

/* Size of w->why. */
#define RAFTWIRE_WHY_BYTES 160

/* Bounds on what one message may carry; a message beyond one is refused with
 * TKV_ETOOBIG. They also bound the internal buffers: a header holds at most
 * 48 + 16 × entries_max bytes (AppendEntries) or 56 + conf_bytes_max
 * (InstallSnapshot), a held RAFT_CHANGE entry at most conf_bytes_max. */
struct raftwire_limits {
        uint64_t entries_max;       /* entries in one AppendEntries */
        uint64_t entry_bytes_max;   /* one entry's data */
        uint64_t payload_bytes_max; /* one message's payload (entries' data, snapshot data) */
        uint64_t conf_bytes_max;    /* one encoded configuration */
};

/* What the policy check sees of a message whose header is valid. Fields not
 * listed for a type are 0. */
struct raftwire_msg {
        unsigned type;           /* enum raftwire_type */
        uint64_t term;           /* every type */
        uint64_t prev_log_index; /* AppendEntries */
        uint64_t prev_log_term;  /* AppendEntries */
        uint64_t leader_commit;  /* AppendEntries */
        uint64_t n_entries;      /* AppendEntries */
        uint64_t payload_bytes;  /* AppendEntries (sum of lengths), InstallSnapshot (data) */
        uint64_t rejected;       /* AppendEntries result: 0, or the index refused */
        uint64_t last_log_index; /* AppendEntries result, RequestVote, TimeoutNow */
        uint64_t last_log_term;  /* RequestVote, TimeoutNow */
        uint64_t candidate_id;   /* RequestVote */
        uint64_t flags;    /* RequestVote (bit 0 disrupt leader, 1 pre-vote), result (0 pre-vote) */
        bool vote_granted; /* RequestVote result */
        uint64_t last_index;   /* InstallSnapshot */
        uint64_t last_term;    /* InstallSnapshot */
        uint64_t conf_index;   /* InstallSnapshot */
        uint64_t conf_servers; /* InstallSnapshot: servers in its configuration */
};

/* The caller's policy: return true to let the message through; false to
 * refuse it, with *why (a static string, may stay NULL) saying why. m is
 * borrowed for the call. */
typedef bool (*raftwire_check_fn)(void *arg, const struct raftwire_msg *m, const char **why);

/* Bytes approved for raft, in order; borrowed for the call (the caller
 * copies). Must not call raftwire_feed or raftwire_close. */
typedef void (*raftwire_emit_fn)(void *arg, const uint8_t *bytes, size_t n);

enum raftwire_state {
        RAFTWIRE_HEADER,   /* collecting preamble and header */
        RAFTWIRE_ENTRIES,  /* AppendEntries payload */
        RAFTWIRE_SNAPSHOT, /* InstallSnapshot data */
        RAFTWIRE_DEAD,     /* refused: every feed returns err */
};

struct raftwire {
        struct raftwire_limits limits; /* copied at init */
        raftwire_check_fn check;       /* may be NULL: everything valid passes */
        raftwire_emit_fn emit;
        void *arg; /* passed to check and emit */
        enum raftwire_state state;
        int err;                      /* the refusal (RAFTWIRE_DEAD) */
        uint8_t *buf;                 /* owned: preamble + header (kept until the payload ends) */
        size_t buf_cap;               /* allocated bytes of buf */
        uint8_t *hold;                /* owned: a RAFT_CHANGE entry until it is whole */
        size_t hold_cap;              /* allocated bytes of hold */
        uint64_t got;                 /* bytes of the current unit received */
        uint64_t want;                /* bytes of the current unit (preamble+header, entry, data) */
        uint64_t entry;               /* AppendEntries: the entry being received */
        uint64_t entry_type;          /* its type */
        struct raftwire_msg msg;      /* the message being received */
        char why[RAFTWIRE_WHY_BYTES]; /* the refusal, "" until one */
};

/* Start a stream. limits is copied; check (may be NULL), emit and arg are
 * kept until raftwire_close. Allocates nothing. */
void raftwire_init(struct raftwire *w, const struct raftwire_limits *limits,
                   raftwire_check_fn check, raftwire_emit_fn emit, void *arg);

/* Validate n more bytes of the stream (in borrowed) and emit what raft may
 * see. Returns 0; or TKV_EPROTO (malformed, or refused by the check),
 * TKV_ETOOBIG (beyond a limit), TKV_ENOMEM, with w->why set, after which the
 * stream is dead and every call returns the same code. */
int raftwire_feed(struct raftwire *w, const uint8_t *in, size_t n);

/* True between messages: nothing of a message is pending. */
bool raftwire_idle(const struct raftwire *w);

/* Validate an encoded configuration (p, len; borrowed) as raft would decode
 * it, within conf_bytes_max; *servers receives its server count. Returns 0 or
 * TKV_EPROTO/TKV_ETOOBIG with why (RAFTWIRE_WHY_BYTES) set. */
int raftwire_conf_check(const uint8_t *p, uint64_t len, uint64_t conf_bytes_max, uint64_t *servers,
                        char *why);

/* Free the internal buffers; w may be initialised again. */
void raftwire_close(struct raftwire *w);

#endif
