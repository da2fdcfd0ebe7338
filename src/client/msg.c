/*
 * msg.c - ferrymq_msg: a message being built for sending (topic, body, properties).
 */
#include "client/client_int.h"

#include "proto/msg.h"
#include "proto/props.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

ferrymq_msg *
ferrymq_msg_new(const char *topic, const void *body, size_t len)
{
    ferrymq_msg *msg;
    if (topic == NULL || topic[0] == '\0' || (body == NULL && len > 0)) {
        return NULL;
    }
    msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        return NULL;
    }
    msg->topic = strdup(topic);
    msg->body = malloc(len ? len : 1);
    if (msg->topic == NULL || msg->body == NULL) {
        ferrymq_msg_free(msg);
        return NULL;
    }
    if (len > 0) {
        memcpy(msg->body, body, len);
    }
    msg->body_len = len;
    return msg;
}

void
ferrymq_msg_free(ferrymq_msg *msg)
{
    if (msg == NULL) {
        return;
    }
    for (size_t i = 0; i < msg->n_props; i++) {
        free(msg->props[i].name);
        free(msg->props[i].value);
    }
    free(msg->props);
    free(msg->topic);
    free(msg->body);
    free(msg);
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
            free(msg->props[i].value);
            msg->props[i].value = v;
            return FERRYMQ_OK;
        }
    }
    if (msg->n_props == msg->cap_props) {
        size_t cap = msg->cap_props ? msg->cap_props * 2 : 8;
        msg_prop *n = realloc(msg->props, cap * sizeof(*n));
        if (n == NULL) {
            free(v);
            return FERRYMQ_ENOMEM;
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

int
fm_client_msg_from_record(const uint8_t *rec, size_t len, ferrymq_msg **out)
{
    fm_msg_view v;
    ferrymq_msg *msg;
    fm_props_iter it;
    fm_slice n, val;
    char topic[256];
    int rc;
    if (fm_msg_decode(rec, len, &v, NULL) != FM_OK ||
        fm_slice_to_cstr(v.topic, topic, sizeof(topic)) != FM_OK || topic[0] == '\0') {
        return FM_EPROTO;
    }
    if (v.sysflag & FM_MSG_SYSFLAG_COMPRESSED) {
        /* zlib stream of unknown size: inflate in growing steps, bounded */
        fm_buf body = {0};
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (inflateInit(&zs) != Z_OK) {
            return FM_ENOMEM;
        }
        zs.next_in = (Bytef *)v.body.ptr;
        zs.avail_in = (uInt)v.body.len;
        rc = Z_OK;
        while (rc == Z_OK) {
            if (fm_buf_reserve(&body, body.len + 65536) != FM_OK || body.len > MAX_INFLATED) {
                rc = Z_MEM_ERROR;
                break;
            }
            zs.next_out = body.data + body.len;
            zs.avail_out = (uInt)(body.cap - body.len);
            rc = inflate(&zs, Z_NO_FLUSH);
            body.len = body.cap - zs.avail_out;
            if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
                break;
            }
            if (rc == Z_BUF_ERROR) {
                rc = Z_OK;
            }
        }
        inflateEnd(&zs);
        if (rc != Z_STREAM_END) {
            fm_buf_free(&body);
            return FM_EPROTO;
        }
        msg = ferrymq_msg_new(topic, body.data, body.len);
        fm_buf_free(&body);
    } else {
        msg = ferrymq_msg_new(topic, v.body.ptr, v.body.len);
    }
    if (msg == NULL) {
        return FM_ENOMEM;
    }
    fm_props_iter_init(&it, v.properties);
    while ((rc = fm_props_next(&it, &n, &val)) == FM_OK) {
        char *name = strndup((const char *)n.ptr, n.len);
        char *value = strndup((const char *)val.ptr, val.len);
        int src = name && value ? ferrymq_msg_set_property(msg, name, value) : FERRYMQ_ENOMEM;
        free(name);
        free(value);
        if (src != FERRYMQ_OK && src != FERRYMQ_EINVAL) {
            ferrymq_msg_free(msg);
            return FM_ENOMEM;
        }
    }
    if (rc != FM_ENOTFOUND) {
        ferrymq_msg_free(msg);
        return FM_EPROTO;
    }
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
