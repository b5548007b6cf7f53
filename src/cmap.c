/* The cluster map's encoding, its comparison with a configuration, and the
 * data dir's copy of it (cmap.h has the layout). The map comes from the
 * metadata group, which any voter may write to, and from a file, so the
 * decoder trusts nothing: every count and length is checked against its
 * bound before it is used, and a map it accepts is one the daemon can act
 * on (members sorted and unique, replicas that are members). */
#include "cmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer.h"
#include "err.h"
#include "heap.h"

/* The largest encoding: the file reader refuses anything bigger unread. */
#define CMAP_ENCODED_MAX                                                                           \
        (1 + 8 + 2 + CMAP_MEMBERS_MAX * (2 + 1 + 3 * CMAP_TEXT_BYTES) + 2 + CMAP_MEMBERS_MAX * 2 + \
         CMAP_PARTITIONS_MAX * (1 + 2 * CMAP_REPLICAS_MAX + 4))

/* The metadata group's placement when nothing moved it: every VOTER
 * member (the nodes the cluster was bootstrapped from, which are its Raft
 * voters). A map of more voters than a placement holds lists the first
 * CMAP_REPLICAS_MAX; the group itself has them all. */
static void cmap_meta_of_voters(struct cmap *m)
{
        struct cmap_placement *meta = &m->parts[m->n_partitions];

        memset(meta, 0, sizeof *meta);
        for (unsigned i = 0; i < m->n_members && meta->n < CMAP_REPLICAS_MAX; i++) {
                if (m->members[i].state == CMAP_VOTER) {
                        meta->ids[meta->n++] = m->members[i].id;
                }
        }
}

int cmap_from_config(const struct config *cfg, uint64_t epoch, struct cmap **out)
{
        struct cmap *m = tkv_calloc(1, sizeof *m);

        *out = NULL;
        if (m == NULL) {
                return TKV_ENOMEM;
        }
        m->epoch = epoch;
        m->n_members = cfg->n_nodes;
        for (unsigned i = 0; i < cfg->n_nodes; i++) {
                struct cmap_member *mb = &m->members[i];
                mb->id = cfg->nodes[i].id;
                mb->state = CMAP_VOTER;
                snprintf(mb->client_addr, sizeof mb->client_addr, "%s", cfg->nodes[i].client_addr);
                snprintf(mb->peer_addr, sizeof mb->peer_addr, "%s", cfg->nodes[i].peer_addr);
                snprintf(mb->zone, sizeof mb->zone, "%s", cfg->nodes[i].zone);
        }
        m->n_partitions = cfg->partitions;
        for (unsigned p = 0; p < cfg->partitions; p++) {
                m->parts[p].n = config_replicas_of(cfg, p, m->parts[p].ids);
        }
        cmap_meta_of_voters(m);
        *out = m;
        return 0;
}

void cmap_destroy(struct cmap *m)
{
        tkv_free(m);
}

/* ------------------------------------------------------------------------ */
/* Encoding */

static int cmap_put(struct buffer *b, const void *p, size_t n)
{
        return buffer_append(b, p, n) == 0 ? 0 : TKV_ENOMEM;
}

static int cmap_put_u16(struct buffer *b, unsigned v)
{
        uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
        return cmap_put(b, p, 2);
}

static int cmap_put_text(struct buffer *b, const char *s)
{
        uint8_t len = (uint8_t)strlen(s);
        int rv = cmap_put(b, &len, 1);
        return rv != 0 ? rv : cmap_put(b, s, len);
}

static int cmap_put_member(struct buffer *b, const struct cmap_member *mb)
{
        uint8_t state = (uint8_t)mb->state;
        int rv = cmap_put_u16(b, mb->id);

        rv = rv != 0 ? rv : cmap_put(b, &state, 1);
        rv = rv != 0 ? rv : cmap_put_text(b, mb->client_addr);
        rv = rv != 0 ? rv : cmap_put_text(b, mb->peer_addr);
        rv = rv != 0 ? rv : cmap_put_text(b, mb->zone);
        return rv != 0 ? rv : cmap_put_u16(b, mb->successor);
}

