#include "common/map.h"

#include "common/errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys, no adversarial load (keys come from configured topics and groups). */
static uint64_t
hash(const void *key, size_t n)
{
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void
fm_map_free(fm_map *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

void
fm_map_free_values(fm_map *m, void (*free_val)(void *val))
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key != NULL) {
            (free_val ? free_val : free)(m->slots[i].val);
        }
    }
    fm_map_free(m);
}

static fm_map_entry *
find(const fm_map *m, const void *key, size_t klen)
{
    size_t i;
    if (m->cap == 0) {
        return NULL;
    }
    i = hash(key, klen) & (m->cap - 1);
    for (;;) {
        fm_map_entry *e = &m->slots[i];
        if (e->key == NULL && !e->tomb) {
            return NULL;
        }
        if (e->key != NULL && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            return e;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

void *
fm_map_get(const fm_map *m, const void *key, size_t klen)
{
    fm_map_entry *e = find(m, key, klen);
    return e ? e->val : NULL;
}

static int
grow(fm_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    fm_map_entry *old = m->slots, *slots;
    size_t old_cap = m->cap;
    /* Rehash in place of tombstones when most of the load is tombstones. */
    if (m->cap && m->n * 4 < m->cap) {
        cap = m->cap;
    }
    slots = calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return FM_ENOMEM;
    }
    m->slots = slots;
    m->cap = cap;
    m->n = m->used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key != NULL) {
            size_t j = hash(old[i].key, old[i].klen) & (cap - 1);
            while (slots[j].key != NULL) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = old[i];
            slots[j].tomb = 0;
            m->n++;
            m->used++;
        }
    }
    free(old);
    return FM_OK;
}

int
fm_map_put(fm_map *m, const void *key, size_t klen, void *val)
{
    fm_map_entry *e = find(m, key, klen);
    size_t i;
    char *k;
    if (e != NULL) {
        e->val = val;
        return FM_OK;
    }
    if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) != FM_OK) {
        return FM_ENOMEM;
    }
    k = malloc(klen + 1);
    if (k == NULL) {
        return FM_ENOMEM;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    i = hash(key, klen) & (m->cap - 1);
    while (m->slots[i].key != NULL) {
        i = (i + 1) & (m->cap - 1);
    }
    if (!m->slots[i].tomb) {
        m->used++;
    }
    m->slots[i].key = k;
    m->slots[i].klen = klen;
    m->slots[i].val = val;
    m->slots[i].tomb = 0;
    m->n++;
    return FM_OK;
}

void *
fm_map_del(fm_map *m, const void *key, size_t klen)
{
    fm_map_entry *e = find(m, key, klen);
    void *v;
    if (e == NULL) {
        return NULL;
    }
    v = e->val;
    free(e->key);
    e->key = NULL;
    e->val = NULL;
    e->tomb = 1;
    m->n--;
    return v;
}

int
fm_map_next(const fm_map *m, size_t *pos, const char **key, size_t *klen, void **val)
{
    while (*pos < m->cap) {
        fm_map_entry *e = &m->slots[(*pos)++];
        if (e->key != NULL) {
            *key = e->key;
            *klen = e->klen;
            *val = e->val;
            return 1;
        }
    }
    return 0;
}
