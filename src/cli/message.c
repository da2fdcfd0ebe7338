/*
 * message.c - `ferrymq message`: one message by either id, messages by key (the brokers'
 * index through libferrymq).
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <ferrymq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cli_print_msg(const ferrymq_msg *m, int json)
{
    size_t len, n = ferrymq_msg_property_count(m);
    const char *body = ferrymq_msg_body(m, &len);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *props = cJSON_CreateObject();
        char *s, *b = malloc(len + 1);
        cJSON_AddStringToObject(o, "topic", ferrymq_msg_topic(m));
        cJSON_AddNumberToObject(o, "queueId", ferrymq_msg_queue_id(m));
        cJSON_AddNumberToObject(o, "queueOffset", (double)ferrymq_msg_queue_offset(m));
        cJSON_AddStringToObject(o, "msgId", ferrymq_msg_id(m) ? ferrymq_msg_id(m) : "");
        cJSON_AddStringToObject(o, "offsetMsgId",
                                ferrymq_msg_offset_id(m) ? ferrymq_msg_offset_id(m) : "");
        cJSON_AddNumberToObject(o, "storeTimestamp", (double)ferrymq_msg_store_timestamp(m));
        cJSON_AddNumberToObject(o, "bornTimestamp", (double)ferrymq_msg_born_timestamp(m));
        cJSON_AddNumberToObject(o, "reconsumeTimes", ferrymq_msg_reconsume_times(m));
        for (size_t i = 0; i < n; i++) {
            const char *v, *k = ferrymq_msg_property_at(m, i, &v);
            cJSON_AddStringToObject(props, k, v);
        }
        cJSON_AddItemToObject(o, "properties", props);
        if (b != NULL) {
            memcpy(b, body, len);
            b[len] = '\0';
            cJSON_AddStringToObject(o, "body", b);
            free(b);
        }
        s = cJSON_PrintUnformatted(o);
        if (s != NULL) {
            puts(s);
            free(s);
        }
        cJSON_Delete(o);
        return;
    }
    printf("%s/%d@%" PRId64 " id=%s tags=%s keys=%s body=%.*s\n", ferrymq_msg_topic(m),
           ferrymq_msg_queue_id(m), ferrymq_msg_queue_offset(m),
           ferrymq_msg_id(m) ? ferrymq_msg_id(m) : "-",
           ferrymq_msg_tags(m) ? ferrymq_msg_tags(m) : "-",
           ferrymq_msg_keys(m) ? ferrymq_msg_keys(m) : "-", (int)len, body);
}

static int
admin_open(ferrymq_admin **a)
{
    char err[512];
    ferrymq_conf *conf = cli_conf(NULL);
    int rc = conf ? ferrymq_admin_new(conf, a, err, sizeof(err)) : FERRYMQ_ENOMEM;
    ferrymq_conf_free(conf);
    if (rc != FERRYMQ_OK) {
        return cli_fail("message", conf ? err : "out of memory");
    }
    return 0;
}

/* Options after the subcommand: -t/--topic TOPIC, --key K, --json; anything else is a usage
 * error. Positional arguments go to pos (at most max_pos). */
typedef struct msg_opts {
    const char *topic;
    const char *key;
    int json;
    const char *pos[2];
    int n_pos;
} msg_opts;

static int
parse_opts(int argc, char **argv, int max_pos, msg_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-t") == 0 || strcmp(a, "--topic") == 0 || strcmp(a, "--key") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                return cli_usage_error("message: %s needs a value", a);
            }
            if (strcmp(a, "--key") == 0) {
                o->key = argv[++i];
            } else {
                o->topic = argv[++i];
            }
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("message: unknown option '%s'", a);
        } else if (o->n_pos < max_pos) {
            o->pos[o->n_pos++] = a;
        } else {
            return cli_usage_error("message: unexpected argument '%s'", a);
        }
    }
    return 0;
}

static int
message_show(int argc, char **argv)
{
    msg_opts o;
    ferrymq_admin *a;
    ferrymq_msg *m = NULL;
    char err[512];
    int rc = parse_opts(argc, argv, 1, &o);
    if (rc != 0) {
        return rc;
    }
    if (o.n_pos != 1 || o.key != NULL) {
        return cli_usage_error("%s needs: show ID [-t TOPIC]", "message");
    }
    if (admin_open(&a) != 0) {
        return CLI_EXIT_FAIL;
    }
    rc = ferrymq_admin_message_by_id(a, o.topic, o.pos[0], &m, err, sizeof(err));
    ferrymq_admin_free(a);
    if (rc == FERRYMQ_EINVAL) {
        fprintf(stderr, "ferrymq: message: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (rc != FERRYMQ_OK) {
        return cli_fail("message", err);
    }
    cli_print_msg(m, 1);
    ferrymq_msg_free(m);
    return 0;
}

static int
message_find(int argc, char **argv)
{
    msg_opts o;
    ferrymq_admin *a;
    ferrymq_msg **msgs = NULL;
    size_t n = 0;
    char err[512];
    int rc = parse_opts(argc, argv, 0, &o);
    if (rc != 0) {
        return rc;
    }
    if (o.topic == NULL || o.key == NULL) {
        return cli_usage_error("%s needs: find -t TOPIC --key KEY [--json]", "message");
    }
    if (admin_open(&a) != 0) {
        return CLI_EXIT_FAIL;
    }
    /* As mqadmin queryMsgByKey: the whole time range, up to 64 messages per broker. */
    rc = ferrymq_admin_query_message(a, o.topic, o.key, 64, 0, INT64_MAX, &msgs, &n, err,
                                     sizeof(err));
    ferrymq_admin_free(a);
    if (rc != FERRYMQ_OK) {
        return cli_fail("message", err);
    }
    for (size_t i = 0; i < n; i++) {
        cli_print_msg(msgs[i], o.json);
    }
    ferrymq_msgs_free(msgs, n);
    return 0;
}

int
cli_message(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0) {
        return message_show(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "find") == 0) {
        return message_find(argc - 2, argv + 2);
    }
    return cli_usage_error("%s needs: show ID [-t TOPIC] | find -t TOPIC --key KEY [--json]",
                           "message");
}
