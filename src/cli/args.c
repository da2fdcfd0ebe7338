/*
 * args.c - the one option parser every ferrymq subcommand uses (cli.h), and the name server
 * option it accepts everywhere.
 *
 * Our own loop rather than getopt_long: getopt keeps global state, prints its own messages,
 * and accepts abbreviations ("--que" for "--queues"), which would make a typo silently mean
 * another option. Here an option is exact or an error, and positional arguments are counted
 * against the command's limits, so "topic create Zed --queuez 3" is a usage error, not a
 * topic with the default queue count.
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char namesrv_buf[1024];
static const char *namesrv = "127.0.0.1:9876";

const char *
cli_namesrv(void)
{
    return namesrv;
}

/* One "host:port": a non-empty host without spaces or colons (IPv6 brackets aside, which
 * RocketMQ's namesrvAddr does not take either) and a decimal port 1-65535. */
static int
valid_host_port(const char *s, size_t len)
{
    const char *colon = memrchr(s, ':', len);
    long port = 0;
    if (colon == NULL || colon == s || (size_t)(colon - s) + 1 >= len) {
        return 0;
    }
    for (const char *p = s; p < colon; p++) {
        if (*p == ':' || *p == ' ' || *p == '\t' || (unsigned char)*p < 0x21) {
            return 0;
        }
    }
    for (const char *p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            return 0;
        }
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

int
cli_namesrv_valid(const char *addr)
{
    const char *p = addr;
    if (addr == NULL || addr[0] == '\0' || strlen(addr) >= sizeof(namesrv_buf)) {
        return 0;
    }
    for (;;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (!valid_host_port(p, len)) {
            return 0;
        }
        if (semi == NULL) {
            return 1;
        }
        p = semi + 1;
    }
}

int
cli_set_namesrv(const char *addr, const char *source)
{
    if (!cli_namesrv_valid(addr)) {
        fprintf(stderr,
                "ferrymq: %s '%s' is not host:port (port 1-65535, several joined by ';') "
                "(see ferrymq --help)\n",
                source, addr ? addr : "");
        return -1;
    }
    snprintf(namesrv_buf, sizeof(namesrv_buf), "%s", addr);
    namesrv = namesrv_buf;
    return 0;
}

void
cli_cmd_help(const cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: ferrymq [-n host:port] %s\n", cmd->usage);
    if (cmd->help != NULL) {
        fprintf(out, "%s", cmd->help);
    }
    fprintf(out, "\n-n/--namesrv host:port may also come after the command.\n"
                 "Exit codes: 0 ok, 1 operation failed, 2 bad usage.\n");
}

static int
args_error(const cli_args *a, const char *fmt, const char *arg)
{
    fprintf(stderr, "ferrymq: %s: ", a->cmd->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see ferrymq %s --help)\n", a->cmd->name);
    return CLI_ARGS_USAGE;
}

void
cli_args_init(cli_args *a, const cli_cmd *cmd, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
}

static const cli_opt *
find_long(const cli_cmd *cmd, const char *name, size_t len)
{
    for (const cli_opt *o = cmd->opts; o != NULL && o->name != NULL; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
            return o;
        }
    }
    return NULL;
}

static const cli_opt *
find_short(const cli_cmd *cmd, char c)
{
    for (const cli_opt *o = cmd->opts; o != NULL && o->name != NULL; o++) {
        if (o->key < 256 && o->key == (unsigned char)c) {
            return o;
        }
    }
    return NULL;
}

/* The end: check the positional count. */
static int
args_end(cli_args *a)
{
    if (a->n_pos < a->cmd->min_args) {
        return args_error(a, "missing argument%s", a->cmd->min_args - a->n_pos > 1 ? "s" : "");
    }
    if (a->cmd->max_args >= 0 && a->n_pos > a->cmd->max_args) {
        return args_error(a, "unexpected argument '%s'", a->argv[a->cmd->max_args]);
    }
    a->pos = a->argv;
    return CLI_ARGS_END;
}

