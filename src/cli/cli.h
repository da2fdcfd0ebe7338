/*
 * cli.h - private to src/cli: helpers shared by the ferrymq subcommands.
 */
#ifndef FM_CLI_CLI_H
#define FM_CLI_CLI_H

#include <ferrymq.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/*
 * The option parser every subcommand uses (args.c). A command describes its options in a
 * table; cli_args_next returns them one by one, in command-line order, as getopt does, but:
 * - options are exact: an unknown one, a missing value or a value given to a flag is a usage
 *   error (message on stderr, naming the command);
 * - -n/--namesrv host:port is accepted by every command, anywhere among its options, and is
 *   validated (cli_set_namesrv) - a malformed one is a usage error;
 * - -h/--help prints the command's usage on stdout;
 * - "--" ends the options; "-" alone is a positional argument;
 * - positional arguments are counted against min_args..max_args at the end.
 * Values are --name value, --name=value, -x value or -xvalue; flags are not bundled.
 * Thread: the main thread only (the name server is process state).
 */

/** An option: long name without "--"; key is its short letter (when < 256, so "-x" works) or a
 * value >= 256 for a long-only option; has_arg 1 when it takes a value. */
typedef struct cli_opt {
    const char *name;
    int key;
    int has_arg;
} cli_opt;

/** A (sub)command: name for messages ("topic create"), one-line usage after "ferrymq", an
 * optional help text (lines ending in newline), the options ({NULL} terminated; NULL: none)
 * and how many positional arguments it takes (max_args -1: any number). */
typedef struct cli_cmd {
    const char *name;
    const char *usage;
    const char *help;
    const cli_opt *opts;
    int min_args, max_args;
} cli_cmd;

/** Parser state; see cli_args_next. pos/n_pos are the positional arguments once it ended. */
typedef struct cli_args {
    const cli_cmd *cmd;
    int argc;
    char **argv;
    int i, only_pos;
    char **pos;
    int n_pos;
} cli_args;

#define CLI_ARGS_END 0      /* all options seen, positional count fine: a.pos, a.n_pos */
#define CLI_ARGS_HELP (-1)  /* --help was printed: exit 0 */
#define CLI_ARGS_USAGE (-2) /* a usage error was printed: exit 2 */

/** Start parsing argv[0..argc) (the words after the command's own name). argv is reordered:
 * positionals are moved to its front. */
void cli_args_init(cli_args *a, const cli_cmd *cmd, int argc, char **argv);

/** The next option's key (> 0) with *val its value (NULL for a flag; borrowed from argv), or
 * CLI_ARGS_END, CLI_ARGS_HELP or CLI_ARGS_USAGE. -n/--namesrv is handled here, never
 * returned. Typical use:
 *     while ((k = cli_args_next(&a, &val)) > 0) { switch (k) { ... } }
 *     if (k != CLI_ARGS_END) return cli_args_exit(k); */
int cli_args_next(cli_args *a, const char **val);

/** The exit code for a non-END result of cli_args_next: 0 after help, else CLI_EXIT_USAGE. */
int cli_args_exit(int k);

/** Parse a command that has no options of its own (only -n and --help); *pos and *n_pos are its
 * positionals. Returns as cli_args_next at its end. */
int cli_args_only(const cli_cmd *cmd, int argc, char **argv, char ***pos, int *n_pos);

/** Remove and return the first word of argv that is not an option or -n's value (the
 * subcommand of "topic", "group", "bench"). "" when there is none or an option comes first;
 * NULL when a -n before it was malformed (message printed: exit 2). */
const char *cli_take_word(int *argc, char **argv);

/**
 * Take the subcommand word of a command with subcommands (cli_take_word) and find it in names
 * (NULL-terminated). Returns its index; CLI_ARGS_HELP when there is no word and -h/--help was
 * given (parent's help printed on stdout); CLI_ARGS_USAGE when the word is missing or unknown,
 * or a -n before it is malformed (message printed: "<parent> needs <need>"). Hand a negative
 * result to cli_args_exit.
 */
int cli_take_sub(int *argc, char **argv, const cli_cmd *parent, const char *const *names,
                 const char *need);

/** Print a command's usage and help (for --help on stdout; usage errors go to stderr). */
void cli_cmd_help(const cli_cmd *cmd, FILE *out);

/** Decimal integer in [min, max]; 0 or -1. */
int cli_parse_count(const char *s, int64_t min, int64_t max, int64_t *out);

