/* The tunekv CLI's shared declarations: what the command line asked for
 * (struct cli_args, filled by args.c), the exit codes (one per class of
 * outcome, chosen in output.c), and the functions each file offers the
 * others. The CLI is split by concern: args.c parses argv, commands.c runs
 * one command on include/tunekv.h, output.c prints its outcome for people
 * or as JSON, and tunekv.c's main wires them together. */
#ifndef TKV_CLI_H
#define TKV_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "tunekv.h"

/* Exit codes, one per class of outcome. */
enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_NOT_FOUND = 1,
        CLI_EXIT_CONDITION = 2,
        CLI_EXIT_USAGE = 3,
        CLI_EXIT_CONNECT = 4,
        CLI_EXIT_UNKNOWN = 5,
        CLI_EXIT_RETRY = 6,
        CLI_EXIT_INVALID = 7,
        CLI_EXIT_OTHER = 8,
        CLI_EXIT_DENIED = 9, /* UNAUTHENTICATED, PERMISSION_DENIED */
};

/* Room for one message about the token files. */
#define CLI_TOKEN_ERR_BYTES 512

/* Everything the command line asked for. */
struct cli_args {
        const char *endpoints;  /* NULL: $TUNEKV_ENDPOINTS or the default */
        struct tkv_options tls; /* only the tls fields: --tls, --cacert, --cert, --key */
        bool json;
        bool verbose;
        unsigned timeout_ms; /* 0: the library's default */
        struct tkv_read_options read;
        const char *read_flag; /* first read option given, for errors */
        bool level_set;        /* --consistency given (mget's default is sequential) */
        struct tkv_write_options write;
        const char *write_flag;      /* first write option given, for errors */
        bool node_set;               /* status --node given */
        uint32_t node_id;            /* status --node N */
        const char *token_in;        /* --token-in FILE, or NULL */
        const char *token_out;       /* --token-out FILE, or NULL */
        const char *user;            /* --user NAME, or NULL: no AUTH */
        const char *password_file;   /* --password-file FILE, or NULL: $TUNEKV_PASSWORD */
        const char *zone;            /* --zone Z: member add's zone, else the client's; or NULL */
        const char *key_tag;         /* lease grant --key-tag T, or NULL */
        bool forever;                /* lease keepalive --forever */
        struct tkv_scan scan;        /* scan: --from, --to, --limit, --keys-only, --count */
        bool scan_page;              /* scan --page: one page, with its cursor */
        const char *scan_cursor;     /* scan --cursor HEX: the page after it */
        const char *scan_flag;       /* first scan option given, for errors */
        struct tkv_watch_spec watch; /* watch: KEY or --prefix */
        const char *watch_from;      /* watch --from-index N or P:N,... */
        uint64_t watch_events;       /* watch --events N; 0: no limit */
        int watch_idle_ms;           /* watch --idle-ms N; 0: no limit */
        const char *watch_flag;      /* first watch option given, for errors */
        const char *command;         /* canonical: put, get, delete, cas, status, user, role,
                                        member, transfer-leader */
        char **operands;             /* after the command */
        int n_operands;
        /* Filled once the request ran (get, put, del, cas). */
        bool have_token;                             /* token_hex holds the session token */
        char token_hex[2 * TKV_TOKEN_BYTES_MAX + 1]; /* lowercase hex; "" when empty */
        char token_error[CLI_TOKEN_ERR_BYTES];       /* --token-out failed: why */
};

/* A keyword accepted by an option and the value it stands for. */
struct cli_word {
        const char *name;
        int value;
};

/* What STATUS of one node gave. */
struct cli_node_view {
        uint32_t node_id;
        const char *client_addr; /* borrowed from the cluster info */
        bool done;
        int status;                   /* TKV_OK: node is set */
        char message[256];            /* why the node is down */
        struct tkv_node_status *node; /* malloc'd copy, or NULL */
        /* By the member list when known: a joining node that does not
         * answer is not down (it may not run yet), a removed one is not
         * asked. */
        enum tkv_member_state state;
};

