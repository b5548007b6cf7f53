/* The cluster map (cmap.c): built from a configuration, encoded and
 * decoded byte for byte, every malformed map refused (each field's bound,
 * truncation, trailing bytes), compared with a configuration (addresses
 * refuse, zones and placement are reported), and the data dir's copy. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cmap.h"
#include "err.h"
#include "heap.h"
#include "testlib.h"

/* Three nodes in zones a, b, c; 4 partitions of 3 replicas. */
static void make_config(struct config *c)
{
        config_defaults(c);
        c->n_nodes = 3;
        c->partitions = 4;
        c->replicas = 3;
        for (unsigned i = 0; i < 3; i++) {
                c->nodes[i].id = i + 1;
                snprintf(c->nodes[i].client_addr, sizeof c->nodes[i].client_addr, "127.0.0.1:700%u",
                         i + 1);
                snprintf(c->nodes[i].peer_addr, sizeof c->nodes[i].peer_addr, "127.0.0.1:710%u",
                         i + 1);
                snprintf(c->nodes[i].zone, sizeof c->nodes[i].zone, "%c", 'a' + i);
        }
}

static struct cmap *map_of(const struct config *c)
{
        struct cmap *m = NULL;
        assert_int_equal(cmap_from_config(c, 1, &m), 0);
        return m;
}

/* Encode m and return what decoding it gives (the map is freed). */
static int decode_status(struct cmap *m)
{
        uint8_t *bytes = NULL;
        size_t len = 0;
        struct cmap *out = NULL;
        int rv;

        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        rv = cmap_decode(bytes, len, &out);
        assert_true(rv == 0 ? out != NULL : out == NULL);
        cmap_destroy(out);
        tkv_free(bytes);
        cmap_destroy(m);
        return rv;
}

static void test_from_config_round_trip(void **state)
{
        struct config c;
        struct cmap *m, *back = NULL;
        uint8_t *bytes = NULL, *again = NULL;
        size_t len = 0, len2 = 0;

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(m->epoch, 1);
        assert_int_equal(m->n_members, 3);
        assert_int_equal(m->members[1].state, CMAP_VOTER);
        assert_string_equal(m->members[1].zone, "b");
        assert_int_equal(m->n_partitions, 4);
        /* The configuration's placement: nodes (p + i) % N, first preferred. */
        assert_int_equal(m->parts[1].n, 3);
        assert_int_equal(m->parts[1].ids[0], 2);
        assert_int_equal(m->parts[1].ids[2], 1);
        assert_true(cmap_is_replica(m, 3, 1));
        assert_false(cmap_is_replica(m, 5, 1));
        /* The metadata group, at index 4: every bootstrap voter. */
        assert_int_equal(m->parts[4].n, 3);
        assert_true(cmap_is_replica(m, 4, 1) && cmap_is_replica(m, 4, 3));
        assert_int_equal(cmap_load(m, 1), 4); /* the partitions only */
        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        assert_int_equal(cmap_decode(bytes, len, &back), 0);
        assert_int_equal(back->epoch, 1);
        assert_string_equal(back->members[2].client_addr, "127.0.0.1:7003");
        assert_string_equal(back->members[2].peer_addr, "127.0.0.1:7103");
        assert_string_equal(back->members[0].zone, "a");
        assert_memory_equal(back->parts, m->parts, sizeof m->parts[0] * 5);
        /* One encoding per map. */
        assert_int_equal(cmap_encode(back, &again, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, bytes, len);
        assert_string_equal(cmap_state_name(CMAP_JOINING), "joining");
        tkv_free(bytes);
        tkv_free(again);
        cmap_destroy(back);
        cmap_destroy(m);
}

static void test_truncated_and_trailing_refused(void **state)
{
        struct config c;
        struct cmap *m, *out = (struct cmap *)1;
        uint8_t *bytes = NULL, *longer;
        size_t len = 0;

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        for (size_t cut = 0; cut < len; cut++) {
                assert_int_equal(cmap_decode(bytes, cut, &out), TKV_ECORRUPT);
                assert_null(out);
        }
        longer = tkv_malloc(len + 1);
        assert_non_null(longer);
        memcpy(longer, bytes, len);
        longer[len] = 0;
        assert_int_equal(cmap_decode(longer, len + 1, &out), TKV_ECORRUPT);
        bytes[0] = CMAP_FORMAT_VERSION + 1;
        assert_int_equal(cmap_decode(bytes, len, &out), TKV_ECORRUPT);
        tkv_free(longer);
        tkv_free(bytes);
        cmap_destroy(m);
}

static void test_bad_fields_refused(void **state)
{
        struct config c;
        struct cmap *m;

        (void)state;
        make_config(&c);
        assert_int_equal(decode_status(map_of(&c)), 0);
        m = map_of(&c);
        m->epoch = 0;
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[1].id = 1; /* ids must increase: no duplicates */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].state = (enum cmap_state)5;
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].successor = 2; /* only a leaving member has one */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].state = CMAP_LEAVING;
        m->members[0].successor = 1; /* not itself */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].state = CMAP_LEAVING;
        m->members[0].successor = 9; /* a member */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].state = CMAP_LEAVING;
        m->members[0].successor = 2;
        assert_int_equal(decode_status(m), 0);
        m = map_of(&c);
        snprintf(m->members[0].client_addr, sizeof m->members[0].client_addr, "nohost");
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[0].peer_addr[0] = '\0';
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        snprintf(m->members[0].zone, sizeof m->members[0].zone, "rack 1"); /* a space */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->parts[0].ids[1] = 9; /* not a member */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->parts[0].ids[1] = m->parts[0].ids[0];
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->members[2].state = CMAP_REMOVED; /* a removed node holds no replica */
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->parts[2].n = 0;
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->n_partitions = 0;
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
        m = map_of(&c);
        m->n_members = 0;
        m->n_partitions = 0;
        assert_int_equal(decode_status(m), TKV_ECORRUPT);
}

