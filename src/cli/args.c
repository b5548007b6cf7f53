/* The CLI's command line: options and their keywords, the command word and
 * its operands, and --help. Parsing only fills struct cli_args and checks
 * that the options fit the command; nothing here talks to a node. A usage
 * error is reported through output.c, so that it too comes out as JSON
 * when --json is anywhere on the command line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Long options without a short form. */
enum {
        OPT_ENDPOINTS = 256,
        OPT_TLS,
        OPT_CACERT,
        OPT_CERT,
        OPT_KEY,
        OPT_SERVER_NAME,
        OPT_JSON,
        OPT_TIMEOUT,
        OPT_VERSION,
        OPT_CONSISTENCY,
        OPT_SESSION_FLAGS,
        OPT_MIN_INDEX,
        OPT_AT,
        OPT_MAX_STALENESS,
        OPT_MAX_LAG,
        OPT_ROUTE,
        OPT_ON_UNMET,
        OPT_MAX_WAIT,
        OPT_STRICT,
        OPT_ACK,
        OPT_NODE,
        OPT_TOKEN_IN,
        OPT_TOKEN_OUT,
        OPT_USER,
        OPT_PASSWORD_FILE,
        OPT_ZONE,
        OPT_LEASE,
        OPT_KEY_TAG,
        OPT_FOREVER,
        OPT_PREFIX, /* OPT_PREFIX .. OPT_IDLE_MS: watch's (args_watch_option) */
        OPT_FROM_INDEX,
        OPT_EVENTS,
        OPT_IDLE_MS,
        OPT_LIMIT, /* OPT_LIMIT .. OPT_CURSOR: scan's, kept together (args_option) */
        OPT_KEYS_ONLY,
        OPT_COUNT,
        OPT_FROM,
        OPT_TO,
        OPT_PAGE,
        OPT_CURSOR,
};

const struct cli_word args_levels[] = {
    {"linearizable", TKV_LINEARIZABLE},
    {"sequential", TKV_SEQUENTIAL},
    {"causal", TKV_CAUSAL},
    {"session", TKV_SESSION},
    {"bounded", TKV_BOUNDED_STALENESS},
    {"eventual", TKV_EVENTUAL},
    {NULL, 0},
};

static const struct cli_word args_routes[] = {
    {"leader", TKV_ROUTE_LEADER},
    {"follower", TKV_ROUTE_FOLLOWER_PREFERRED},
    {"nearest", TKV_ROUTE_NEAREST},
    {"any", TKV_ROUTE_ANY},
    {NULL, 0},
};

static const struct cli_word args_on_unmet[] = {
    {"wait", TKV_ON_UNMET_WAIT},
    {"fail", TKV_ON_UNMET_FAIL},
    {"forward", TKV_ON_UNMET_FORWARD_LEADER},
    {"stale", TKV_ON_UNMET_SERVE_STALE_LABELLED},
    {NULL, 0},
};

const struct cli_word args_acks[] = {
    {"committed", TKV_ACK_COMMITTED},
    {"all", TKV_ACK_ALL_REPLICAS},
    {"leader", TKV_ACK_LEADER_ACCEPTED},
    {NULL, 0},
};

static const struct cli_word args_session_flags[] = {
    {"ryw", TKV_READ_YOUR_WRITES},
    {"mr", TKV_MONOTONIC_READS},
    {"mw", TKV_MONOTONIC_WRITES},
    {"wfr", TKV_WRITES_FOLLOW_READS},
    {NULL, 0},
};