int cmap_encode(const struct cmap *m, uint8_t **out, size_t *len)
{
        struct buffer b;
        uint8_t head[9];
        int rv;

        buffer_init(&b);
        head[0] = CMAP_FORMAT_VERSION;
        put_le64(head + 1, m->epoch);
        rv = cmap_put(&b, head, sizeof head);
        rv = rv != 0 ? rv : cmap_put_u16(&b, m->n_members);
        for (unsigned i = 0; rv == 0 && i < m->n_members; i++) {
                rv = cmap_put_member(&b, &m->members[i]);
        }
        rv = rv != 0 ? rv : cmap_put_u16(&b, m->n_partitions);
        for (unsigned p = 0; rv == 0 && p <= m->n_partitions; p++) {
                uint8_t n = (uint8_t)m->parts[p].n;
                rv = cmap_put(&b, &n, 1);
                for (unsigned i = 0; rv == 0 && i < n; i++) {
                        rv = cmap_put_u16(&b, m->parts[p].ids[i]);
                }
                rv = rv != 0 ? rv : cmap_put_u16(&b, m->parts[p].move_from);
                rv = rv != 0 ? rv : cmap_put_u16(&b, m->parts[p].move_to);
        }
        if (rv != 0) {
                buffer_free(&b);
                return rv;
        }
        *len = buffer_len(&b);
        *out = b.base; /* the buffer's allocation, from offset 0 */
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Decoding */

static int cmap_get_u8(struct cursor *c, unsigned *v)
{
        const uint8_t *p;
        if (cursor_bytes(c, 1, &p) != 0) {
                return TKV_ECORRUPT;
        }
        *v = p[0];
        return 0;
}

static int cmap_get_u16(struct cursor *c, unsigned *v)
{
        const uint8_t *p;
        if (cursor_bytes(c, 2, &p) != 0) {
                return TKV_ECORRUPT;
        }
        *v = (unsigned)p[0] | (unsigned)p[1] << 8;
        return 0;
}

static bool cmap_zone_char(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
}

/* A text field into out (CMAP_TEXT_BYTES): an address when addr, else a
 * zone. */
static int cmap_get_text(struct cursor *c, char *out, bool addr)
{
        const uint8_t *p;
        unsigned len;
        char host[CONFIG_ADDR_BYTES];
        unsigned port;

        /* A NUL inside would be read as a shorter, other text. */
        if (cmap_get_u8(c, &len) != 0 || len >= CMAP_TEXT_BYTES || cursor_bytes(c, len, &p) != 0 ||
            memchr(p, 0, len) != NULL) {
                return TKV_ECORRUPT;
        }
        memcpy(out, p, len);
        out[len] = '\0';
        if (addr) {
                return len > 0 && config_split_addr(out, host, &port) == 0 ? 0 : TKV_ECORRUPT;
        }
        for (unsigned i = 0; i < len; i++) {
                if (!cmap_zone_char(out[i])) {
                        return TKV_ECORRUPT;
                }
        }
        return 0;
}

static int cmap_get_member(struct cursor *c, struct cmap_member *mb, unsigned prev_id,
                           unsigned version)
{
        unsigned state;

        if (cmap_get_u16(c, &mb->id) != 0 || mb->id <= prev_id || cmap_get_u8(c, &state) != 0 ||
            state < CMAP_VOTER || state > (version >= 2 ? CMAP_LEAVING : CMAP_REMOVED)) {
                return TKV_ECORRUPT;
        }
        mb->state = (enum cmap_state)state;
        if (cmap_get_text(c, mb->client_addr, true) != 0 ||
            cmap_get_text(c, mb->peer_addr, true) != 0 || cmap_get_text(c, mb->zone, false) != 0) {
                return TKV_ECORRUPT;
        }
        if (version >= 2 && cmap_get_u16(c, &mb->successor) != 0) {
                return TKV_ECORRUPT;
        }
        return mb->successor == 0 || mb->state == CMAP_LEAVING ? 0 : TKV_ECORRUPT;
}

/* Every successor names an eligible member other than its own. */
static int cmap_check_successors(const struct cmap *m)
{
        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *s;
                if (m->members[i].successor == 0) {
                        continue;
                }
                s = cmap_member(m, m->members[i].successor);
                if (s == NULL || s == &m->members[i] || s->state == CMAP_REMOVED) {
                        return TKV_ECORRUPT;
                }
        }
        return 0;
}

/* A move's two ids (version 2): none, or from a replica to a member that
 * is neither removed nor a replica. */
