/*
 * stub.c - placeholder engine so the HTTP side builds before the engine lands: every call
 * answers FM_ENOTSUP. Replaced by engine.c.
 */
#include "repl/repl.h"

#include <stdlib.h>

struct fm_repl {
    int unused;
};

int
fm_repl_new(const fm_repl_opts *opts, fm_repl **out, fm_errbuf *eb)
{
    (void)opts;
    (void)eb;
    *out = calloc(1, sizeof(**out));
    return *out ? FM_OK : FM_ENOMEM;
}

void
fm_repl_free(fm_repl *r)
{
    free(r);
}

int
fm_repl_task_create(fm_repl *r, const cJSON *spec, cJSON **out, fm_errbuf *eb)
{
    (void)r, (void)spec, (void)out;
    return fm_err_set(eb, FM_ENOTSUP, "replication engine not built yet");
}

int
fm_repl_task_list(fm_repl *r, cJSON **out)
{
    (void)r;
    *out = cJSON_CreateArray();
    return *out ? FM_OK : FM_ENOMEM;
}

int
fm_repl_task_show(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb)
{
    (void)r, (void)out;
    return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
}

int
fm_repl_task_set_paused(fm_repl *r, const char *name, int paused, cJSON **out, fm_errbuf *eb)
{
    (void)r, (void)paused, (void)out;
    return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
}

int
fm_repl_task_delete(fm_repl *r, const char *name, cJSON **out, fm_errbuf *eb)
{
    (void)r, (void)out;
    return fm_err_set(eb, FM_ENOTFOUND, "no task named %s", name);
}

int
fm_repl_metrics(fm_repl *r, fm_buf *out)
{
    (void)r;
    (void)out;
    return FM_OK;
}