static void args_usage(FILE *f)
{
        fputs("Usage: tunekv [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Commands:\n"
              "  put KEY VALUE                      write VALUE (\"-\" reads it from stdin)\n"
              "  get KEY                            read KEY\n"
              "  del KEY | delete KEY               delete KEY\n"
              "  cas KEY EXPECTED_VERSION VALUE     write VALUE if KEY's version is\n"
              "                                     EXPECTED_VERSION (0: KEY must not exist)\n"
              "  txn                                one transaction in one partition, from a\n"
              "                                     JSON document on stdin: compares, then\n"
              "                                     the success ops, or else the failure\n"
              "                                     ops (then exit 2), for example\n"
              "                                     {\"compare\": [{\"key\": K, \"version\": N}],\n"
              "                                      \"success\": [{\"put\": K, \"value\": V}],\n"
              "                                      \"failure\": [{\"get\": K}]}; compares\n"
              "                                     also take create_index, value, exists,\n"
              "                                     op (= != < >); ops also delete; a put\n"
              "                                     may take \"lease\": ID\n"
              "  status                             every partition (leader, replicas, term,\n"
              "                                     commit and applied index of each replica)\n"
              "                                     and every node (up or down), with a\n"
              "                                     health word each (ok, degraded,\n"
              "                                     unavailable) and a summary\n"
              "  status --node N                    node N and the partitions it hosts\n"
              "                                     (N 0: the first endpoint that answers)\n"
              "  user add|passwd NAME               add NAME, or change its password (root's\n"
              "                                     too): the password is stdin's first line;\n"
              "                                     passwd as --user NAME needs no admin (the\n"
              "                                     old password is NAME's --password-file)\n"
              "  user del NAME | user get NAME      delete NAME; list its roles\n"
              "  user grant|revoke NAME ROLE        give NAME the role ROLE, or take it away\n"
              "  user list                          every user\n"
              "  role add|del|get NAME              add, delete, or list the grants of NAME\n"
              "  role grant NAME PERM [PREFIX]      let NAME do PERM (read, write, readwrite,\n"
              "                                     admin) on keys starting with PREFIX\n"
              "                                     (none: every key)\n"
              "  role revoke NAME [PREFIX]          remove NAME's grant on PREFIX\n"
              "  role list                          every role\n"
              "                                     (user and role need --user with admin on\n"
              "                                     a cluster with [auth] enabled)\n"
              "  member list                        the members of the cluster map: id,\n"
              "                                     state, zone, addresses, and the epoch\n"
              "  member add ID CLIENT_ADDR PEER_ADDR [--zone Z]\n"
              "                                     record node ID as a new member (admin;\n"
              "                                     state joining, no replicas yet)\n"
              "  member remove ID                   remove member ID (admin; never a voter):\n"
              "                                     its replicas move to others first\n"
              "  member replace OLD NEW [CLIENT_ADDR PEER_ADDR [--zone Z]]\n"
              "                                     OLD's replicas move to NEW (added with\n"
              "                                     the addresses given), then OLD is removed\n"
              "  member update ID [CLIENT_ADDR|- [PEER_ADDR]] [--zone Z]\n"
              "                                     give member ID other addresses and/or\n"
              "                                     zone (admin); restart the node with the\n"
              "                                     new addresses\n"
              "  transfer-leader PARTITION NODE     make NODE lead PARTITION (admin); NODE\n"
              "                                     keeps it until it restarts\n"
              "  move PARTITION FROM TO             move PARTITION's replica from node FROM\n"
              "                                     to node TO (admin); waits until done\n"
              "  move cancel PARTITION              give up PARTITION's move in progress\n"
              "  lease grant TTL_MS [--key-tag T]   a lease in the partition of keys tagged\n"
              "                                     {T}; prints its id\n"
              "  lease keepalive ID [--forever]     start its TTL again (--forever: every\n"
              "                                     TTL/3 until it fails)\n"
              "  lease revoke ID | lease info ID    end it now (its keys are deleted); its\n"
              "                                     TTL, remaining time and keys\n"
              "  lease list                         every lease of every partition\n"
              "  put KEY VALUE --lease ID           (and cas) attach KEY to the lease: it is\n"
              "                                     deleted when the lease ends\n"
              "  scan [PREFIX]                      the keys starting with PREFIX (none: all),\n"
              "                                     in key order, with their values, every\n"
              "                                     page (sequential unless --consistency)\n"
              "  scan --from A [--to B]             the keys in [A, B) (no --to: to the end)\n"
              "  watch KEY | watch --prefix P       print each change of KEY (or of every key\n"
              "                                     under P) as it is applied, one line each,\n"
              "                                     until interrupted (sequential unless\n"
              "                                     --consistency)\n"
              "\n"
              "Options (before or after the command; \"--\" ends them):\n"
              "  --endpoints H:P[,H:P...]  nodes to try in order (default: $TUNEKV_ENDPOINTS,\n"
              "                            else 127.0.0.1:7001; IPv6 as [addr]:port)\n"
              "  --cacert FILE             TLS: the servers' certificates must chain to the\n"
              "                            CAs in FILE (PEM; default: $TUNEKV_CACERT)\n"
              "  --cert FILE, --key FILE   TLS: our certificate and key, for servers that\n"
              "                            require client certificates\n"
              "  --tls                     TLS with the system's CAs\n"
              "  --server-name NAME        TLS: the name the servers' certificates carry\n"
              "                            (default: the endpoint's host)\n"
              "  --json                    print one JSON object on stdout\n"
              "  --timeout-ms N            deadline of the request (default 5000)\n"
              "  -v, --verbose             more detail (get: the read receipt; writes: the\n"
              "                            acknowledgement; both: the session token)\n"
              "  --zone Z                  the zone this client runs in (default: $TKV_ZONE):\n"
              "                            --route nearest prefers replicas in it (member\n"
              "                            add, replace, update: the member's zone instead)\n"
              "  --user NAME               AUTH as NAME (clusters with [auth] enabled)\n"
              "  --password-file FILE      NAME's password: FILE's first line (default:\n"
              "                            $TUNEKV_PASSWORD)\n"
              "  -h, --help                this text\n"
              "  --version                 print the version\n"
              "\n"
              "Read options (get):\n"
              "  --consistency LEVEL       linearizable (default), sequential, causal,\n"
              "                            session, bounded, eventual\n"
              "  --session-flags F[,F...]  ryw, mr, mw, wfr (read-your-writes, monotonic\n"
              "                            reads, monotonic writes, writes-follow-reads)\n"
              "  --min-index N             serve only at an applied index >= N\n"
              "  --at TS                   the state as of write timestamp TS (a receipt's\n"
              "                            or a write's), with sequential or eventual\n"
              "  --max-staleness-ms N      bounded staleness: at most N ms old\n"
              "  --max-lag-entries N       bounded staleness: at most N entries behind\n"
              "  --route R                 leader (default), follower, nearest, any\n"
              "  --on-unmet A              wait (default), fail, forward, stale\n"
              "  --max-wait-ms N           how long on-unmet=wait may wait\n"
              "  --strict                  fail rather than answer weaker than asked\n"
              "  --node N                  send the read to node N (it serves it when it\n"
              "                            can, else forwards it)\n"
              "\n"
              "Scan options (scan):\n"
              "  --limit N                 keys per page (default and cap: the server's\n"
              "                            scan_limit_max)\n"
              "  --keys-only               keys without values\n"
              "  --count                   print how many keys, not the keys\n"
              "  --page                    one page only, then its cursor if more follow\n"
              "  --cursor HEX              one page, after the cursor a --page printed\n"
              "\n"
              "Watch options (watch):\n"
              "  --from-index N|P:N[,P:N...]  resume: the changes after index N (of the\n"
              "                            watch's partition; P:N for partition P)\n"
              "  --keys-only               events without values\n"
              "  --events N                stop after N events\n"
              "  --idle-ms N               stop once no event came for N ms\n"
              "\n"
              "Write options (put, del, cas):\n"
              "  --ack A                   committed (default), all, leader\n"
              "\n"
              "Session (get, put, del, cas, txn):\n"
              "  --token-in FILE           start from the session token in FILE\n"
              "  --token-out FILE          save the session token to FILE afterwards\n"
              "\n"
              "Writes and linearizable reads go to the leader of the key's partition; other\n"
              "reads go where --route says. On NOT_LEADER, UNAVAILABLE, NO_QUORUM, BUSY or a\n"
              "lost connection they are retried until --timeout-ms passes (a read below\n"
              "linearizable on another replica). BOUND_UNMET is reported, not retried. A\n"
              "write is applied at most once even when retried.\n"
              "\n"
              "Exit codes:\n"
              "  0  OK\n"
              "  1  NOT_FOUND\n"
              "  2  CONDITION_FAILED (cas); txn ran its failure ops\n"
              "  3  usage error\n"
              "  4  cannot connect, or the connection closed (CONNECT_FAILED, CONNECTION_CLOSED)\n"
              "  5  TIMEOUT or OUTCOME_UNKNOWN (a write may or may not have happened)\n"
              "  6  retryable: NOT_LEADER, NO_QUORUM, BUSY, UNAVAILABLE, BOUND_UNMET\n"
              "  7  INVALID_ARGUMENT or TOO_LARGE\n"
              "  8  anything else (INTERNAL, PROTOCOL_ERROR, NO_MEMORY), or the request\n"
              "     succeeded but --token-out could not be written\n"
              "  9  UNAUTHENTICATED or PERMISSION_DENIED\n"
              "status (the whole cluster) exits by health instead: 0 every partition ok,\n"
              "  1 some degraded (a replica down, or more than 1000 entries behind),\n"
              "  2 some unavailable (no leader, not ready, or no majority answering)\n",
              f);
}