/* A one-member, one-partition map written by hand in format version,
 * with n replicas of node 1 listed (and no move, from version 2 on); its
 * length into *len. */
static void hand_map_version(uint8_t *b, size_t *len, unsigned n, unsigned version)
{
        static const char addr[] = "127.0.0.1:1";
        size_t k = 0;

        b[k++] = (uint8_t)version;
        b[k++] = 1; /* epoch 1, little-endian */
        memset(b + k, 0, 7);
        k += 7;
        b[k++] = 1; /* one member */
        b[k++] = 0;
        b[k++] = 1; /* id 1 */
        b[k++] = 0;
        b[k++] = CMAP_VOTER;
        for (int t = 0; t < 2; t++) { /* client and peer address */
                b[k++] = sizeof addr - 1;
                memcpy(b + k, addr, sizeof addr - 1);
                k += sizeof addr - 1;
        }
        b[k++] = 0; /* no zone */
        if (version >= 2) {
                b[k++] = 0; /* no successor */
                b[k++] = 0;
        }
        b[k++] = 1; /* one partition */
        b[k++] = 0;
        b[k++] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
                b[k++] = 1;
                b[k++] = 0;
        }
        if (version >= 2) {
                memset(b + k, 0, 4); /* move_from, move_to: none */
                k += 4;
                b[k++] = 1; /* the metadata group: node 1, no move */
                b[k++] = 1;
                b[k++] = 0;
                memset(b + k, 0, 4);
                k += 4;
        }
        *len = k;
}

static void hand_map(uint8_t *b, size_t *len, unsigned n)
{
        hand_map_version(b, len, n, CMAP_FORMAT_VERSION);
}

static void test_bounds_refused(void **state)
{
        uint8_t b[128];
        size_t len;
        struct cmap *out = NULL;

        (void)state;
        hand_map(b, &len, 1);
        assert_int_equal(cmap_decode(b, len, &out), 0);
        cmap_destroy(out);
        /* More replicas than CMAP_REPLICAS_MAX: refused before any is read
         * (the same node listed twice would be refused too, later). */
        hand_map(b, &len, CMAP_REPLICAS_MAX + 1);
        assert_int_equal(cmap_decode(b, len, &out), TKV_ECORRUPT);
        assert_null(out);
        /* A member count beyond CMAP_MEMBERS_MAX, likewise. */
        hand_map(b, &len, 1);
        b[9] = (uint8_t)((CMAP_MEMBERS_MAX + 1) & 0xff);
        b[10] = (uint8_t)((CMAP_MEMBERS_MAX + 1) >> 8);
        assert_int_equal(cmap_decode(b, len, &out), TKV_ECORRUPT);
        /* A text length at the bound (no room for its NUL). */
        hand_map(b, &len, 1);
        b[14] = CMAP_TEXT_BYTES;
        assert_int_equal(cmap_decode(b, len, &out), TKV_ECORRUPT);
        assert_null(out);
}

