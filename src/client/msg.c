/*
 * msg.c - ferrymq_msg: a message being built for sending (topic, body, properties).
 */
#include "client/client_int.h"

#include "proto/msg.h"
#include "proto/props.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Whether p points into the message's own allocation (freed with it, never on its own). */
static int
inl(const ferrymq_msg *msg, const void *p)
{
    const char *c = p, *base = (const char *)msg->inl_props;
    return c >= base && c < base + msg->inl_len;
}

/* A zeroed message with room behind it for n_props property slots, then `bytes` bytes: the
 * slots first, as they need a pointer's alignment. NULL when out of memory. */
static ferrymq_msg *
msg_alloc(size_t n_props, size_t bytes, char **room)
{
    size_t n = n_props * sizeof(msg_prop) + bytes;
    ferrymq_msg *msg = malloc(sizeof(*msg) + n);
    if (msg == NULL) {
        return NULL;
    }
    memset(msg, 0, sizeof(*msg));
    msg->inl_len = n;
    *room = (char *)(msg->inl_props + n_props);
    return msg;
}

/* Topic (NUL-terminated) and body into the room msg_alloc left; returns what follows them. */
static char *
put_topic_body(ferrymq_msg *msg, char *room, const char *topic, size_t topic_len, const void *body,
               size_t len)
{
    msg->topic = room;
    memcpy(room, topic, topic_len);
    room[topic_len] = '\0';
    msg->body = (uint8_t *)room + topic_len + 1;
    if (len > 0) {
        memcpy(msg->body, body, len);
    }
    msg->body_len = len;
    return room + topic_len + 1 + len;
}

ferrymq_msg *
ferrymq_msg_new(const char *topic, const void *body, size_t len)
{
    ferrymq_msg *msg;
    char *room;
    size_t tl;
    if (topic == NULL || topic[0] == '\0' || (body == NULL && len > 0)) {
        return NULL;
    }
    tl = strlen(topic);
    if ((msg = msg_alloc(0, tl + 1 + len, &room)) == NULL) {
        return NULL;
    }
    put_topic_body(msg, room, topic, tl, body, len);
    return msg;
}

void
ferrymq_msg_free(ferrymq_msg *msg)
{
    if (msg == NULL) {
        return;
    }
    for (size_t i = 0; i < msg->n_props; i++) {
        if (!inl(msg, msg->props[i].name)) {
            free(msg->props[i].name);
        }
        if (!inl(msg, msg->props[i].value)) {
            free(msg->props[i].value);
        }
    }
    if (msg->props != NULL && !inl(msg, msg->props)) {
        free(msg->props);
    }
    if (!inl(msg, msg->topic)) {
        free(msg->topic);
    }
    free(msg);
}

int
fm_client_msg_set_topic(ferrymq_msg *msg, const char *topic)
{
    char *t = strdup(topic);
    if (t == NULL) {
        return FM_ENOMEM;
    }
    if (!inl(msg, msg->topic)) {
        free(msg->topic);
    }
    msg->topic = t;
    return FM_OK;
}

int
ferrymq_msg_set_property(ferrymq_msg *msg, const char *name, const char *value)
{
    char *v;
    if (msg == NULL || name == NULL || value == NULL || name[0] == '\0' ||
        strpbrk(name, "\x01\x02") != NULL || strpbrk(value, "\x01\x02") != NULL) {
        return FERRYMQ_EINVAL; /* the separators would corrupt the property string */
    }
    v = strdup(value);
    if (v == NULL) {
        return FERRYMQ_ENOMEM;
    }
    for (size_t i = 0; i < msg->n_props; i++) {
        if (strcmp(msg->props[i].name, name) == 0) {
            if (!inl(msg, msg->props[i].value)) {
                free(msg->props[i].value);
            }
            msg->props[i].value = v;
            return FERRYMQ_OK;
        }
    }
    if (msg->n_props == msg->cap_props) {
        size_t cap = msg->cap_props ? msg->cap_props * 2 : 8;
        /* a received message's slots are part of its allocation: grow into a copy */
        msg_prop *n = msg->props != NULL && inl(msg, msg->props)
                          ? malloc(cap * sizeof(*n))
                          : realloc(msg->props, cap * sizeof(*n));
        if (n == NULL) {
            free(v);
            return FERRYMQ_ENOMEM;
        }
        if (n != msg->props && msg->props != NULL && inl(msg, msg->props)) {
            memcpy(n, msg->props, msg->n_props * sizeof(*n));
        }
        msg->props = n;
        msg->cap_props = cap;
    }
    msg->props[msg->n_props].name = strdup(name);
    if (msg->props[msg->n_props].name == NULL) {
        free(v);
        return FERRYMQ_ENOMEM;
    }
    msg->props[msg->n_props].value = v;
    msg->n_props++;
    return FERRYMQ_OK;
}