int args_password(struct cli_args *a, char *out, size_t len)
{
        const char *env = getenv("TUNEKV_PASSWORD");
        FILE *f;
        size_t n;

        out[0] = '\0';
        if (a->password_file == NULL) {
                snprintf(out, len, "%s", env != NULL ? env : "");
                return -1;
        }
        f = fopen(a->password_file, "r");
        if (f == NULL) {
                return output_usage_error(a, "--password-file %s: cannot open it",
                                          a->password_file);
        }
        if (fgets(out, (int)len, f) == NULL) {
                out[0] = '\0';
        }
        fclose(f);
        n = strlen(out);
        while (n > 0 && strchr(" \t\r\n", out[n - 1]) != NULL) {
                out[--n] = '\0';
        }
        return -1;
}

int args_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
        char *end = NULL;
        unsigned long long v;

        if (s[0] < '0' || s[0] > '9') {
                return -1;
        }
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max) {
                return -1;
        }
        *out = v;
        return 0;
}

static int args_parse_word(const struct cli_word *words, const char *s, int *out)
{
        for (; words->name != NULL; words++) {
                if (strcmp(words->name, s) == 0) {
                        *out = words->value;
                        return 0;
                }
        }
        return -1;
}

/* "ryw,mr" into TKV_READ_YOUR_WRITES | TKV_MONOTONIC_READS. */
static int args_parse_flags(const char *s, unsigned *out)
{
        char word[16];
        size_t len;
        int bit;

        *out = 0;
        while (*s != '\0') {
                len = strcspn(s, ",");
                if (len == 0 || len >= sizeof(word)) {
                        return -1;
                }
                memcpy(word, s, len);
                word[len] = '\0';
                if (args_parse_word(args_session_flags, word, &bit) != 0) {
                        return -1;
                }
                *out |= (unsigned)bit;
                s += len;
                s += *s == ',';
        }
        return 0;
}

