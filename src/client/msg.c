/*
 * msg.c - ferrymq_msg: a message being built for sending (topic, body, properties).
 */
#include "client/client_int.h"

#include "proto/props.h"

#include <stdlib.h>
#include <string.h>

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