/* A NUL inside a text (found by fuzz_cmap): "127.0.0.1:700\0" would
 * decode as a shorter, valid address that encodes otherwise. */
static void test_nul_in_text_refused(void **state)
{
        struct config c;
        struct cmap *m, *out = NULL;
        uint8_t *bytes = NULL, *at;
        size_t len = 0;

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        at = memmem(bytes, len, "127.0.0.1:7001", 14);
        assert_non_null(at);
        at[13] = '\0';
        assert_int_equal(cmap_decode(bytes, len, &out), TKV_ECORRUPT);
        assert_null(out);
        tkv_free(bytes);
        cmap_destroy(m);
}

static void test_check_config(void **state)
{
        struct config c, other;
        struct cmap *m;
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_check_config(m, &c, why, sizeof why), CMAP_AGREES);
        other = c;
        snprintf(other.nodes[1].client_addr, sizeof other.nodes[1].client_addr, "127.0.0.1:7999");
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_DIFFERS_ADDRS);
        assert_string_equal(why, "node 2's client address is 127.0.0.1:7002 in the cluster map "
                                 "(epoch 1) but 127.0.0.1:7999 in the configuration");
        other = c;
        snprintf(other.nodes[2].peer_addr, sizeof other.nodes[2].peer_addr, "127.0.0.1:7999");
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_DIFFERS_ADDRS);
        assert_non_null(strstr(why, "node 3's peer address"));
        other = c;
        other.nodes[0].zone[0] = '\0';
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_DIFFERS);
        assert_non_null(strstr(why, "node 1's zone"));
        /* Members the file lacks are the map's (added, or the file is an
         * old one): no difference. */
        other = c;
        other.n_nodes = 2;
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_AGREES);
        /* The placement is the map's alone (replicas move): another
         * replica count in the file is no difference, another partition
         * count is. */
        other = c;
        other.replicas = 2;
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_AGREES);
        other = c;
        other.partitions = 5;
        assert_int_equal(cmap_check_config(m, &other, why, sizeof why), CMAP_DIFFERS);
        assert_non_null(strstr(why, "4 partitions"));
        cmap_destroy(m);
}

/* A member for cmap_add: node id at 127.0.0.2, ports from the id. */
static struct cmap_member member(unsigned id, const char *zone)
{
        struct cmap_member mb;
        memset(&mb, 0, sizeof mb);
        mb.id = id;
        snprintf(mb.client_addr, sizeof mb.client_addr, "127.0.0.2:%u", 8000 + id);
        snprintf(mb.peer_addr, sizeof mb.peer_addr, "127.0.0.2:%u", 9000 + id);
        snprintf(mb.zone, sizeof mb.zone, "%s", zone);
        return mb;
}

/* cmap_add keeps the members sorted, makes the new one JOINING, raises the
 * epoch, and the map still decodes and still agrees with the
 * configuration that bootstrapped it. */
static void test_add(void **state)
{
        struct config c;
        struct cmap *m;
        struct cmap_member mb = member(5, "d");
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), 0);
        mb = member(4, "");
        mb.state = CMAP_VOTER; /* ignored: a new member joins */
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), 0);
        assert_int_equal(m->epoch, 3);
        assert_int_equal(m->n_members, 5);
        for (unsigned i = 0; i < 5; i++) {
                assert_int_equal(m->members[i].id, i + 1);
        }
        assert_int_equal(m->members[3].state, CMAP_JOINING);
        assert_int_equal(m->members[4].state, CMAP_JOINING);
        assert_string_equal(m->members[4].zone, "d");
        assert_string_equal(m->members[3].client_addr, "127.0.0.2:8004");
        assert_int_equal(cmap_check_config(m, &c, why, sizeof why), CMAP_AGREES);
        assert_int_equal(decode_status(m), 0);
}