/* Apply one read option; returns 0 or -1 for a bad value. */
static int args_read_option(struct tkv_read_options *r, int opt, const char *v)
{
        uint64_t n = 0;
        int w = 0;

        switch (opt) {
        case OPT_SESSION_FLAGS:
                return args_parse_flags(v, &r->session_flags);
        case OPT_MIN_INDEX:
                return args_parse_u64(v, UINT64_MAX, &r->min_index);
        case OPT_AT:
                return args_parse_u64(v, UINT64_MAX, &r->at_timestamp);
        case OPT_MAX_LAG:
                return args_parse_u64(v, UINT64_MAX, &r->max_lag_entries);
        case OPT_STRICT:
                r->strict = true;
                return 0;
        case OPT_MAX_STALENESS:
        case OPT_MAX_WAIT:
                if (args_parse_u64(v, UINT_MAX, &n) != 0) {
                        return -1;
                }
                *(opt == OPT_MAX_WAIT ? &r->max_wait_ms : &r->max_staleness_ms) = (unsigned)n;
                return 0;
        case OPT_CONSISTENCY:
                if (args_parse_word(args_levels, v, &w) != 0) {
                        return -1;
                }
                r->level = (enum tkv_consistency)w;
                return 0;
        case OPT_ROUTE:
                if (args_parse_word(args_routes, v, &w) != 0) {
                        return -1;
                }
                r->route = (enum tkv_route)w;
                return 0;
        case OPT_ON_UNMET:
                if (args_parse_word(args_on_unmet, v, &w) != 0) {
                        return -1;
                }
                r->on_unmet = (enum tkv_on_unmet)w;
                return 0;
        }
        return -1;
}