/* ---- args.c ---- */

/* Keyword tables shared with output.c, which prints the names back. */
extern const struct cli_word args_levels[];
extern const struct cli_word args_acks[];

/* Parse argv into a (caller memory; it borrows argv's strings). Returns -1
 * to run the command, else an exit code: --help and --version print and
 * return CLI_EXIT_OK, a usage error is reported and returns CLI_EXIT_USAGE. */
int args_parse(struct cli_args *a, int argc, char **argv);

/* The password for --user into out (len bytes): the first line of
 * --password-file, else $TUNEKV_PASSWORD, else "". Returns -1 to go on,
 * else the exit code of the failure it reported. */
int args_password(struct cli_args *a, char *out, size_t len);

/* A decimal number up to max into *out. Returns 0, or -1 for anything else
 * (sign, spaces, overflow). s is borrowed. */
int args_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* ---- commands.c: each command's request, on include/tunekv.h ---- */

/* Load --token-in into c's session. Returns -1 to go on, else the exit code
 * of the failure it reported. c and a are borrowed. */
int commands_token_load(struct tkv_client *c, const struct cli_args *a);

/* get, the writes (put, delete, cas) and status. Each runs its request on c,
 * reports the outcome and returns the exit code. c and a are borrowed; get
 * and the writes store the session token into a (and --token-out). */
int commands_get(struct tkv_client *c, struct cli_args *a);
/* mget K1 K2 ...: tkv_get_many. */
int commands_mget(struct tkv_client *c, struct cli_args *a);

/* ---- scan.c ---- */

/* scan [PREFIX] (or --from A --to B): every page, or one with --page;
 * prints the keys (and values), or the count; returns the exit code. */
int scan_run(struct tkv_client *c, struct cli_args *a);

/* ---- watch.c ---- */

/* watch KEY | --prefix P: each change as it is applied, until interrupted,
 * --events or --idle-ms; returns the exit code. */
int watch_run(struct tkv_client *c, struct cli_args *a);

/* After a request: the session token into a->token_hex (for -v) and into
 * --token-out; a failure to save is kept in a->token_error. */
void commands_token_save(struct tkv_client *c, struct cli_args *a);
int commands_write(struct tkv_client *c, struct cli_args *a);
int commands_status(struct tkv_client *c, const struct cli_args *a);

/* ---- txn.c: tunekv txn, a JSON document on stdin ---- */

/* One op of the document, for reporting its result (strings point into
 * the document). */
struct cli_txn_op {
        enum tkv_txn_branch branch;
        enum tkv_txn_op_type type;
        const char *key;
        size_t key_len;
        const char *value; /* put */
        size_t value_len;
        uint64_t lease; /* put: "lease", 0 = none */
};

/* Read the document, run the TXN, report it; returns the exit code (0 the
 * success ops ran, 2 the failure ops ran). c and a are borrowed. */
int txn_run(struct tkv_client *c, struct cli_args *a);

/* ---- users.c: tunekv user ... and tunekv role ... ---- */

/* Run the user or role command in a (a->operands: the verb, then its
 * arguments; a new password is read from stdin's first line), report it
 * and return the exit code. c and a are borrowed. */
int users_run(struct tkv_client *c, struct cli_args *a);

/* ---- members.c: tunekv member list, tunekv transfer-leader ---- */

/* Run `member list` (a->operands: the verb) or `transfer-leader PARTITION
 * NODE`, report it and return the exit code. c and a are borrowed. */
int members_run(struct tkv_client *c, const struct cli_args *a);
int members_transfer_leader(struct tkv_client *c, const struct cli_args *a);
/* Run `move PARTITION FROM TO` (waits until done) or `move cancel PARTITION`. */
int members_move(struct tkv_client *c, const struct cli_args *a);

/* ---- leases.c: tunekv lease grant|keepalive|revoke|info|list ---- */