/* Each refusal of cmap_add leaves the map as it was. */
static void test_add_refused(void **state)
{
        struct config c;
        struct cmap *m, before;
        struct cmap_member mb;
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        before = *m;
        mb = member(2, "");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        assert_string_equal(why, "node 2 is a member already (voter)");
        mb = member(0, "");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        mb = member(65536, "");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        mb = member(4, "");
        snprintf(mb.peer_addr, sizeof mb.peer_addr, "127.0.0.1:7003"); /* node 3's client */
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        assert_string_equal(why, "address 127.0.0.1:7003 is node 3's");
        mb = member(4, "");
        snprintf(mb.client_addr, sizeof mb.client_addr, "127.0.0.1:99999");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "bad client address"));
        mb = member(4, "a/b");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "bad zone"));
        assert_memory_equal(m, &before, sizeof before);
        /* Full: CMAP_MEMBERS_MAX members, removed ones included. */
        for (unsigned id = 10; m->n_members < CMAP_MEMBERS_MAX; id++) {
                mb = member(id, "");
                assert_int_equal(cmap_add(m, &mb, why, sizeof why), 0);
                assert_int_equal(cmap_remove(m, id, why, sizeof why), 0);
        }
        mb = member(4, "");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_ETOOBIG);
        assert_int_equal(decode_status(m), 0);
        /* An epoch that would wrap to 0 (found by fuzz_cmap). */
        m = map_of(&c);
        m->epoch = UINT64_MAX;
        mb = member(4, "");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_ETOOBIG);
        assert_non_null(strstr(why, "cannot grow"));
        assert_int_equal(cmap_remove(m, 4, why, sizeof why), TKV_EINVAL);
        cmap_destroy(m);
}

static struct cmap *round_trip(const struct cmap *m);

/* cmap_remove: a joining member without replicas becomes REMOVED (epoch +
 * 1), its id is never reused but its addresses are free; one with
 * replicas becomes LEAVING, if every replica has a taker; a bootstrap
 * voter, a non-member and a removed member are refused. */
static void test_remove(void **state)
{
        struct config c;
        struct cmap *m;
        struct cmap_member mb = member(4, "");
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        /* Three nodes, every partition on all three: nobody takes node
         * 1's replicas. */
        assert_int_equal(cmap_remove(m, 1, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "no other member could take it"));
        assert_int_equal(cmap_remove(m, 4, why, sizeof why), TKV_EINVAL);
        assert_string_equal(why, "node 4 is not a member");
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), 0);
        assert_int_equal(cmap_remove(m, 4, why, sizeof why), 0);
        assert_int_equal(m->epoch, 3);
        assert_int_equal(m->members[3].state, CMAP_REMOVED);
        assert_int_equal(cmap_remove(m, 4, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "removed already"));
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "never reused"));
        mb.id = 5;
        assert_int_equal(cmap_add(m, &mb, why, sizeof why), 0);
        assert_int_equal(cmap_check_config(m, &c, why, sizeof why), CMAP_AGREES);
        /* Node 5 gets partition 0's replica from node 1 (0: 5, 2, 3);
         * removing 5 then makes it leave, node 1 being a taker. */
        assert_int_equal(cmap_move(m, 0, 1, 5, why, sizeof why), 0);
        assert_int_equal(cmap_move_done(m, 0, 1, 5, why, sizeof why), 0);
        assert_int_equal(cmap_remove(m, 5, why, sizeof why), 0);
        assert_int_equal(m->members[4].state, CMAP_LEAVING);
        assert_int_equal(m->members[4].successor, 0);
        assert_int_equal(cmap_remove(m, 5, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "leaving already"));
        cmap_destroy(m);
        /* Three members, three replicas each: nobody could take one. */
        m = map_of(&c);
        m->members[2].state = CMAP_JOINING;
        assert_int_equal(cmap_remove(m, 3, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "no other member could take it"));
        cmap_destroy(m);
}

/* cmap_replace: the successor added and the old member leaving towards
 * it, in one change; or nothing, when either is refused. */
/* A member's addresses and zone change; each refusal leaves the map as
 * it was; asking for what it has already is TKV_EEXIST, the epoch
 * unchanged. */