static const struct option args_options[] = {
    {"endpoints", required_argument, NULL, OPT_ENDPOINTS},
    {"tls", no_argument, NULL, OPT_TLS},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"server-name", required_argument, NULL, OPT_SERVER_NAME},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"consistency", required_argument, NULL, OPT_CONSISTENCY},
    {"session-flags", required_argument, NULL, OPT_SESSION_FLAGS},
    {"min-index", required_argument, NULL, OPT_MIN_INDEX},
    {"at", required_argument, NULL, OPT_AT},
    {"max-staleness-ms", required_argument, NULL, OPT_MAX_STALENESS},
    {"max-lag-entries", required_argument, NULL, OPT_MAX_LAG},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"on-unmet", required_argument, NULL, OPT_ON_UNMET},
    {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"ack", required_argument, NULL, OPT_ACK},
    {"node", required_argument, NULL, OPT_NODE},
    {"token-in", required_argument, NULL, OPT_TOKEN_IN},
    {"token-out", required_argument, NULL, OPT_TOKEN_OUT},
    {"user", required_argument, NULL, OPT_USER},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"zone", required_argument, NULL, OPT_ZONE},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"key-tag", required_argument, NULL, OPT_KEY_TAG},
    {"forever", no_argument, NULL, OPT_FOREVER},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"from-index", required_argument, NULL, OPT_FROM_INDEX},
    {"events", required_argument, NULL, OPT_EVENTS},
    {"idle-ms", required_argument, NULL, OPT_IDLE_MS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"keys-only", no_argument, NULL, OPT_KEYS_ONLY},
    {"count", no_argument, NULL, OPT_COUNT},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"page", no_argument, NULL, OPT_PAGE},
    {"cursor", required_argument, NULL, OPT_CURSOR},
    {NULL, 0, NULL, 0},
};

/* Long name of option opt, for messages. */
static const char *args_option_name(int opt)
{
        const struct option *o;

        for (o = args_options; o->name != NULL; o++) {
                if (o->val == opt) {
                        return o->name;
                }
        }
        return "?";
}

/* The lease options: --lease (a write option), --key-tag, --forever.
 * Returns -1 to go on, else an exit code; 0 when opt is none of them. */
