/*
 * cli.h - private to src/cli: helpers shared by the ferrymq subcommands.
 */
#ifndef FM_CLI_CLI_H
#define FM_CLI_CLI_H

#include <ferrymq.h>
#include <stdint.h>

#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

typedef struct bench_opts {
    const char *topic;
    int size;
    int64_t count;
    int duration_s;
    int window;
    int queues;
} bench_opts;

/** A conf for the selected name server (and consumer group, when given); caller frees it. */
ferrymq_conf *cli_conf(const char *group);

/** "ferrymq: what: why" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *what, const char *why);

/** A usage error with one %s argument; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, const char *arg);

/** CLOCK_MONOTONIC in ns, for durations and idle timeouts. */
int64_t cli_now_ns(void);

/** One message on stdout: a line for people, or one JSON object (json != 0). */
void cli_print_msg(const ferrymq_msg *m, int json);

/** ferrymq message show ID [-t TOPIC] | find -t TOPIC --key K [--json]. */
int cli_message(int argc, char **argv);

/** ferrymq bench produce|consume|push. */
int cli_bench(int argc, char **argv);

#endif
