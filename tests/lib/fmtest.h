/*
 * fmtest.h - helpers for integration tests: real ferrymqd processes on loopback, real files.
 *
 * fmt_daemon_start runs the binary named by $FM_FERRYMQD (set by tests/run-integration.sh)
 * with --storePathRootDir=<fresh temp dir> and port 0 everywhere, then waits (bounded) for the
 * daemon's ready file, which names the ports it bound. Nothing here sleeps as synchronisation:
 * waits poll a condition with a deadline.
 *
 * Thread: test code only, single-threaded.
 */
#ifndef FM_TESTS_FMTEST_H
#define FM_TESTS_FMTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct fmt_daemon {
    pid_t pid;
    char dir[256];       /* store root; kept across restarts of the same daemon */
    char log_path[300];  /* the daemon's stderr (its log lines) */
    int remoting_port;   /* broker (or name server, for --role=namesrv) port */
    int namesrv_port;    /* embedded name server port, 0 if none */
    int http_port;       /* the HTTP port (broker or replicator), 0 if none */
    char extra[16][128]; /* extra flags, reused on restart */
    int n_extra;
} fmt_daemon;

/**
 * Start ferrymqd. d->dir empty: a fresh temp dir is made; otherwise the existing dir is reused
 * (restart after a crash). extra: NULL-terminated list of extra "--key=value" flags (copied).
 * Returns 0 when the ready file appeared within timeout_ms, -1 otherwise (log printed).
 */
int fmt_daemon_start(fmt_daemon *d, const char *const *extra, int timeout_ms);

/** Restart with the same dir and flags (after fmt_daemon_stop/kill). 0 on success. */
int fmt_daemon_restart(fmt_daemon *d, int timeout_ms);

/**
 * Send sig (SIGTERM, SIGKILL) and wait for the exit, bounded by timeout_ms (then SIGKILL).
 * Returns the exit status as from waitpid, or -1.
 */
int fmt_daemon_stop(fmt_daemon *d, int sig, int timeout_ms);

/** True while the process is still running. */
int fmt_daemon_alive(fmt_daemon *d);

/** Stop (SIGKILL) if running and remove the temp dir. */
void fmt_daemon_cleanup(fmt_daemon *d);

/** Poll cond(ud) every few ms until it returns non-zero or timeout_ms passes. 1 = met. */
int fmt_wait_until(int (*cond)(void *ud), void *ud, int timeout_ms);

/** Wait until the daemon's log holds a line with this event id. 1 = seen. */
int fmt_wait_log(fmt_daemon *d, const char *event_id, int timeout_ms);

/** Count lines of the daemon's log that contain the string. */
int fmt_log_count(fmt_daemon *d, const char *needle);

/** 1 when the file's first 16 KiB contain the string; 0 otherwise or when it cannot be read. */
int fmt_file_contains(const char *path, const char *needle);

/** Connect a blocking TCP socket to 127.0.0.1:port with a receive timeout. fd or -1. */
int fmt_connect(int port, int timeout_ms);

/** Write all bytes (blocking). 0 or -1. */
int fmt_write_all(int fd, const void *p, size_t n);

/**
 * Read one remoting frame (4-byte length prefix) into buf (cap bytes). Returns the frame length
 * including the prefix, 0 on orderly close, -1 on error/timeout or a frame over cap.
 */
ssize_t fmt_read_frame(int fd, uint8_t *buf, size_t cap);

/**
 * Run the ferrymq CLI ($FM_FERRYMQ_CLI, else build/ferrymq) with args (printf-style, a shell
 * fragment: the caller adds -n if it wants one). Standard input is stdin_text fed through
 * printf '...' (so no single quotes in it), or /dev/null when NULL. out (cap bytes) receives
 * stdout, then a "--stderr--" line and stderr (kept in dir/cli.err), NUL-terminated. Returns
 * the exit code, -1 if the CLI did not exit normally.
 */
int fmt_cli_run(char *out, size_t cap, const char *dir, const char *stdin_text, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/** fmt_cli_run with a va_list, for a test's own printf-style wrapper. */
int fmt_cli_vrun(char *out, size_t cap, const char *dir, const char *stdin_text, const char *fmt,
                 va_list ap);

/**
 * Send raw bytes (a whole HTTP request) to 127.0.0.1:port and read the answer until the server
 * closes (send "Connection: close"). out (cap bytes) receives the response body, NUL-terminated;
 * headers (optional, hcap bytes) the status line and headers. Returns the HTTP status, -1 on a
 * connect/read failure or an unparsable answer.
 */
int fmt_http_raw(int port, const void *req, size_t len, char *out, size_t cap, char *headers,
                 size_t hcap);

/** One HTTP/1.1 request (Connection: close; body may be NULL) as fmt_http_raw. */
int fmt_http(int port, const char *method, const char *path, const char *body, char *out,
             size_t cap);

/** Monotonic ms. */
int64_t fmt_now_ms(void);

/** Wall-clock ms since the epoch (what store timestamps use). */
int64_t fmt_wall_ms(void);

#endif
