/*
 * map.h - a string-keyed hash map (open addressing, linear probing) for lookups on hot paths:
 * topic and queue tables, consumer offsets. Keys are copied into the map; values are opaque
 * pointers the caller owns.
 * Thread: one thread at a time.
 */
#ifndef FM_COMMON_MAP_H
#define FM_COMMON_MAP_H

#include <stddef.h>

typedef struct fm_map_entry {
    char *key; /* owned by the map; NULL = empty slot */
    size_t klen;
    void *val;
    int tomb; /* deleted slot, keeps probe chains intact */
} fm_map_entry;

typedef struct fm_map {
    fm_map_entry *slots;
    size_t cap;  /* power of two */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
} fm_map;

/** Zero-initialise ({0}) before use; free with fm_map_free. */
void fm_map_free(fm_map *m);

/** Free every value with free_val (NULL: free()), then the map as fm_map_free does. */
void fm_map_free_values(fm_map *m, void (*free_val)(void *val));

/** Value for the key (klen bytes), or NULL. */
void *fm_map_get(const fm_map *m, const void *key, size_t klen);

/** Insert or replace. Returns FM_OK or FM_ENOMEM (map unchanged). */
int fm_map_put(fm_map *m, const void *key, size_t klen, void *val);

/** Remove; returns the old value or NULL. */
void *fm_map_del(fm_map *m, const void *key, size_t klen);

/** Iterate: start with *pos = 0; returns 0 at the end. */
int fm_map_next(const fm_map *m, size_t *pos, const char **key, size_t *klen, void **val);

#endif