static int cmap_get_move(struct cursor *c, const struct cmap *m, struct cmap_placement *pl)
{
        const struct cmap_member *to;
        bool from_ok = false;

        if (cmap_get_u16(c, &pl->move_from) != 0 || cmap_get_u16(c, &pl->move_to) != 0) {
                return TKV_ECORRUPT;
        }
        if (pl->move_from == 0 && pl->move_to == 0) {
                return 0;
        }
        to = cmap_member(m, pl->move_to);
        for (unsigned i = 0; i < pl->n; i++) {
                if (pl->ids[i] == pl->move_to) {
                        return TKV_ECORRUPT;
                }
                from_ok = from_ok || pl->ids[i] == pl->move_from;
        }
        return from_ok && to != NULL && to->state != CMAP_REMOVED ? 0 : TKV_ECORRUPT;
}

static int cmap_get_placement(struct cursor *c, const struct cmap *m, struct cmap_placement *pl,
                              unsigned version)
{
        if (cmap_get_u8(c, &pl->n) != 0 || pl->n == 0 || pl->n > CMAP_REPLICAS_MAX) {
                return TKV_ECORRUPT;
        }
        for (unsigned i = 0; i < pl->n; i++) {
                const struct cmap_member *mb;
                if (cmap_get_u16(c, &pl->ids[i]) != 0) {
                        return TKV_ECORRUPT;
                }
                mb = cmap_member(m, pl->ids[i]);
                if (mb == NULL || mb->state == CMAP_REMOVED) {
                        return TKV_ECORRUPT;
                }
                for (unsigned j = 0; j < i; j++) {
                        if (pl->ids[j] == pl->ids[i]) {
                                return TKV_ECORRUPT;
                        }
                }
        }
        return version >= 2 ? cmap_get_move(c, m, pl) : 0;
}

static int cmap_decode_into(struct cursor *c, struct cmap *m)
{
        unsigned version;

        if (cmap_get_u8(c, &version) != 0 || version < 1 || version > CMAP_FORMAT_VERSION ||
            cursor_u64(c, &m->epoch) != 0 || m->epoch == 0 || cmap_get_u16(c, &m->n_members) != 0 ||
            m->n_members == 0 || m->n_members > CMAP_MEMBERS_MAX) {
                return TKV_ECORRUPT;
        }
        for (unsigned i = 0; i < m->n_members; i++) {
                if (cmap_get_member(c, &m->members[i], i > 0 ? m->members[i - 1].id : 0, version) !=
                    0) {
                        return TKV_ECORRUPT;
                }
        }
        if (cmap_check_successors(m) != 0) {
                return TKV_ECORRUPT;
        }
        if (cmap_get_u16(c, &m->n_partitions) != 0 || m->n_partitions == 0 ||
            m->n_partitions > CMAP_PARTITIONS_MAX) {
                return TKV_ECORRUPT;
        }
        for (unsigned p = 0; p < m->n_partitions + (version >= 2); p++) {
                if (cmap_get_placement(c, m, &m->parts[p], version) != 0) {
                        return TKV_ECORRUPT;
                }
        }
        if (version < 2) {
                cmap_meta_of_voters(m);
                if (m->parts[m->n_partitions].n == 0) {
                        return TKV_ECORRUPT; /* no voter: no metadata group */
                }
        }
        return c->left == 0 ? 0 : TKV_ECORRUPT;
}

