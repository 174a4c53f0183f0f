#include "proxy/core/worker_upstreams.h"

#include <stdlib.h>

#include "common/mem.h"
#include "proxy/core/worker.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_set.h"

struct upstream_msg {
    const struct snapshot *snap; /* compared only: the worker holds it while the message
                                    can reach it (see worker_set_policy) */
    size_t upstream_index;
    struct upstream_set *set;
};

void *worker_upstream_msg_new(const struct snapshot *snap, size_t upstream_index,
                              struct upstream_set *set)
{
    struct upstream_msg *m = cg_xmalloc(sizeof(*m));
    m->snap = snap;
    m->upstream_index = upstream_index;
    m->set = upstream_set_ref(set);
    return m;
}

void worker_set_upstream_servers(struct worker *w, void *arg)
{
    struct upstream_msg *m = arg;
    struct worker_snapshot *ws = w->cur;
    while (ws != NULL && ws->snap != m->snap) {
        ws = ws == w->cur ? w->retiring : ws->next;
    }
    if (ws != NULL) {
        upstream_pool_set_servers(ws->pools[m->upstream_index], m->set);
    }
    upstream_set_unref(m->set);
    free(m);
}