int
cli_args_next(cli_args *a, const char **val)
{
    *val = NULL;
    while (a->i < a->argc) {
        char *arg = a->argv[a->i++];
        const cli_opt *o;
        const char *inline_val = NULL;
        int is_namesrv = 0;
        if (a->only_pos || arg[0] != '-' || arg[1] == '\0') {
            a->argv[a->n_pos++] = arg; /* positionals are compacted to the front */
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            a->only_pos = 1;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (len == 4 && strncmp(name, "help", 4) == 0 && eq == NULL) {
                cli_cmd_help(a->cmd, stdout);
                return CLI_ARGS_HELP;
            }
            is_namesrv = len == 7 && strncmp(name, "namesrv", 7) == 0;
            o = is_namesrv ? NULL : find_long(a->cmd, name, len);
            if (o == NULL && !is_namesrv) {
                return args_error(a, "unknown option '%s'", arg);
            }
            if (eq != NULL) {
                if (o != NULL && !o->has_arg) {
                    return args_error(a, "option '%s' takes no value", arg);
                }
                inline_val = eq + 1;
            }
        } else {
            if (arg[1] == 'h' && arg[2] == '\0') {
                cli_cmd_help(a->cmd, stdout);
                return CLI_ARGS_HELP;
            }
            is_namesrv = arg[1] == 'n';
            o = is_namesrv ? NULL : find_short(a->cmd, arg[1]);
            if (o == NULL && !is_namesrv) {
                return args_error(a, "unknown option '%s'", arg);
            }
            if (arg[2] != '\0') {
                if (o != NULL && !o->has_arg) {
                    return args_error(a, "unknown option '%s'", arg); /* no flag bundling */
                }
                inline_val = arg + 2;
            }
        }
        if (is_namesrv || o->has_arg) {
            if (inline_val == NULL) {
                if (a->i >= a->argc) {
                    return args_error(a, "option '%s' needs a value", arg);
                }
                inline_val = a->argv[a->i++];
            }
        }
        if (is_namesrv) {
            if (cli_set_namesrv(inline_val, "-n") != 0) {
                return CLI_ARGS_USAGE;
            }
            continue;
        }
        *val = inline_val;
        return o->key;
    }
    return args_end(a);
}

int
cli_args_exit(int k)
{
    return k == CLI_ARGS_HELP ? 0 : CLI_EXIT_USAGE;
}

int
cli_args_only(const cli_cmd *cmd, int argc, char **argv, char ***pos, int *n_pos)
{
    cli_args a;
    const char *val;
    int k;
    cli_args_init(&a, cmd, argc, argv);
    while ((k = cli_args_next(&a, &val)) > 0) {
        ;
    }
    *pos = a.pos;
    *n_pos = a.n_pos;
    return k;
}

int
cli_parse_count(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

const char *
cli_take_word(int *argc, char **argv)
{
    for (int i = 0; i < *argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-n") == 0 || strcmp(s, "--namesrv") == 0) {
            if (i + 1 < *argc && cli_set_namesrv(argv[i + 1], "-n") != 0) {
                return NULL;
            }
            i++;
            continue;
        }
        if (strncmp(s, "--namesrv=", 10) == 0) {
            if (cli_set_namesrv(s + 10, "-n") != 0) {
                return NULL;
            }
            continue;
        }
        if (s[0] == '-') {
            return ""; /* an option before the word: the caller's usage error or help */
        }
        memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof(*argv));
        (*argc)--;
        return s;
    }
    return "";
}

int
cli_take_sub(int *argc, char **argv, const cli_cmd *parent, const char *const *names,
             const char *need)
{
    char why[256];
    const char *sub = cli_take_word(argc, argv);
    if (sub == NULL) {
        return CLI_ARGS_USAGE;
    }
    for (int i = 0; sub[0] != '\0' && names[i] != NULL; i++) {
        if (strcmp(sub, names[i]) == 0) {
            return i;
        }
    }
    for (int i = 0; sub[0] == '\0' && i < *argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cli_cmd_help(parent, stdout);
            return CLI_ARGS_HELP;
        }
    }
    if (sub[0] != '\0') {
        snprintf(why, sizeof(why), "unknown %s command '%s': %s needs %s", parent->name, sub,
                 parent->name, need);
    } else {
        snprintf(why, sizeof(why), "%s needs %s", parent->name, need);
    }
    fprintf(stderr, "ferrymq: %s (see ferrymq %s --help)\n", why, parent->name);
    return CLI_ARGS_USAGE;
}

volatile sig_atomic_t cli_interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void
cli_catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