int cmap_decode(const void *data, size_t len, struct cmap **out)
{
        struct cmap *m;
        struct cursor c;
        int rv;

        *out = NULL;
        if (len > CMAP_ENCODED_MAX) {
                return TKV_ECORRUPT;
        }
        m = tkv_calloc(1, sizeof *m);
        if (m == NULL) {
                return TKV_ENOMEM;
        }
        cursor_init(&c, data, len);
        rv = cmap_decode_into(&c, m);
        if (rv != 0) {
                cmap_destroy(m);
                return rv;
        }
        *out = m;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Queries */

const struct cmap_member *cmap_member(const struct cmap *m, unsigned id)
{
        for (unsigned i = 0; i < m->n_members; i++) {
                if (m->members[i].id == id) {
                        return &m->members[i];
                }
        }
        return NULL;
}

bool cmap_is_replica(const struct cmap *m, unsigned p, unsigned id)
{
        if (p > m->n_partitions) {
                return false;
        }
        for (unsigned i = 0; i < m->parts[p].n; i++) {
                if (m->parts[p].ids[i] == id) {
                        return true;
                }
        }
        return false;
}

bool cmap_hosts(const struct cmap *m, unsigned p, unsigned id)
{
        return cmap_is_replica(m, p, id) || (p <= m->n_partitions && m->parts[p].move_to == id);
}

const char *cmap_state_name(enum cmap_state s)
{
        switch (s) {
        case CMAP_VOTER:
                return "voter";
        case CMAP_JOINING:
                return "joining";
        case CMAP_REMOVED:
                return "removed";
        case CMAP_LEAVING:
                return "leaving";
        default:
                return "unknown";
        }
}

/* ------------------------------------------------------------------------ */
/* Changes */

/* Is text a valid address (want_addr) or zone? */
static bool cmap_text_valid(const char *text, bool want_addr)
{
        char host[CONFIG_ADDR_BYTES];
        unsigned port;
        size_t len = strnlen(text, CMAP_TEXT_BYTES);

        if (len >= CMAP_TEXT_BYTES) {
                return false;
        }
        if (want_addr) {
                return len > 0 && config_split_addr(text, host, &port) == 0;
        }
        for (size_t i = 0; i < len; i++) {
                if (!cmap_zone_char(text[i])) {
                        return false;
                }
        }
        return true;
}

/* The member of m, not removed, that uses addr as either address, or
 * NULL. */
static const struct cmap_member *cmap_addr_user(const struct cmap *m, const char *addr)
{
        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *o = &m->members[i];
                if (o->state != CMAP_REMOVED &&
                    (strcmp(o->client_addr, addr) == 0 || strcmp(o->peer_addr, addr) == 0)) {
                        return o;
                }
        }
        return NULL;
}

/* Why mb cannot join m (why filled), or 0. */
static int cmap_add_refused(const struct cmap *m, const struct cmap_member *mb, char *why,
                            size_t len)
{
        const struct cmap_member *o =
            mb->id >= 1 && mb->id <= 65535 ? cmap_member(m, mb->id) : NULL;
        const char *addrs[2] = {mb->client_addr, mb->peer_addr};

        if (mb->id < 1 || mb->id > 65535) {
                snprintf(why, len, "node id %u is outside 1..65535", mb->id);
                return TKV_EINVAL;
        }
        if (o != NULL) {
                snprintf(why, len, "node %u is a member already (%s)%s", mb->id,
                         cmap_state_name(o->state),
                         o->state == CMAP_REMOVED ? ": a removed node's id is never reused" : "");
                return TKV_EINVAL;
        }
        for (unsigned i = 0; i < 2; i++) {
                if (!cmap_text_valid(addrs[i], true)) {
                        snprintf(why, len, "bad %s address \"%.64s\" (want a.b.c.d:port)",
                                 i == 0 ? "client" : "peer", addrs[i]);
                        return TKV_EINVAL;
                }
                o = cmap_addr_user(m, addrs[i]);
                if (o != NULL) {
                        snprintf(why, len, "address %s is node %u's", addrs[i], o->id);
                        return TKV_EINVAL;
                }
        }
        if (strcmp(mb->client_addr, mb->peer_addr) == 0) {
                snprintf(why, len, "the client and peer addresses are the same (%s)",
                         mb->client_addr);
                return TKV_EINVAL;
        }
        if (!cmap_text_valid(mb->zone, false)) {
                snprintf(why, len, "bad zone (up to %d letters, digits, '.', '_' and '-')",
                         CMAP_TEXT_BYTES - 1);
                return TKV_EINVAL;
        }
        if (m->epoch == UINT64_MAX) {
                snprintf(why, len, "the cluster map's epoch cannot grow any further");
                return TKV_ETOOBIG;
        }
        if (m->n_members >= CMAP_MEMBERS_MAX) {
                snprintf(why, len,
                         "the cluster map holds %d members (removed ones included), the most it "
                         "can",
                         CMAP_MEMBERS_MAX);
                return TKV_ETOOBIG;
        }
        return 0;
}

int cmap_add(struct cmap *m, const struct cmap_member *mb, char *why, size_t len)
{
        unsigned at = 0;
        int rv = cmap_add_refused(m, mb, why, len);

        if (rv != 0) {
                return rv;
        }
        while (at < m->n_members && m->members[at].id < mb->id) {
                at++;
        }
        memmove(&m->members[at + 1], &m->members[at], (m->n_members - at) * sizeof *mb);
        m->members[at] = *mb;
        m->members[at].state = CMAP_JOINING;
        m->n_members++;
        m->epoch++;
        return 0;
}

static int cmap_replica_slot(const struct cmap_placement *pl, unsigned id);

