/* tkv-verify's parts (verify.c: clients, watchers, faults, final phase;
 * scenario.c: the cluster changing shape under the load). */
#ifndef TKV_VERIFY_H
#define TKV_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

#define LEVELS 6

enum scenario {
        SCENARIO_FAULTS,  /* random faults (the nemesis), the default */
        SCENARIO_ELASTIC, /* nodes join, leave and are replaced */
        SCENARIO_MOVES,   /* replica moves, a participant killed at each step */
};

struct opts {
        const char *dir;
        unsigned seconds;
        unsigned clients;
        unsigned keys;
        unsigned nodes; /* started from the file */
        unsigned partitions;
        unsigned think_ms; /* pause between a process's operations */
        unsigned weights[LEVELS];
        bool fault_kill, fault_leader_kill, fault_pause, fault_isolate;
        bool fault_partition, fault_one_way, fault_delay; /* need --netns */
        bool netns;
        const char *bug;
        unsigned seed;
        enum scenario scenario;
};

extern struct opts o;
extern struct cluster cl;

uint64_t now_ns(void);
void nap_ms(unsigned ms);
unsigned rnd(unsigned *seed, unsigned n);

/* A "nemesis" info event in the history (and a line on stdout). */
void nemesis(const char *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The nodes clients connect to and pin reads to, and the final phase
 * reads: 1..o.nodes until a scenario changes them. */
void members_set(const unsigned *ids, unsigned n);

/* The scenarios, on the main thread while the clients run; each returns
 * 0 once it is done (the run then goes on until --seconds), or -1 if the
 * cluster did not do what it must (said on stderr and in the history). */
int scenario_elastic(unsigned *seed);
int scenario_moves(unsigned *seed);

/* The [cluster] lines each scenario's cluster starts with (NULL: none). */
const char *scenario_conf(enum scenario s);

#endif
