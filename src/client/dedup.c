/*
 * dedup.c - ferrymq_dedup: a bounded set of recently seen message ids.
 *
 * A ring of the last `capacity` ids in arrival order (the oldest is forgotten first, or once
 * it is older than the window) and an open-addressing index over it (linear probing,
 * backward-shift deletion, so lookups never wade through tombstones). Everything is allocated
 * at creation: checking an id allocates nothing.
 */
#include "client/client_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_MAX 128 /* ids are compared on their first ID_MAX - 1 bytes, length and hash */

typedef struct dedup_entry {
    uint64_t hash;
    int64_t ts;
    uint32_t len;
    char id[ID_MAX];
} dedup_entry;

struct ferrymq_dedup {
    pthread_mutex_t mu;
    dedup_entry *ring;
    size_t cap, head, count;
    uint32_t *slots; /* ring index + 1; 0 = empty */
    size_t mask;
    int64_t window_ms;
};

static uint64_t
fnv1a(const char *s, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ferrymq_dedup *
ferrymq_dedup_new(size_t capacity, int64_t window_ms)
{
    ferrymq_dedup *d;
    size_t t = 16;
    if (capacity == 0 || capacity > (size_t)1 << 28 || window_ms < 0) {
        return NULL;
    }
    while (t < capacity * 2) {
        t <<= 1;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    d->ring = calloc(capacity, sizeof(*d->ring));
    d->slots = calloc(t, sizeof(*d->slots));
    if (d->ring == NULL || d->slots == NULL || pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d->ring);
        free(d->slots);
        free(d);
        return NULL;
    }
    d->cap = capacity;
    d->mask = t - 1;
    d->window_ms = window_ms;
    return d;
}

void
ferrymq_dedup_free(ferrymq_dedup *d)
{
    if (d == NULL) {
        return;
    }
    pthread_mutex_destroy(&d->mu);
    free(d->ring);
    free(d->slots);
    free(d);
}

/* Forget the oldest id: unlink its index slot and close the gap behind it. */
static void
drop_oldest(ferrymq_dedup *d)
{
    const dedup_entry *e = &d->ring[d->head];
    size_t i = (size_t)e->hash & d->mask, j;
    while (d->slots[i] != d->head + 1) {
        i = (i + 1) & d->mask;
    }
    j = i;
    for (;;) {
        size_t k;
        j = (j + 1) & d->mask;
        if (d->slots[j] == 0) {
            break;
        }
        k = (size_t)d->ring[d->slots[j] - 1].hash & d->mask;
        /* move slot j back into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            d->slots[i] = d->slots[j];
            i = j;
        }
    }
    d->slots[i] = 0;
    d->head = (d->head + 1) % d->cap;
    d->count--;
}

int
ferrymq_dedup_check_id(ferrymq_dedup *d, const char *id, int64_t now_ms)
{
    size_t len, n, i;
    uint64_t h;
    dedup_entry *e;
    if (d == NULL || id == NULL || id[0] == '\0') {
        return -1;
    }
    if (now_ms == 0) {
        now_ms = mono_ms();
    }
    len = strlen(id);
    n = len < ID_MAX - 1 ? len : ID_MAX - 1;
    h = fnv1a(id, len);
    pthread_mutex_lock(&d->mu);
    while (d->count > 0 && d->window_ms > 0 && d->ring[d->head].ts <= now_ms - d->window_ms) {
        drop_oldest(d);
    }
    for (i = (size_t)h & d->mask; d->slots[i] != 0; i = (i + 1) & d->mask) {
        e = &d->ring[d->slots[i] - 1];
        if (e->hash == h && e->len == len && memcmp(e->id, id, n) == 0) {
            pthread_mutex_unlock(&d->mu);
            return 1;
        }
    }
    if (d->count == d->cap) {
        drop_oldest(d);
        for (i = (size_t)h & d->mask; d->slots[i] != 0; i = (i + 1) & d->mask) {
        }
    }
    {
        size_t r = (d->head + d->count) % d->cap;
        e = &d->ring[r];
        e->hash = h;
        e->ts = now_ms;
        e->len = (uint32_t)len;
        memcpy(e->id, id, n);
        e->id[n] = '\0';
        d->slots[i] = (uint32_t)(r + 1);
        d->count++;
    }
    pthread_mutex_unlock(&d->mu);
    return 0;
}

int
ferrymq_dedup_check(ferrymq_dedup *d, const ferrymq_msg *msg)
{
    return msg == NULL ? -1 : ferrymq_dedup_check_id(d, ferrymq_msg_id(msg), 0);
}