bool cmap_eligible(const struct cmap_member *mb)
{
        return mb->state == CMAP_VOTER || mb->state == CMAP_JOINING;
}

unsigned cmap_load(const struct cmap *m, unsigned id)
{
        unsigned n = 0;

        for (unsigned p = 0; p < m->n_partitions; p++) {
                n += cmap_hosts(m, p, id);
        }
        return n;
}

bool cmap_holds_any(const struct cmap *m, unsigned id)
{
        return cmap_load(m, id) > 0 || cmap_hosts(m, m->n_partitions, id);
}

void cmap_group_name(const struct cmap *m, unsigned p, char *buf, size_t len)
{
        if (p == m->n_partitions) {
                snprintf(buf, len, "the metadata group");
        } else {
                snprintf(buf, len, "partition %u", p);
        }
}

/* Could some eligible member other than id take p's replica? */
static bool cmap_has_taker(const struct cmap *m, unsigned p, unsigned id)
{
        for (unsigned i = 0; i < m->n_members; i++) {
                const struct cmap_member *o = &m->members[i];
                if (o->id != id && cmap_eligible(o) && !cmap_hosts(m, p, o->id)) {
                        return true;
                }
        }
        return false;
}

/* mb leaves: REMOVED when it holds nothing, else LEAVING towards
 * successor (0: any), if every replica it holds has a taker. Members
 * whose replicas were to move to mb go wherever the cluster places them
 * instead. */
static int cmap_leave(struct cmap *m, struct cmap_member *mb, unsigned successor, char *why,
                      size_t len)
{
        for (unsigned p = 0; p <= m->n_partitions; p++) {
                if (cmap_hosts(m, p, mb->id) && !cmap_has_taker(m, p, mb->id)) {
                        char what[48];
                        cmap_group_name(m, p, what, sizeof what);
                        snprintf(why, len,
                                 "node %u holds a replica of %s and no other member could take "
                                 "it (each holds one already): add a node first",
                                 mb->id, what);
                        return TKV_EINVAL;
                }
        }
        for (unsigned i = 0; i < m->n_members; i++) {
                if (m->members[i].successor == mb->id) {
                        m->members[i].successor = 0;
                }
        }
        if (!cmap_holds_any(m, mb->id)) {
                mb->state = CMAP_REMOVED;
                mb->successor = 0;
                m->epoch++;
                return 0;
        }
        mb->state = CMAP_LEAVING;
        mb->successor = successor;
        m->epoch++;
        return 0;
}

/* Why member id cannot leave (why filled), or 0. */
static int cmap_leave_refused(const struct cmap *m, unsigned id, char *why, size_t len)
{
        const struct cmap_member *mb = cmap_member(m, id);

        if (mb == NULL || mb->state == CMAP_REMOVED || mb->state == CMAP_LEAVING) {
                snprintf(why, len, "node %u is not a member%s", id,
                         mb == NULL                  ? ""
                         : mb->state == CMAP_REMOVED ? " (it was removed already)"
                                                     : " that stays (it is leaving already)");
                return TKV_EINVAL;
        }
        if (m->epoch >= UINT64_MAX - 1) {
                snprintf(why, len, "the cluster map's epoch cannot grow any further");
                return TKV_ETOOBIG;
        }
        return 0;
}

/* Why member mb cannot take addr as its client (i 0) or peer (i 1)
 * address, other its other address as it will be (why filled), or 0. */
static int cmap_update_addr_refused(const struct cmap *m, const struct cmap_member *mb,
                                    const char *addr, const char *other, unsigned i, char *why,
                                    size_t len)
{
        static const char *const names[2] = {"client", "peer"};
        const struct cmap_member *o;

        if (!cmap_text_valid(addr, true)) {
                snprintf(why, len, "bad %s address \"%.64s\" (want a.b.c.d:port)", names[i], addr);
                return TKV_EINVAL;
        }
        if (strcmp(addr, other) == 0) {
                snprintf(why, len, "address %s would be node %u's client and peer address", addr,
                         mb->id);
                return TKV_EINVAL;
        }
        o = cmap_addr_user(m, addr);
        if (o != NULL && o != mb) {
                snprintf(why, len, "address %s is node %u's", addr, o->id);
                return TKV_EINVAL;
        }
        return 0;
}

