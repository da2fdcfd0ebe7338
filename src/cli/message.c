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

#define OPT_KEY 256
#define OPT_JSON 257

static const cli_opt show_optv[] = {{"topic", 't', 1}, {NULL, 0, 0}};
static const cli_opt find_optv[] = {
    {"topic", 't', 1}, {"key", OPT_KEY, 1}, {"json", OPT_JSON, 0}, {NULL, 0, 0}};

static const cli_cmd show_cmd = {
    "message show",
    "message show ID [-t TOPIC]",
    "  One message as a JSON line. ID is the offset message id (what the broker assigned) or\n"
    "  the client's unique id (UNIQ_KEY, SendResult.getMsgId(); needs -t TOPIC).\n",
    show_optv,
    1,
    1};
static const cli_cmd find_cmd = {
    "message find",
    "message find -t TOPIC --key KEY [--json]",
    "  The messages of TOPIC whose KEYS contain KEY (the brokers' index), oldest first.\n",
    find_optv,
    0,
    0};

typedef struct msg_opts {
    const char *topic;
    const char *key;
    int json;
    cli_args args;
} msg_opts;

/* 0 when parsed; else the exit code (help printed, or a usage error). */
static int
parse_opts(const cli_cmd *cmd, int argc, char **argv, msg_opts *o)
{
    const char *val;
    int k;
    memset(o, 0, sizeof(*o));
    cli_args_init(&o->args, cmd, argc, argv);
    while ((k = cli_args_next(&o->args, &val)) > 0) {
        switch (k) {
        case 't':
            o->topic = val;
            break;
        case OPT_KEY:
            o->key = val;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        }
    }
    if (k != CLI_ARGS_END) {
        return k == CLI_ARGS_HELP ? -1 : cli_args_exit(k);
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
    int rc = parse_opts(&show_cmd, argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if (admin_open(&a) != 0) {
        return CLI_EXIT_FAIL;
    }
    rc = ferrymq_admin_message_by_id(a, o.topic, o.args.pos[0], &m, err, sizeof(err));
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
    int rc = parse_opts(&find_cmd, argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
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
    static const char *const subs[] = {"show", "find", NULL};
    static const cli_cmd message_cmd = {
        "message", "message show|find ...", "  see ferrymq message show|find --help\n", NULL, 0,
        -1};
    int k;
    argc--;
    argv++;
    k = cli_take_sub(&argc, argv, &message_cmd, subs,
                     "show ID [-t TOPIC] | find -t TOPIC --key KEY [--json]");
    if (k < 0) {
        return cli_args_exit(k);
    }
    return k == 0 ? message_show(argc, argv) : message_find(argc, argv);
}