static void test_update(void **state)
{
        struct config c;
        struct cmap *m;
        struct cmap_member removed = member(4, "");
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_update(m, 2, NULL, NULL, "b2", why, sizeof why), 0);
        assert_int_equal(m->epoch, 2);
        assert_string_equal(m->members[1].zone, "b2");
        assert_int_equal(cmap_update(m, 3, "10.0.0.3:7003", NULL, NULL, why, sizeof why), 0);
        assert_string_equal(m->members[2].client_addr, "10.0.0.3:7003");
        assert_string_equal(m->members[2].peer_addr, "127.0.0.1:7103");
        assert_string_equal(m->members[2].zone, "c");
        assert_int_equal(cmap_update(m, 1, "10.0.0.1:7001", NULL, "", why, sizeof why), 0);
        assert_string_equal(m->members[0].zone, "");
        assert_int_equal(m->epoch, 4);
        /* Nothing to change. */
        assert_int_equal(cmap_update(m, 1, "10.0.0.1:7001", NULL, "", why, sizeof why), TKV_EEXIST);
        assert_int_equal(cmap_update(m, 1, NULL, NULL, NULL, why, sizeof why), TKV_EEXIST);
        /* Refusals. */
        assert_int_equal(cmap_update(m, 9, NULL, NULL, "x", why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "node 9 is no member"));
        assert_int_equal(cmap_update(m, 2, "127.0.0.1:7101", NULL, NULL, why, sizeof why),
                         TKV_EINVAL);
        assert_non_null(strstr(why, "is node 1's"));
        assert_int_equal(cmap_update(m, 2, "127.0.0.1:7102", NULL, NULL, why, sizeof why),
                         TKV_EINVAL);
        assert_non_null(strstr(why, "node 2's client and peer address"));
        /* A peer address: Raft keeps the old one, nodes dial the map's. */
        assert_int_equal(cmap_update(m, 2, NULL, "10.0.0.2:7102", NULL, why, sizeof why), 0);
        assert_string_equal(m->members[1].peer_addr, "10.0.0.2:7102");
        assert_string_equal(m->members[1].client_addr, "127.0.0.1:7002");
        assert_int_equal(cmap_update(m, 2, NULL, "127.0.0.1:7101", NULL, why, sizeof why),
                         TKV_EINVAL);
        assert_non_null(strstr(why, "is node 1's"));
        assert_int_equal(cmap_update(m, 2, "10.0.0.2:7102", NULL, NULL, why, sizeof why),
                         TKV_EINVAL);
        assert_int_equal(cmap_update(m, 2, NULL, "bad", NULL, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "bad peer address"));
        assert_int_equal(cmap_update(m, 2, "10.0.0.3:7003", NULL, NULL, why, sizeof why),
                         TKV_EINVAL);
        assert_int_equal(cmap_update(m, 2, "nohost", NULL, NULL, why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "bad client address"));
        assert_int_equal(cmap_update(m, 2, NULL, NULL, "no spaces", why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "bad zone"));
        assert_int_equal(cmap_add(m, &removed, why, sizeof why), 0);
        assert_int_equal(cmap_remove(m, 4, why, sizeof why), 0);
        assert_int_equal(cmap_update(m, 4, NULL, NULL, "x", why, sizeof why), TKV_EINVAL);
        assert_non_null(strstr(why, "removed"));
        m->epoch = UINT64_MAX;
        assert_int_equal(cmap_update(m, 2, NULL, NULL, "b3", why, sizeof why), TKV_ETOOBIG);
        assert_string_equal(m->members[1].zone, "b2");
        m->epoch = 7;
        assert_int_equal(decode_status(m), 0);
}

static void test_replace(void **state)
{
        struct config c;
        struct cmap *m;
        struct cmap_member mb = member(4, "");
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        m->members[1].state = CMAP_JOINING; /* node 2 could leave */
        assert_int_equal(cmap_replace(m, 2, 4, &mb, why, sizeof why), 0);
        assert_int_equal(m->n_members, 4);
        assert_int_equal(m->members[3].state, CMAP_JOINING);
        assert_int_equal(m->members[1].state, CMAP_LEAVING);
        assert_int_equal(m->members[1].successor, 4);
        cmap_destroy(round_trip(m));
        /* Refused whole: a successor that is not a member, and no
         * addresses; the old one itself. */
        assert_int_equal(cmap_replace(m, 3, 9, NULL, why, sizeof why), TKV_EINVAL);
        assert_int_equal(cmap_replace(m, 3, 2, NULL, why, sizeof why), TKV_EINVAL); /* leaving */
        mb.id = 6;
        m->members[2].state = CMAP_JOINING;
        assert_int_equal(cmap_replace(m, 3, 3, NULL, why, sizeof why), TKV_EINVAL);
        assert_int_equal(m->n_members, 4);
        /* An address already used: the add is refused, nothing changes. */
        snprintf(mb.client_addr, sizeof mb.client_addr, "%s", m->members[0].client_addr);
        assert_int_equal(cmap_replace(m, 3, 6, &mb, why, sizeof why), TKV_EINVAL);
        assert_int_equal(m->n_members, 4);
        assert_int_equal(m->members[2].state, CMAP_JOINING);
        cmap_destroy(m);
}