int
ferrymq_msg_set_tags(ferrymq_msg *msg, const char *tags)
{
    return ferrymq_msg_set_property(msg, FM_PROP_TAGS, tags);
}

int
ferrymq_msg_set_keys(ferrymq_msg *msg, const char *keys)
{
    return ferrymq_msg_set_property(msg, FM_PROP_KEYS, keys);
}

const char *
ferrymq_msg_property(const ferrymq_msg *msg, const char *name)
{
    for (size_t i = 0; msg != NULL && i < msg->n_props; i++) {
        if (strcmp(msg->props[i].name, name) == 0) {
            return msg->props[i].value;
        }
    }
    return NULL;
}

const char *
ferrymq_msg_topic(const ferrymq_msg *msg)
{
    return msg->topic;
}

const void *
ferrymq_msg_body(const ferrymq_msg *msg, size_t *len)
{
    if (len != NULL) {
        *len = msg->body_len;
    }
    return msg->body;
}

const char *
ferrymq_msg_tags(const ferrymq_msg *msg)
{
    return ferrymq_msg_property(msg, FM_PROP_TAGS);
}

const char *
ferrymq_msg_keys(const ferrymq_msg *msg)
{
    return ferrymq_msg_property(msg, FM_PROP_KEYS);
}

int
fm_client_msg_props_encode(const ferrymq_msg *msg, fm_buf *out)
{
    for (size_t i = 0; i < msg->n_props; i++) {
        int rc = fm_props_append(out, fm_slice_cstr(msg->props[i].name),
                                 fm_slice_cstr(msg->props[i].value));
        if (rc != FM_OK) {
            return rc;
        }
    }
    return FM_OK;
}

#define MAX_INFLATED (64u << 20)

/* A received message's properties: a copy of the record's property string in the message's
 * own allocation, each name and value cut to a C string in place (at its separator, or at a
 * NUL inside it, as strndup would). The same pairs as ferrymq_msg_set_property would keep: no
 * empty names, no separators left in a name or value, the last of equal names. */
static void
props_in_place(ferrymq_msg *msg, char *copy, fm_slice props)
{
    fm_props_iter it;
    fm_slice n, val;
    memcpy(copy, props.ptr, props.len);
    copy[props.len] = '\0';
    msg->props = msg->inl_props;
    fm_props_iter_init(&it, fm_slice_make((const uint8_t *)copy, props.len));
    while (fm_props_next(&it, &n, &val) == FM_OK) {
        char *name = (char *)n.ptr, *value = (char *)val.ptr;
        size_t nl = strnlen(name, n.len), vl = strnlen(value, val.len);
        if (nl == 0 || memchr(name, '\x02', nl) != NULL || memchr(value, '\x01', vl) != NULL ||
            memchr(value, '\x02', vl) != NULL) {
            continue;
        }
        /* both cuts are at or before this pair's separators, which the iterator has passed */
        name[nl] = '\0';
        value[vl] = '\0';
        msg->props[msg->n_props].name = name;
        msg->props[msg->n_props].value = value;
        msg->n_props++;
    }
    msg->cap_props = msg->n_props;
    for (size_t i = 0; i < msg->n_props; i++) {
        for (size_t j = i + 1; j < msg->n_props; j++) {
            if (strcmp(msg->props[i].name, msg->props[j].name) == 0) {
                msg->props[i].value = msg->props[j].value;  /* the last one's value, */
                memmove(msg->props + j, msg->props + j + 1, /* in the first one's place */
                        (msg->n_props - j - 1) * sizeof(*msg->props));
                msg->n_props--;
                j--;
            }
        }
    }
}