/* Run the lease command in a (a->operands: the verb, then its argument),
 * report it and return the exit code. c and a are borrowed. */
int leases_run(struct tkv_client *c, const struct cli_args *a);

/* ---- output.c: text for people, or one JSON object ---- */

/* The exit code of a command that ended with status. */
int output_exit(const struct cli_args *a, int status);

/* Report a failed request (or a usage error, res NULL) and return the exit
 * code for status. a, message and res are borrowed; message may be NULL. */
int output_fail(const struct cli_args *a, int status, const char *message,
                const struct tkv_result *res);

/* output_fail with TKV_USAGE_ERROR and a message formatted from fmt, whose
 * one conversion is %s for arg. All borrowed. */
int output_usage_error(const struct cli_args *a, const char *fmt, const char *arg);

/* A user or role request that succeeded: what it listed, one per line (a
 * role's grants as "PERMISSION PREFIX"), or a JSON object; returns the
 * exit code. Both borrowed. */
int output_user_role(const struct cli_args *a, const struct tkv_user_role_result *r);

/* The members of the cluster map, one per line ("node ID STATE zone ZONE
 * CLIENT_ADDR PEER_ADDR"), or a JSON object; and a finished transfer of
 * leadership. Return the exit code. Borrowed. */
int output_members(const struct cli_args *a, const struct tkv_member_list *l);
int output_transferred(const struct cli_args *a, uint32_t partition, uint32_t node_id);
/* A finished replica move. */
int output_moved(const struct cli_args *a, uint32_t partition, uint32_t from, uint32_t to);
/* A member change that applied: verb "added" or "removed". */
int output_member_changed(const struct cli_args *a, const char *verb, uint32_t node_id,
                          uint64_t epoch);

/* A lease after verb (granted, kept alive, revoked, info): "lease ID VERB:
 * ttl ..." and its keys one per line, or a JSON object; and leases, one
 * per line. Return the exit code. Borrowed. */
int output_lease(const struct cli_args *a, const char *verb, const struct tkv_lease *l);
int output_leases(const struct cli_args *a, const struct tkv_lease *l, size_t n);

/* A value read by get, a write's acknowledgement, one node's status, and
 * the whole cluster (the cluster info, and views with one entry per node
 * of ci). Everything is borrowed. */
void output_get(const struct cli_args *a, const struct tkv_result *res);
void output_mget(const struct cli_args *a, const struct tkv_result *res);
void output_write(const struct cli_args *a, const struct tkv_result *res);
/* A scan: begin, each page (first: the first), and the end with the keys
 * counted, the pages read and the cursor (hex) when a single page (--page)
 * has more after it, else NULL. */
void output_scan_begin(const struct cli_args *a);
void output_scan_page(const struct cli_args *a, const struct tkv_result *page, bool first);
void output_scan_end(const struct cli_args *a, uint64_t count, unsigned pages, const char *cursor);
/* One watch event: a line ("put KEY VALUE" / "delete KEY", with -v its
 * partition, index and timestamp), or one JSON object per line. */
void output_watch_event(const struct cli_args *a, const struct tkv_watch_event *ev);
/* A TXN's outcome: the branch that ran, then one line (or JSON object) per
 * result, with the key of its op in ops (n_ops ops of both branches, in
 * document order). */
void output_txn(const struct cli_args *a, const struct tkv_result *res,
                const struct cli_txn_op *ops, size_t n_ops);
void output_node_status(const struct cli_args *a, const struct tkv_node_status *n);
/* Prints the cluster and its health; returns the exit code of `status`:
 * 0 every partition healthy, 1 some degraded (a replica down or lagging),
 * 2 some unavailable (no leader, not ready, or no majority of replicas). */
int output_cluster(const struct cli_args *a, const struct tkv_cluster_info *ci,
                   const struct cli_node_view *views, const struct tkv_member_list *members);

#endif /* TKV_CLI_H */