int cmap_update(struct cmap *m, unsigned id, const char *client_addr, const char *peer_addr,
                const char *zone, char *why, size_t len)
{
        struct cmap_member *mb = (struct cmap_member *)cmap_member(m, id);
        const char *client, *peer;
        int rv;

        if (mb == NULL || mb->state == CMAP_REMOVED) {
                snprintf(why, len, "node %u is %s", id, mb == NULL ? "no member" : "removed");
                return TKV_EINVAL;
        }
        client = client_addr != NULL ? client_addr : mb->client_addr;
        peer = peer_addr != NULL ? peer_addr : mb->peer_addr;
        if ((client_addr != NULL &&
             (rv = cmap_update_addr_refused(m, mb, client, peer, 0, why, len)) != 0) ||
            (peer_addr != NULL &&
             (rv = cmap_update_addr_refused(m, mb, peer, client, 1, why, len)) != 0)) {
                return rv;
        }
        if (zone != NULL && !cmap_text_valid(zone, false)) {
                snprintf(why, len, "bad zone (up to %d letters, digits, '.', '_' and '-')",
                         CMAP_TEXT_BYTES - 1);
                return TKV_EINVAL;
        }
        if (strcmp(client, mb->client_addr) == 0 && strcmp(peer, mb->peer_addr) == 0 &&
            (zone == NULL || strcmp(zone, mb->zone) == 0)) {
                snprintf(why, len, "node %u has those addresses and that zone already", id);
                return TKV_EEXIST;
        }
        if (m->epoch == UINT64_MAX) {
                snprintf(why, len, "the cluster map's epoch cannot grow any further");
                return TKV_ETOOBIG;
        }
        /* client and peer may be mb's own (kept): never copied onto
         * themselves. */
        if (client_addr != NULL) {
                snprintf(mb->client_addr, sizeof mb->client_addr, "%s", client_addr);
        }
        if (peer_addr != NULL) {
                snprintf(mb->peer_addr, sizeof mb->peer_addr, "%s", peer_addr);
        }
        if (zone != NULL) {
                snprintf(mb->zone, sizeof mb->zone, "%s", zone);
        }
        m->epoch++;
        return 0;
}

int cmap_remove(struct cmap *m, unsigned id, char *why, size_t len)
{
        int rv = cmap_leave_refused(m, id, why, len);

        return rv != 0 ? rv : cmap_leave(m, (struct cmap_member *)cmap_member(m, id), 0, why, len);
}

int cmap_replace(struct cmap *m, unsigned old, unsigned successor, const struct cmap_member *addrs,
                 char *why, size_t len)
{
        struct cmap *copy;
        const struct cmap_member *s;
        int rv = cmap_leave_refused(m, old, why, len);

        if (rv != 0) {
                return rv;
        }
        copy = tkv_malloc(sizeof *copy);
        if (copy == NULL) {
                snprintf(why, len, "out of memory");
                return TKV_ENOMEM;
        }
        *copy = *m; /* all or nothing: the add may apply and the leave not */
        if (addrs != NULL && (rv = cmap_add(copy, addrs, why, len)) != 0) {
                goto out;
        }
        s = cmap_member(copy, successor);
        if (s == NULL || !cmap_eligible(s) || successor == old) {
                snprintf(why, len, "node %u cannot take node %u's replicas: %s", successor, old,
                         successor == old ? "it is the same node"
                         : s == NULL      ? "it is not a member (give its addresses to add it)"
                                          : "it is removed or leaving");
                rv = TKV_EINVAL;
                goto out;
        }
        rv = cmap_leave(copy, (struct cmap_member *)cmap_member(copy, old), successor, why, len);
        if (rv == 0) {
                *m = *copy;
        }
out:
        tkv_free(copy);
        return rv;
}

int cmap_prefer(struct cmap *m, unsigned p, unsigned id, char *why, size_t len)
{
        struct cmap_placement *pl;
        int slot;

        if (p > m->n_partitions || (slot = cmap_replica_slot(&m->parts[p], id)) < 0) {
                snprintf(why, len, "node %u holds no replica of partition %u", id, p);
                return TKV_EINVAL;
        }
        if (slot == 0) {
                return TKV_EEXIST;
        }
        if (m->epoch == UINT64_MAX) {
                snprintf(why, len, "the cluster map's epoch cannot grow any further");
                return TKV_ETOOBIG;
        }
        pl = &m->parts[p];
        pl->ids[slot] = pl->ids[0];
        pl->ids[0] = id;
        m->epoch++;
        return 0;
}