static int args_lease_option(struct cli_args *a, int opt, const char *v)
{
        switch (opt) {
        case OPT_LEASE:
                if (args_parse_u64(v, UINT64_MAX, &a->write.lease) != 0 || a->write.lease == 0) {
                        return output_usage_error(a, "--lease: expected a lease id, got \"%s\"", v);
                }
                a->write_flag = a->write_flag != NULL ? a->write_flag : "--lease";
                return -1;
        case OPT_KEY_TAG:
                a->key_tag = v;
                return -1;
        case OPT_FOREVER:
                a->forever = true;
                return -1;
        }
        return 0;
}

/* One of watch's options. Returns -1 to go on, else an exit code. */
static int args_watch_option(struct cli_args *a, int opt, const char *v)
{
        uint64_t n = 0;

        a->watch_flag = a->watch_flag != NULL ? a->watch_flag : args_option_name(opt);
        switch (opt) {
        case OPT_PREFIX:
                a->watch.key = v;
                a->watch.key_len = strlen(v);
                a->watch.prefix = true;
                break;
        case OPT_FROM_INDEX:
                a->watch_from = v;
                break;
        case OPT_EVENTS:
                if (args_parse_u64(v, UINT64_MAX, &n) != 0 || n == 0) {
                        return output_usage_error(a, "--events: expected a number > 0, got \"%s\"",
                                                  v);
                }
                a->watch_events = n;
                break;
        default:
                if (args_parse_u64(v, INT32_MAX, &n) != 0 || n == 0) {
                        return output_usage_error(a, "--idle-ms: expected a number > 0, got \"%s\"",
                                                  v);
                }
                a->watch_idle_ms = (int)n;
                break;
        }
        return -1;
}

/* One of scan's options. Returns -1 to go on, else an exit code. */
static int args_scan_option(struct cli_args *a, int opt, const char *v)
{
        uint64_t n = 0;

        a->scan_flag = a->scan_flag != NULL ? a->scan_flag : args_option_name(opt);
        switch (opt) {
        case OPT_LIMIT:
                if (args_parse_u64(v, UINT32_MAX, &n) != 0) {
                        return output_usage_error(a, "--limit: expected a number, got \"%s\"", v);
                }
                a->scan.limit = (uint32_t)n;
                break;
        case OPT_KEYS_ONLY:
                a->scan.keys_only = true;
                break;
        case OPT_COUNT:
                a->scan.count_only = true;
                break;
        case OPT_FROM:
                a->scan.start = v;
                a->scan.start_len = strlen(v);
                break;
        case OPT_TO:
                a->scan.end = v;
                a->scan.end_len = strlen(v);
                break;
        case OPT_PAGE:
                a->scan_page = true;
                break;
        default:
                a->scan_cursor = v;
                a->scan_page = true;
                break;
        }
        return -1;
}

/* Handle one option of getopt_long. Returns -1 to go on, else an exit code
 * (help and version exit 0). */
