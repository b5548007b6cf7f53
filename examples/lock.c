/* A distributed lock on tunekv leases (docs/recipes.md, "A lock").
 *
 *   lock NAME HOLDER TTL_MS HOLD_MS      (endpoints from $TUNEKV_ENDPOINTS)
 *
 * 1. Grant a lease of TTL_MS in the partition of the hash tag {NAME}, so
 *    that the lock key "{NAME}:lock" lives where the lease does.
 * 2. Try to take the lock: CAS "{NAME}:lock" from "absent" (expected
 *    version 0) to HOLDER, attached to the lease. Exactly one contender's
 *    CAS applies; the others get CONDITION_FAILED, print "waiting", keep
 *    their own lease alive (every TTL/3) and try again after a backoff
 *    (50 ms doubling to 1 s). A key that changes cannot be waited for yet (watches come
 *    later), so a waiter polls.
 * 3. Holding it ("acquired version=V": V, the key's version, is the
 *    fencing token to show whatever the lock guards), keep the lease alive
 *    every TTL/3 for HOLD_MS (forever when HOLD_MS is 0).
 * 4. Release: revoke the lease, which deletes the lock key in the same
 *    entry. A holder that crashes releases nothing: its lease expires one
 *    TTL after its last keepalive (up to one TTL more if the partition's
 *    leader changes meanwhile), the key with it, and a waiter's CAS
 *    succeeds.
 * A holder that cannot keep its lease alive for a whole TTL must assume
 * it lost the lock: it stops and exits 2.
 *
 * Exit: 0 released, 2 lost the lock, 1 any other error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tunekv.h"

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
}

/* Keep the lease alive; false once a whole TTL passed without success
 * since *last_ok (the lease must then be taken as lost). */
static bool keep_alive(struct tkv_client *c, uint64_t lease, uint64_t ttl_ms, uint64_t *last_ok)
{
        char msg[256];
        int rv = tkv_lease_keepalive(c, lease, NULL, msg, sizeof msg);

        if (rv == TKV_OK) {
                *last_ok = now_ms();
                return true;
        }
        fprintf(stderr, "lock: keepalive: %s: %s\n", tkv_status_name(rv), msg);
        return rv != TKV_NOT_FOUND && now_ms() - *last_ok < ttl_ms;
}

/* Try to take the lock until it is ours: 0, or 2 when our own lease was
 * lost while waiting, 1 on another error. */
static int acquire(struct tkv_client *c, const char *key, const char *holder, uint64_t lease,
                   uint64_t ttl_ms, uint64_t *version)
{
        struct tkv_write_options o = {TKV_ACK_COMMITTED, 0, lease};
        uint64_t backoff = 50, last_ok = now_ms(), next_keepalive = now_ms() + ttl_ms / 3;
        struct tkv_result r;

        for (;;) {
                int rv = tkv_cas(c, key, strlen(key), 0, holder, strlen(holder), &o, &r);
                *version = r.index;
                if (rv != TKV_OK && rv != TKV_CONDITION_FAILED) {
                        fprintf(stderr, "lock: cas: %s: %s\n", tkv_status_name(rv), r.message);
                }
                tkv_result_release(&r);
                if (rv == TKV_OK) {
                        return 0;
                }
                printf("waiting\n");
                fflush(stdout);
                /* Never sleep past the next keepalive: the waiter's own
                 * lease must live until its CAS attaches the key to it. */
                uint64_t now = now_ms();
                sleep_ms(now + backoff < next_keepalive ? backoff
                         : now < next_keepalive         ? next_keepalive - now
                                                        : 0);
                backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
                if (now_ms() >= next_keepalive) {
                        if (!keep_alive(c, lease, ttl_ms, &last_ok)) {
                                return 2;
                        }
                        next_keepalive = now_ms() + ttl_ms / 3;
                }
        }
}

/* Hold the lock for hold_ms (0: forever). 0, or 2 once the lease is lost. */
static int hold(struct tkv_client *c, uint64_t lease, uint64_t ttl_ms, uint64_t hold_ms)
{
        uint64_t start = now_ms(), last_ok = start;

        while (hold_ms == 0 || now_ms() - start < hold_ms) {
                if (!keep_alive(c, lease, ttl_ms, &last_ok)) {
                        return 2;
                }
                sleep_ms(ttl_ms / 3);
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct tkv_client *c = NULL;
        struct tkv_lease l;
        char key[256], tag[256], msg[256];
        uint64_t ttl_ms, hold_ms, version = 0;
        int rv;

        if (argc != 5) {
                fprintf(stderr, "usage: lock NAME HOLDER TTL_MS HOLD_MS (0: forever)\n");
                return 1;
        }
        ttl_ms = strtoull(argv[3], NULL, 10);
        hold_ms = strtoull(argv[4], NULL, 10);
        snprintf(tag, sizeof tag, "{%s}", argv[1]);
        snprintf(key, sizeof key, "{%s}:lock", argv[1]);
        if (tkv_client_create(NULL, &c, msg, sizeof msg) != TKV_OK) {
                fprintf(stderr, "lock: %s\n", msg);
                return 1;
        }
        rv = tkv_lease_grant(c, ttl_ms, tag, strlen(tag), &l, msg, sizeof msg);
        if (rv != TKV_OK) {
                fprintf(stderr, "lock: grant: %s: %s\n", tkv_status_name(rv), msg);
                tkv_client_destroy(c);
                return 1;
        }
        rv = acquire(c, key, argv[2], l.id, ttl_ms, &version);
        if (rv == 0) {
                printf("acquired version=%llu lease=%llu\n", (unsigned long long)version,
                       (unsigned long long)l.id);
                fflush(stdout);
                rv = hold(c, l.id, ttl_ms, hold_ms);
        }
        if (rv == 2) {
                printf("lost\n");
        } else if (tkv_lease_revoke(c, l.id, msg, sizeof msg) == TKV_OK) {
                printf("released\n");
        } else {
                fprintf(stderr, "lock: revoke: %s\n", msg);
                rv = 1;
        }
        tkv_client_destroy(c);
        return rv;
}