/* The slot of id among p's replicas, or -1. */
static int cmap_replica_slot(const struct cmap_placement *pl, unsigned id)
{
        for (unsigned i = 0; i < pl->n; i++) {
                if (pl->ids[i] == id) {
                        return (int)i;
                }
        }
        return -1;
}

/* Why p in m cannot be changed at all (why filled), or 0. */
static int cmap_partition_refused(const struct cmap *m, unsigned p, char *why, size_t len)
{
        if (p > m->n_partitions) {
                snprintf(why, len, "no partition %u (the cluster has %u; %u is the metadata group)",
                         p, m->n_partitions, m->n_partitions);
                return TKV_EINVAL;
        }
        if (m->epoch == UINT64_MAX) {
                snprintf(why, len, "the cluster map's epoch cannot grow any further");
                return TKV_ETOOBIG;
        }
        return 0;
}

int cmap_move(struct cmap *m, unsigned p, unsigned from, unsigned to, char *why, size_t len)
{
        const struct cmap_member *mb = cmap_member(m, to);
        struct cmap_placement *pl;
        int rv = cmap_partition_refused(m, p, why, len);

        if (rv != 0) {
                return rv;
        }
        pl = &m->parts[p];
        if (pl->move_to != 0) {
                bool same = pl->move_from == from && pl->move_to == to;
                snprintf(why, len,
                         "partition %u's replica is being moved from node %u to node %u%s", p,
                         pl->move_from, pl->move_to,
                         same ? " already" : ": wait for it, or cancel it (move --cancel)");
                return same ? TKV_EEXIST : TKV_EBUSY;
        }
        if (cmap_replica_slot(pl, from) < 0) {
                snprintf(why, len, "node %u holds no replica of partition %u", from, p);
                return TKV_EINVAL;
        }
        if (mb == NULL || mb->state == CMAP_REMOVED || from == to) {
                snprintf(why, len, "node %u is %s", to,
                         from == to ? "the replica being moved" : "not a member of the cluster");
                return TKV_EINVAL;
        }
        if (cmap_replica_slot(pl, to) >= 0) {
                snprintf(why, len, "node %u holds a replica of partition %u already", to, p);
                return TKV_EINVAL;
        }
        pl->move_from = from;
        pl->move_to = to;
        m->epoch++;
        return 0;
}

int cmap_move_done(struct cmap *m, unsigned p, unsigned from, unsigned to, char *why, size_t len)
{
        struct cmap_placement *pl;
        int rv = cmap_partition_refused(m, p, why, len);

        if (rv != 0) {
                return rv;
        }
        pl = &m->parts[p];
        if (pl->move_to == 0 && cmap_replica_slot(pl, to) >= 0 && cmap_replica_slot(pl, from) < 0) {
                snprintf(why, len, "partition %u's move from node %u to node %u is done already", p,
                         from, to);
                return TKV_EEXIST;
        }
        if (pl->move_from != from || pl->move_to != to) {
                snprintf(why, len, "partition %u has no move from node %u to node %u in progress",
                         p, from, to);
                return TKV_EINVAL;
        }
        /* The new replica takes the old one's slot, and with it the
         * preferred leadership if the old one had it. */
        pl->ids[cmap_replica_slot(pl, from)] = to;
        pl->move_from = pl->move_to = 0;
        m->epoch++;
        return 0;
}

int cmap_move_cancel(struct cmap *m, unsigned p, char *why, size_t len)
{
        int rv = cmap_partition_refused(m, p, why, len);

        if (rv != 0) {
                return rv;
        }
        if (m->parts[p].move_to == 0) {
                snprintf(why, len, "partition %u has no move in progress", p);
                return TKV_EINVAL;
        }
        m->parts[p].move_from = m->parts[p].move_to = 0;
        m->epoch++;
        return 0;
}

/* The first member whose addresses differ between m and cfg; why filled. */
static bool cmap_addrs_differ(const struct cmap *m, const struct config *cfg, char *why, size_t len)
{
        for (unsigned i = 0; i < cfg->n_nodes; i++) {
                const struct config_node *n = &cfg->nodes[i];
                const struct cmap_member *mb = cmap_member(m, n->id);
                bool client;
                if (mb == NULL) {
                        continue;
                }
                client = strcmp(mb->client_addr, n->client_addr) != 0;
                if (client || strcmp(mb->peer_addr, n->peer_addr) != 0) {
                        snprintf(why, len,
                                 "node %u's %s address is %s in the cluster map (epoch %llu) but "
                                 "%s in the configuration",
                                 n->id, client ? "client" : "peer",
                                 client ? mb->client_addr : mb->peer_addr,
                                 (unsigned long long)m->epoch,
                                 client ? n->client_addr : n->peer_addr);
                        return true;
                }
        }
        return false;
}