static void test_prefer(void **state)
{
        struct config c;
        struct cmap *m;
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        /* Partition 1: 2, 3, 1. */
        assert_int_equal(cmap_prefer(m, 1, 1, why, sizeof why), 0);
        assert_int_equal(m->parts[1].ids[0], 1);
        assert_int_equal(m->parts[1].ids[2], 2);
        assert_int_equal(m->epoch, 2);
        assert_int_equal(cmap_prefer(m, 1, 1, why, sizeof why), TKV_EEXIST);
        assert_int_equal(cmap_prefer(m, 1, 7, why, sizeof why), TKV_EINVAL);
        cmap_destroy(m);
}

/* A version 1 map (before moves) still decodes, with no move in
 * progress; it is written back as version 2. */
static void test_version1_decodes(void **state)
{
        uint8_t b[128], *bytes = NULL;
        size_t len, n = 0;
        struct cmap *out = NULL;

        (void)state;
        hand_map_version(b, &len, 1, 1);
        assert_int_equal(cmap_decode(b, len, &out), 0);
        assert_int_equal(out->parts[0].move_to, 0);
        assert_int_equal(cmap_encode(out, &bytes, &n), 0);
        assert_int_equal(bytes[0], 2);
        assert_int_equal(n, len + 2 + 4 + 7); /* the successor, the move, the metadata group */
        tkv_free(bytes);
        cmap_destroy(out);
        hand_map_version(b, &len, 1, 3);
        assert_int_equal(cmap_decode(b, len, &out), TKV_ECORRUPT);
}

/* Encode m, decode it again: the moves survive, and the decoder's checks
 * hold for what cmap_move wrote. */
static struct cmap *round_trip(const struct cmap *m)
{
        uint8_t *bytes = NULL;
        size_t len = 0;
        struct cmap *back = NULL;

        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        assert_int_equal(cmap_decode(bytes, len, &back), 0);
        tkv_free(bytes);
        return back;
}

static void test_move(void **state)
{
        struct config c;
        struct cmap *m, *back;
        struct cmap_member four = member(4, "");
        char why[320];

        (void)state;
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_add(m, &four, why, sizeof why), 0);
        /* Partition 1: replicas 2, 3, 1 (2 preferred). */
        assert_int_equal(cmap_move(m, 1, 2, 4, why, sizeof why), 0);
        assert_int_equal(m->epoch, 3);
        assert_true(cmap_hosts(m, 1, 4));
        assert_false(cmap_is_replica(m, 1, 4)); /* it serves nothing yet */
        assert_true(cmap_is_replica(m, 1, 2));
        back = round_trip(m);
        assert_int_equal(back->parts[1].move_from, 2);
        assert_int_equal(back->parts[1].move_to, 4);
        cmap_destroy(back);
        /* Asked again: nothing to change; another move: busy. */
        assert_int_equal(cmap_move(m, 1, 2, 4, why, sizeof why), TKV_EEXIST);
        assert_int_equal(cmap_move(m, 1, 3, 4, why, sizeof why), TKV_EBUSY);
        assert_non_null(strstr(why, "from node 2 to node 4"));
        /* A move's target holds that replica: removing it makes it leave. */
        assert_int_equal(cmap_load(m, 4), 1);
        /* Done: 4 takes 2's slot, the preferred one. */
        assert_int_equal(cmap_move_done(m, 1, 3, 4, why, sizeof why), TKV_EINVAL);
        assert_int_equal(cmap_move_done(m, 1, 2, 4, why, sizeof why), 0);
        assert_int_equal(m->epoch, 4);
        assert_int_equal(m->parts[1].ids[0], 4);
        assert_false(cmap_hosts(m, 1, 2));
        assert_int_equal(m->parts[1].move_to, 0);
        assert_int_equal(cmap_move_done(m, 1, 2, 4, why, sizeof why), TKV_EEXIST);
        assert_int_equal(m->epoch, 4);
        back = round_trip(m);
        assert_int_equal(back->parts[1].ids[0], 4);
        cmap_destroy(back);
        /* Cancel: only a move in progress. */
        assert_int_equal(cmap_move_cancel(m, 1, why, sizeof why), TKV_EINVAL);
        assert_int_equal(cmap_move(m, 0, 1, 2, why, sizeof why), TKV_EINVAL); /* 2 has one */
        assert_int_equal(cmap_move(m, 1, 2, 3, why, sizeof why), TKV_EINVAL); /* 2 has none */
        assert_int_equal(cmap_move(m, 1, 4, 9, why, sizeof why), TKV_EINVAL); /* no member */
        assert_int_equal(cmap_move(m, 1, 4, 4, why, sizeof why), TKV_EINVAL);
        assert_int_equal(cmap_move(m, 9, 1, 4, why, sizeof why), TKV_EINVAL); /* no partition */
        assert_int_equal(cmap_move(m, 0, 1, 4, why, sizeof why), 0);
        assert_int_equal(cmap_move_cancel(m, 0, why, sizeof why), 0);
        assert_false(cmap_hosts(m, 0, 4));
        assert_true(cmap_is_replica(m, 0, 1));
        cmap_destroy(m);
}