static int args_option(struct cli_args *a, int opt, const char *v)
{
        uint64_t n = 0;
        int w = 0;

        if (opt == OPT_LEASE || opt == OPT_KEY_TAG || opt == OPT_FOREVER) {
                return args_lease_option(a, opt, v);
        }
        if (opt >= OPT_LIMIT && opt <= OPT_CURSOR) {
                return args_scan_option(a, opt, v);
        }
        if (opt >= OPT_PREFIX && opt <= OPT_IDLE_MS) {
                return args_watch_option(a, opt, v);
        }
        switch (opt) {
        case OPT_ENDPOINTS:
                a->endpoints = v;
                return -1;
        case OPT_TLS:
                a->tls.tls = true;
                return -1;
        case OPT_CACERT:
                a->tls.tls_ca_file = v;
                return -1;
        case OPT_CERT:
                a->tls.tls_cert_file = v;
                return -1;
        case OPT_KEY:
                a->tls.tls_key_file = v;
                return -1;
        case OPT_SERVER_NAME:
                a->tls.tls_server_name = v;
                return -1;
        case OPT_JSON:
                a->json = true;
                return -1;
        case 'v':
                a->verbose = true;
                return -1;
        case 'h':
                args_usage(stdout);
                return CLI_EXIT_OK;
        case OPT_VERSION:
                printf("tunekv %s\n", TKV_VERSION);
                return CLI_EXIT_OK;
        case OPT_TIMEOUT:
                if (args_parse_u64(v, UINT32_MAX, &n) != 0 || n == 0) {
                        return output_usage_error(a,
                                                  "--timeout-ms: expected 1..4294967295, "
                                                  "got \"%s\"",
                                                  v);
                }
                a->timeout_ms = (unsigned)n;
                return -1;
        case OPT_ACK:
                if (args_parse_word(args_acks, v, &w) != 0) {
                        return output_usage_error(a,
                                                  "--ack: expected committed, all or "
                                                  "leader, got \"%s\"",
                                                  v);
                }
                a->write.ack = (enum tkv_ack)w;
                a->write_flag = a->write_flag != NULL ? a->write_flag : "--ack";
                return -1;
        case OPT_NODE:
                if (args_parse_u64(v, UINT32_MAX, &n) != 0) {
                        return output_usage_error(a, "--node: expected a node id, got \"%s\"", v);
                }
                a->node_set = true;
                a->node_id = (uint32_t)n;
                return -1;
        case OPT_TOKEN_IN:
                a->token_in = v;
                return -1;
        case OPT_TOKEN_OUT:
                a->token_out = v;
                return -1;
        case OPT_USER:
                a->user = v;
                return -1;
        case OPT_PASSWORD_FILE:
                a->password_file = v;
                return -1;
        case OPT_ZONE:
                a->zone = v;
                return -1;
        case '?':
                return output_usage_error(a, "unknown option or missing value: %s", v);
        }
        if (args_read_option(&a->read, opt, v) != 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "--%s: bad value \"%%s\"", args_option_name(opt));
                return output_usage_error(a, msg, v != NULL ? v : "");
        }
        a->read_flag = a->read_flag != NULL ? a->read_flag : args_option_name(opt);
        a->level_set = a->level_set || opt == OPT_CONSISTENCY;
        return -1;
}

/* Whether argv asks for JSON; known before parsing so that even an early
 * usage error comes out as JSON. */
static bool args_wants_json(int argc, char **argv)
{
        int i;

        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        return true;
                }
        }
        return false;
}

/* The canonical name of a command word, or NULL. */
static const char *args_command(const char *word, int *operands)
{
        static const struct {
                const char *word;
                const char *name;
                int operands;
        } commands[] = {
            {"put", "put", 2},        {"get", "get", 1},
            {"del", "delete", 1},     {"delete", "delete", 1},
            {"cas", "cas", 3},        {"status", "status", 0},
            {"user", "user", -1},     {"role", "role", -1},
            {"member", "member", -1}, {"transfer-leader", "transfer-leader", 2},
            {"mget", "mget", -2},     {"txn", "txn", 0},
            {"lease", "lease", -1},   {"scan", "scan", -3},
            {"watch", "watch", -3},   {"move", "move", -1},
        };
        size_t i;

        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(commands[i].word, word) == 0) {
                        *operands = commands[i].operands;
                        return commands[i].name;
                }
        }
        return NULL;
}