/** 1 when addr is host:port[;host:port...] with every port 1-65535, else 0. */
int cli_namesrv_valid(const char *addr);

/** Use addr as the name server (copied) after checking it as cli_namesrv_valid; on a bad one
 * prints "<source> 'addr' is not host:port" and returns -1 (a usage error). */
int cli_set_namesrv(const char *addr, const char *source);

/** The name server in use: the last valid -n, else $FERRYMQ_NAMESRV, else 127.0.0.1:9876. */
const char *cli_namesrv(void);

/** Set by the SIGINT/SIGTERM handler of commands that finish their output when interrupted
 * (produce, bench); 0 otherwise. */
extern volatile sig_atomic_t cli_interrupted;

/** Install the handler that sets cli_interrupted on SIGINT and SIGTERM (no SA_RESTART, so a
 * blocked read returns EINTR). */
void cli_catch_interrupt(void);

/** Exit code of a run cut short by SIGINT/SIGTERM once its output is complete (shells use
 * 128 + SIGINT for a command that was interrupted). */
#define CLI_EXIT_INTERRUPTED 130

/* Bodies are bytes (text.c). */

/** 1 when body[0..n) is well-formed UTF-8 (RFC 3629), else 0. */
int cli_utf8_valid(const void *body, size_t n);

/** Write body as a JSON string literal with its quotes; body must be valid UTF-8. Control
 * characters and NUL are escaped (\uXXXX), so the line stays one JSON value. */
void cli_json_string(FILE *out, const void *body, size_t n);

/** Write body as a quoted base64 string (RFC 4648, padded). */
void cli_base64(FILE *out, const void *body, size_t n);

/** Write body for a terminal: printable ASCII and printable UTF-8 as they are, backslash and
 * \n \r \t as escapes, every other byte (controls, invalid UTF-8) as \xHH. */
void cli_human_escape(FILE *out, const void *body, size_t n);

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

/** "prog M.m.p" from ferrymq_version() on out: what --version prints. */
void cli_print_version(const char *prog, FILE *out);

/* ---- transactional sends (txn.c), for `produce --transaction` ---- */

/** A transactional producer whose local transactions all end as one given state. */
typedef struct cli_txn cli_txn;

/** "commit" / "rollback" / "unknown" into FERRYMQ_TXN_*; 0, or -1 for anything else. */
int cli_txn_parse_state(const char *s, int *out);

/** The name of a FERRYMQ_TXN_* state. */
const char *cli_txn_state_name(int s);

/**
 * Start a transactional producer of group whose local transactions return local_state and
 * whose check-backs are answered check_state. On 0 *out is the caller's (cli_txn_close);
 * otherwise an exit code, the error printed.
 */
int cli_txn_open(const char *group, int local_state, int check_state, cli_txn **out);

/** Send m as one transaction (m stays the caller's); *state is the outcome sent. As
 *  ferrymq_txn_send. */
int cli_txn_send(cli_txn *t, ferrymq_msg *m, ferrymq_send_result *res, int *state, char *err,
                 size_t err_cap);

/** Wait up to wait_ms until `sent` check-backs were answered (0: no wait), then close and
 *  free t. NULL is a no-op. */
void cli_txn_close(cli_txn *t, long sent, int64_t wait_ms);

/** One message on stdout: a line for people (non-printable bytes escaped), or one JSON
 * object (json != 0; "body" when valid UTF-8, else "body_base64"). main.c. */
void cli_print_msg(const ferrymq_msg *m, int json);

/** ferrymq message show ID [-t TOPIC] | find -t TOPIC --key K [--json]. */
int cli_message(int argc, char **argv);

/** ferrymq task create|list|show|pause|resume|delete: the replicator's HTTP API (task.c). */
int cli_task(int argc, char **argv);

/** ferrymq failover --task T (--dry-run | --apply) and failback --task T (task.c). */
int cli_failover(int argc, char **argv);
int cli_failback(int argc, char **argv);

/** Use addr (one host:port) as the replicator of `task` commands; source names it in the
 * usage error printed for a bad one ("-r", "FERRYMQ_REPLICATOR"). 0, or -1 (exit 2). A -r
 * wins over $FERRYMQ_REPLICATOR whatever the order they are seen in. */
int cli_set_replicator(const char *addr, const char *source);

/** ferrymq bench produce|consume|push. */
int cli_bench(int argc, char **argv);

#endif
