#include "proxy/core/worker_upstreams.h"

#include <stdlib.h>

#include "common/mem.h"
#include "proxy/core/worker.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/upstream/upstream_set.h"

struct upstream_msg {
    size_t upstream_index;
    struct upstream_set *set;
};

void *worker_upstream_msg_new(size_t upstream_index, struct upstream_set *set)
{
    struct upstream_msg *m = cg_xmalloc(sizeof(*m));
    m->upstream_index = upstream_index;
    m->set = upstream_set_ref(set);
    return m;
}

void worker_set_upstream_servers(struct worker *w, void *arg)
{
    struct upstream_msg *m = arg;
    upstream_pool_set_servers(w->pools[m->upstream_index], m->set);
    upstream_set_unref(m->set);
    free(m);
}
