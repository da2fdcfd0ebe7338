/*
 * fmproxy.h - a small TCP proxy for fault tests: it listens on a loopback address, forwards
 * every accepted connection to a target host:port, and lets the test thread stall the bytes
 * (connections stay open, nothing moves in either direction), freeze the connections open now
 * for good, or reset every proxied connection (RST to both sides: SO_LINGER 0), as a broken
 * network or a dead middlebox would.
 *
 * One thread per proxy runs a poll loop over the listener, a wake-up pipe and the connection
 * pairs; the control calls below hand it commands and wait for them to take effect, so when
 * fmp_stall(p, 1) returns no further byte is forwarded, and when fmp_reset returns every
 * connection open at the call is gone.
 *
 * Thread: fmp_* calls from the test thread (any one thread at a time per proxy).
 */
#ifndef FM_TESTS_FMPROXY_H
#define FM_TESTS_FMPROXY_H

#include <stdint.h>

typedef struct fmp_proxy fmp_proxy;

/** Counters since fmp_start (read consistently under the proxy's lock). */
typedef struct fmp_stats {
    int64_t accepted;   /* connections accepted from clients */
    int64_t open;       /* proxied connection pairs open now */
    int64_t resets;     /* pairs closed by fmp_reset */
    int64_t bytes_up;   /* client -> target bytes forwarded */
    int64_t bytes_down; /* target -> client bytes forwarded */
    int64_t refused;    /* accepted connections whose target connect failed (closed at once) */
} fmp_stats;

/**
 * Listen on listen_ip:listen_port (port 0 = any free port; see fmp_port) and forward to
 * target_ip:target_port. The listener uses SO_REUSEADDR so it can take a port a killed
 * process held a moment ago. *out owned by the caller (fmp_free). Returns 0, or -1 (bind or
 * thread failure; errno set).
 */
int fmp_start(const char *listen_ip, int listen_port, const char *target_ip, int target_port,
              fmp_proxy **out);

/** The port the proxy listens on. */
int fmp_port(const fmp_proxy *p);

/**
 * on = 1: stop forwarding in both directions (and stop reading from either side, so the
 * kernel buffers fill and the peers' writes block); connections stay open and new ones are
 * still accepted and connected to the target, but no byte moves. on = 0: resume. Returns when
 * the proxy thread has applied it.
 */
void fmp_stall(fmp_proxy *p, int on);

/**
 * Close every proxied connection pair with an RST to both sides (SO_LINGER {1, 0}); bytes
 * buffered in the proxy are dropped. Returns the number of pairs reset, once they are closed.
 * The listener stays up: later connections are proxied again (stalled if the proxy is).
 */
int fmp_reset(fmp_proxy *p);

/**
 * Freeze every proxied connection pair open now: from here on none of its bytes moves and it
 * is never closed (as a peer that vanished without a reset looks: a crashed host, a dropped
 * NAT entry), while later connections are proxied as usual. Returns the pairs frozen.
 */
int fmp_freeze(fmp_proxy *p);

/** Copy the counters into *st. */
void fmp_get_stats(fmp_proxy *p, fmp_stats *st);

/** Stop the thread, close the listener and every connection, free. NULL is a no-op. */
void fmp_free(fmp_proxy *p);

#endif