/* Check the command, its operand count and which options it may take. */
static int args_check_command(struct cli_args *a, char **rest, int n_rest)
{
        int want = 0;

        if (n_rest == 0) {
                return output_usage_error(a, "%s", "no command (put, get, del, cas, status)");
        }
        a->command = args_command(rest[0], &want);
        if (a->command == NULL) {
                return output_usage_error(a, "unknown command \"%s\"", rest[0]);
        }
        a->operands = rest + 1;
        a->n_operands = n_rest - 1;
        if (want >= 0    ? a->n_operands != want
            : want == -2 ? a->n_operands < 1 /* mget: one key or more */
            : want == -3 ? a->n_operands > 1 /* scan: a prefix, or none */
                         : a->n_operands < 1 || a->n_operands > 4) {
                return output_usage_error(a, "wrong number of arguments for %s", a->command);
        }
        bool scan = strcmp(a->command, "scan") == 0;
        bool watch = strcmp(a->command, "watch") == 0;
        bool reads =
            strcmp(a->command, "get") == 0 || strcmp(a->command, "mget") == 0 || scan || watch;
        if (a->read_flag != NULL && !reads) {
                return output_usage_error(a, "--%s applies to get, mget, scan and watch only",
                                          a->read_flag);
        }
        if (a->scan_flag != NULL && !scan &&
            !(watch && strcmp(a->scan_flag, "keys-only") == 0 && !a->scan.count_only &&
              a->scan.limit == 0 && a->scan.start_len == 0 && a->scan.end_len == 0 &&
              !a->scan_page)) {
                return output_usage_error(a, "--%s applies to scan only", a->scan_flag);
        }
        if (a->watch_flag != NULL && !watch) {
                return output_usage_error(a, "--%s applies to watch only", a->watch_flag);
        }
        if (watch && (a->n_operands == 1) == a->watch.prefix) {
                return output_usage_error(a, "%s", "watch: give a KEY or --prefix P");
        }
        if (watch && a->n_operands == 1) {
                a->watch.key = a->operands[0];
                a->watch.key_len = strlen(a->operands[0]);
        }
        if (scan && a->n_operands == 1 && (a->scan.start_len > 0 || a->scan.end_len > 0)) {
                return output_usage_error(a, "%s", "scan: give a PREFIX or --from/--to, not both");
        }
        if (scan && a->n_operands == 1) {
                a->scan.prefix = a->operands[0];
                a->scan.prefix_len = strlen(a->operands[0]);
        }
        if (a->write_flag != NULL && strcmp(a->command, "put") != 0 &&
            strcmp(a->command, "delete") != 0 && strcmp(a->command, "cas") != 0) {
                return output_usage_error(a, "%s applies to put, del and cas only", a->write_flag);
        }
        if (a->write.lease != 0 && strcmp(a->command, "put") != 0 &&
            strcmp(a->command, "cas") != 0) {
                return output_usage_error(a, "%s", "--lease applies to put and cas only");
        }
        if ((a->key_tag != NULL || a->forever) && strcmp(a->command, "lease") != 0) {
                return output_usage_error(a, "%s", "--key-tag and --forever apply to lease only");
        }
        if (a->node_set && strcmp(a->command, "status") != 0 && !reads) {
                return output_usage_error(a, "%s",
                                          "--node applies to get, mget, scan and status only");
        }
        if (a->node_set && reads) {
                if (a->node_id == 0) {
                        return output_usage_error(a, "%s", "--node: expected a node id > 0");
                }
                a->read.node_id = a->node_id;
        }
        if ((a->token_in != NULL || a->token_out != NULL) &&
            (strcmp(a->command, "status") == 0 || strcmp(a->command, "user") == 0 ||
             strcmp(a->command, "role") == 0 || strcmp(a->command, "member") == 0 ||
             strcmp(a->command, "transfer-leader") == 0 || strcmp(a->command, "lease") == 0 ||
             strcmp(a->command, "move") == 0)) {
                return output_usage_error(a, "%s",
                                          "--token-in and --token-out apply to get, put, del and "
                                          "cas only");
        }
        return -1;
}

/* Parse argv into a. Returns -1 to run the command, else an exit code. */
int args_parse(struct cli_args *a, int argc, char **argv)
{
        int opt;
        int rv;

        memset(a, 0, sizeof(*a));
        a->json = args_wants_json(argc, argv);
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "vh", args_options, NULL)) != -1) {
                rv = args_option(a, opt, opt == '?' ? argv[optind - 1] : optarg);
                if (rv >= 0) {
                        return rv;
                }
        }
        return args_check_command(a, argv + optind, argc - optind);
}