/* Members and zones; why filled on the first difference. The placement
 * is the map's alone once replicas move: the file only bootstrapped it. */
static bool cmap_layout_differs(const struct cmap *m, const struct config *cfg, char *why,
                                size_t len)
{
        for (unsigned i = 0; i < cfg->n_nodes; i++) {
                const struct cmap_member *mb = cmap_member(m, cfg->nodes[i].id);
                if (mb == NULL || mb->state == CMAP_REMOVED) {
                        snprintf(why, len, "node %u is in the configuration but %s the cluster map",
                                 cfg->nodes[i].id, mb == NULL ? "not in" : "removed from");
                        return true;
                }
                if (strcmp(mb->zone, cfg->nodes[i].zone) != 0) {
                        snprintf(why, len,
                                 "node %u's zone is \"%s\" in the cluster map but \"%s\" in the "
                                 "configuration",
                                 mb->id, mb->zone, cfg->nodes[i].zone);
                        return true;
                }
        }
        if (m->n_partitions != cfg->partitions) {
                snprintf(why, len, "the cluster map has %u partitions, the configuration %u",
                         m->n_partitions, cfg->partitions);
                return true;
        }
        return false;
}

enum cmap_agreement cmap_check_config(const struct cmap *m, const struct config *cfg, char *why,
                                      size_t len)
{
        if (cmap_addrs_differ(m, cfg, why, len)) {
                return CMAP_DIFFERS_ADDRS;
        }
        return cmap_layout_differs(m, cfg, why, len) ? CMAP_DIFFERS : CMAP_AGREES;
}

/* ------------------------------------------------------------------------ */
/* The data dir's copy */

int cmap_file_read(const char *data_dir, struct cmap **out, char *errmsg)
{
        char path[CONFIG_PATH_BYTES + 32];
        uint8_t *bytes = NULL;
        struct stat st;
        size_t got;
        FILE *f;
        int rv;

        *out = NULL;
        snprintf(path, sizeof path, "%s/%s", data_dir, CMAP_FILE);
        f = fopen(path, "rb");
        if (f == NULL) {
                if (errno == ENOENT) {
                        return TKV_ENOTFOUND;
                }
                err_msgf(errmsg, "%s: %s", path, strerror(errno));
                return TKV_EIO;
        }
        if (fstat(fileno(f), &st) != 0 || st.st_size > CMAP_ENCODED_MAX) {
                err_msgf(errmsg, "%s: unreadable or larger than any cluster map", path);
                rv = TKV_ECORRUPT;
                goto cleanup;
        }
        bytes = tkv_malloc((size_t)st.st_size + 1);
        if (bytes == NULL) {
                rv = TKV_ENOMEM;
                goto cleanup;
        }
        got = fread(bytes, 1, (size_t)st.st_size, f);
        rv = got == (size_t)st.st_size ? cmap_decode(bytes, got, out) : TKV_EIO;
        if (rv != 0 && rv != TKV_ENOMEM) {
                err_msgf(errmsg, "%s: %s", path, err_str(rv));
        }
cleanup:
        tkv_free(bytes);
        fclose(f);
        return rv;
}

int cmap_file_write(const char *data_dir, const uint8_t *bytes, size_t len)
{
        char tmp[CONFIG_PATH_BYTES + 32], path[CONFIG_PATH_BYTES + 32];
        int fd, rv = 0;

        snprintf(tmp, sizeof tmp, "%s/%s.tmp", data_dir, CMAP_FILE);
        snprintf(path, sizeof path, "%s/%s", data_dir, CMAP_FILE);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
                return TKV_EIO;
        }
        if (write(fd, bytes, len) != (ssize_t)len || fsync(fd) != 0) {
                rv = TKV_EIO;
        }
        close(fd);
        if (rv == 0 && rename(tmp, path) != 0) {
                rv = TKV_EIO;
        }
        fd = rv == 0 ? open(data_dir, O_RDONLY | O_DIRECTORY) : -1;
        if (fd >= 0) {
                (void)fsync(fd);
                close(fd);
        }
        return rv;
}
