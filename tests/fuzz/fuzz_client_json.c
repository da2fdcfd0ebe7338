/* libFuzzer target: fm_client_json_normalise / fm_client_json_parse, the reading of fastjson
 * bodies from name servers and brokers. Checked, besides not crashing: standard JSON passes
 * through unchanged, and whatever is accepted is a tree cJSON can print and read back; the
 * cluster, route, consume stats and group readers then run on it. */
#include "client/client_int.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is data one standard JSON value (nothing but blanks after it)? */
static int
standard_json(const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    int ok = j != NULL;
    cJSON_Delete(j);
    for (; ok && end < (const char *)data + size; end++) {
        ok = (uint8_t)*end <= ' ';
    }
    return ok;
}

/* Object keys that were composites (fastjson's object keys) parse again without harm. */
static void
walk_keys(const cJSON *node, int depth)
{
    const cJSON *c;
    if (depth > 8) {
        return;
    }
    for (c = node ? node->child : NULL; c != NULL; c = c->next) {
        if (cJSON_IsObject(node) && c->string != NULL &&
            (c->string[0] == '{' || c->string[0] == '[')) {
            cJSON *k = NULL;
            if (fm_client_json_parse((const uint8_t *)c->string, strlen(c->string), &k, NULL) ==
                FM_OK) {
                walk_keys(k, depth + 1);
            }
            cJSON_Delete(k);
        }
        walk_keys(c, depth + 1);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_buf out = {0};
    cJSON *j = NULL;
    int rewritten = 0;
    int rc = fm_client_json_normalise(data, size, &out, &rewritten);
    if (size > 0 && standard_json(data, size) && (rc != FM_OK || rewritten)) {
        __builtin_trap(); /* standard JSON must pass untouched */
    }
    if (rc == FM_OK && rewritten && out.len < size) {
        __builtin_trap(); /* the rewrite only adds quotes and escapes */
    }
    fm_buf_free(&out);
    if (fm_client_json_parse(data, size, &j, NULL) == FM_OK) {
        char *text = cJSON_PrintUnformatted(j);
        if (text != NULL) {
            cJSON *again = cJSON_Parse(text);
            if (again == NULL) {
                __builtin_trap(); /* what was accepted must be valid JSON */
            }
            cJSON_Delete(again);
            cJSON_free(text);
        }
        walk_keys(j, 0);
        {
            /* and the readers built on it take whatever tree comes */
            ferrymq_broker_info *bs = NULL;
            client_route *r = NULL;
            size_t n = 0;
            if (fm_client_cluster_brokers(j, &bs, &n) == FM_OK) {
                free(bs);
            }
            ferrymq_queue_progress *rows = NULL;
            char **names = NULL;
            size_t nr = 0, cap = 0, nn = 0, ncap = 0;
            if (fm_client_route_parse(data, size, &r, NULL) == FM_OK) {
                free(r);
            }
            fm_client_consume_stats_read(j, &rows, &nr, &cap);
            free(rows);
            fm_client_groups_read(j, &names, &nn, &ncap);
            for (size_t i = 0; i < nn; i++) {
                free(names[i]);
            }
            free(names);
        }
        cJSON_Delete(j);
    }
    return 0;
}