/* The decoder refuses moves that could not be: to a replica, from a node
 * that holds none, to a removed or unknown member, half a move. */
static void test_bad_move_refused(void **state)
{
        uint8_t b[128];
        size_t len;
        struct cmap *out = NULL;
        static const uint8_t bad[][4] = {
            {1, 0, 1, 0}, {2, 0, 1, 0}, {1, 0, 2, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}};

        (void)state;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                /* The partition's move, then the metadata group's. */
                static const size_t from_end[] = {11, 4};
                for (size_t k = 0; k < 2; k++) {
                        hand_map(b, &len, 1);
                        memcpy(b + len - from_end[k], bad[i], 4);
                        assert_int_equal(cmap_decode(b, len, &out), TKV_ECORRUPT);
                        assert_null(out);
                }
        }
}

static void test_data_dir_copy(void **state)
{
        char dir[256], path[300];
        struct config c;
        struct cmap *m, *back = NULL;
        uint8_t *bytes = NULL;
        size_t len = 0;
        char err[ERR_MSG_BYTES] = "";
        FILE *f;

        (void)state;
        assert_int_equal(testlib_tmpdir(dir, sizeof dir, "tkv-cmap"), 0);
        assert_int_equal(cmap_file_read(dir, &back, err), TKV_ENOTFOUND);
        make_config(&c);
        m = map_of(&c);
        assert_int_equal(cmap_encode(m, &bytes, &len), 0);
        assert_int_equal(cmap_file_write(dir, bytes, len), 0);
        assert_int_equal(cmap_file_read(dir, &back, err), 0);
        assert_int_equal(back->n_members, 3);
        cmap_destroy(back);
        snprintf(path, sizeof path, "%s/%s", dir, CMAP_FILE);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("garbage", f);
        fclose(f);
        assert_int_equal(cmap_file_read(dir, &back, err), TKV_ECORRUPT);
        assert_null(back);
        assert_non_null(strstr(err, "cluster-map"));
        tkv_free(bytes);
        cmap_destroy(m);
        testlib_rmrf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_from_config_round_trip),
            cmocka_unit_test(test_truncated_and_trailing_refused),
            cmocka_unit_test(test_bad_fields_refused),
            cmocka_unit_test(test_bounds_refused),
            cmocka_unit_test(test_nul_in_text_refused),
            cmocka_unit_test(test_check_config),
            cmocka_unit_test(test_add),
            cmocka_unit_test(test_add_refused),
            cmocka_unit_test(test_remove),
            cmocka_unit_test(test_update),
            cmocka_unit_test(test_replace),
            cmocka_unit_test(test_prefer),
            cmocka_unit_test(test_version1_decodes),
            cmocka_unit_test(test_move),
            cmocka_unit_test(test_bad_move_refused),
            cmocka_unit_test(test_data_dir_copy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