int
fm_client_msg_from_record(const uint8_t *rec, size_t len, ferrymq_msg **out)
{
    fm_msg_view v;
    ferrymq_msg *msg;
    fm_props_iter it;
    fm_slice n, val, body;
    fm_buf inflated = {0};
    size_t n_props = 0;
    char *room;
    int rc;
    if (fm_msg_decode(rec, len, &v, NULL) != FM_OK || v.topic.len == 0 || v.topic.len > 255 ||
        memchr(v.topic.ptr, '\0', v.topic.len) != NULL) {
        return FM_EPROTO;
    }
    fm_props_iter_init(&it, v.properties);
    while ((rc = fm_props_next(&it, &n, &val)) == FM_OK) {
        n_props++;
    }
    if (rc != FM_ENOTFOUND) {
        return FM_EPROTO;
    }
    body = v.body;
    if (v.sysflag & FM_MSG_SYSFLAG_COMPRESSED) {
        /* zlib stream of unknown size: inflate in growing steps, bounded */
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (inflateInit(&zs) != Z_OK) {
            return FM_ENOMEM;
        }
        zs.next_in = (Bytef *)v.body.ptr;
        zs.avail_in = (uInt)v.body.len;
        rc = Z_OK;
        while (rc == Z_OK) {
            if (fm_buf_reserve(&inflated, inflated.len + 65536) != FM_OK ||
                inflated.len > MAX_INFLATED) {
                rc = Z_MEM_ERROR;
                break;
            }
            zs.next_out = inflated.data + inflated.len;
            zs.avail_out = (uInt)(inflated.cap - inflated.len);
            rc = inflate(&zs, Z_NO_FLUSH);
            inflated.len = inflated.cap - zs.avail_out;
            if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
                break;
            }
            if (rc == Z_BUF_ERROR) {
                rc = Z_OK;
            }
        }
        inflateEnd(&zs);
        if (rc != Z_STREAM_END) {
            fm_buf_free(&inflated);
            return FM_EPROTO;
        }
        body = fm_slice_make(inflated.data, inflated.len);
    }
    msg = msg_alloc(n_props, v.topic.len + 1 + body.len + v.properties.len + 1, &room);
    if (msg == NULL) {
        fm_buf_free(&inflated);
        return FM_ENOMEM;
    }
    room = put_topic_body(msg, room, (const char *)v.topic.ptr, v.topic.len, body.ptr, body.len);
    fm_buf_free(&inflated);
    props_in_place(msg, room, v.properties);
    msg->queue_id = v.queue_id;
    msg->queue_offset = v.queue_offset;
    msg->store_ts = v.store_timestamp;
    msg->born_ts = v.born_timestamp;
    msg->reconsume_times = v.reconsume_times;
    msg->phys_offset = v.phys_offset;
    fm_msgid_make(msg->offset_id, v.store_host.ptr, v.store_host.len, (uint64_t)v.phys_offset);
    *out = msg;
    return FM_OK;
}

const char *
ferrymq_msg_id(const ferrymq_msg *msg)
{
    const char *u = ferrymq_msg_property(msg, FM_PROP_UNIQ_KEY);
    return u != NULL ? u : msg->offset_id[0] ? msg->offset_id : NULL;
}

const char *
ferrymq_msg_offset_id(const ferrymq_msg *msg)
{
    return msg->offset_id[0] ? msg->offset_id : NULL;
}

int
ferrymq_msg_queue_id(const ferrymq_msg *msg)
{
    return msg->offset_id[0] ? msg->queue_id : -1;
}

int64_t
ferrymq_msg_queue_offset(const ferrymq_msg *msg)
{
    return msg->offset_id[0] ? msg->queue_offset : -1;
}

int64_t
ferrymq_msg_store_timestamp(const ferrymq_msg *msg)
{
    return msg->store_ts;
}

int64_t
ferrymq_msg_born_timestamp(const ferrymq_msg *msg)
{
    return msg->born_ts;
}

int
ferrymq_msg_reconsume_times(const ferrymq_msg *msg)
{
    return msg->reconsume_times;
}

size_t
ferrymq_msg_property_count(const ferrymq_msg *msg)
{
    return msg->n_props;
}

const char *
ferrymq_msg_property_at(const ferrymq_msg *msg, size_t i, const char **value)
{
    if (i >= msg->n_props) {
        return NULL;
    }
    if (value != NULL) {
        *value = msg->props[i].value;
    }
    return msg->props[i].name;
}
