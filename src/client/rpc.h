/*
 * rpc.h - the client library's transport: one I/O thread running an fm_net_loop, one
 * connection per remote address (opened on first use, re-opened after a failure), requests
 * matched to responses by opaque, a timeout per request.
 *
 * Any thread may call fm_client_rpc_call (async) and fm_client_rpc_call_sync. The frame is
 * encoded by the caller with an opaque from fm_client_rpc_next_opaque, so nothing but the
 * finished bytes crosses to the I/O thread. Completions run on the I/O thread and must not
 * block; the response they get is borrowed for the duration of the call.
 *
 * This is src/client's private contract (libferrymq's public API is include/ferrymq.h).
 */
#ifndef FM_CLIENT_RPC_H
#define FM_CLIENT_RPC_H

#include "common/buf.h"
#include "common/errors.h"
#include "proto/frame.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct fm_client_rpc fm_client_rpc;

/** err is FM_OK with resp (and raw, its whole frame) set, or FM_ETIMEDOUT / FM_ECLOSED / FM_EIO
 * with resp NULL. Both are borrowed for the call. */
typedef void (*fm_client_done_fn)(void *ud, int err, const fm_cmd *resp, fm_slice raw);

/** A request the broker sent (flag without FM_CMD_FLAG_RESPONSE), borrowed for the call; runs
 * on the I/O thread and must not block. */
typedef void (*fm_client_request_fn)(void *ud, const fm_cmd *req);

/**
 * Memory the I/O thread is done with but should be freed by a caller's thread (the one that
 * allocated it, usually): embed this, push it with fm_client_rpc_defer_free, and free_fn
 * runs at the next fm_client_rpc_call (or in fm_client_rpc_free).
 */
typedef struct fm_client_garbage {
    struct fm_client_garbage *next;
    void (*free_fn)(struct fm_client_garbage *g);
} fm_client_garbage;

/** A lock-free stack of garbage: any thread pushes, the owner drains (runs every free_fn). */
typedef _Atomic(fm_client_garbage *) fm_client_garbage_list;
void fm_client_garbage_push(fm_client_garbage_list *list, fm_client_garbage *g);
void fm_client_garbage_drain(fm_client_garbage_list *list);

/** Hand g back to be freed at the next fm_client_rpc_call. Thread: any (lock-free). */
void fm_client_rpc_defer_free(fm_client_rpc *rpc, fm_client_garbage *g);

/** Start the I/O thread. *out is owned by the caller (fm_client_rpc_free). */
int fm_client_rpc_new(fm_client_rpc **out, fm_errbuf *eb);

/**
 * Stop the thread and free everything. Requests still pending complete with FM_ECLOSED
 * first. Must not be called from a completion. NULL is a no-op.
 */
void fm_client_rpc_free(fm_client_rpc *rpc);

/**
 * Handler for broker-initiated requests. Thread: set it before the first request is sent (the
 * I/O thread reads it without a lock; the first call's hand-off orders the write before).
 */
void fm_client_rpc_set_request_cb(fm_client_rpc *rpc, fm_client_request_fn fn, void *ud);

/** What a transport error of a completion means, for messages ("cannot connect", ...);
 * static text. Thread: any. */
const char *fm_client_rpc_strerror(int err);

/** 1 when called on rpc's I/O thread (from a completion). Thread: any. */
int fm_client_rpc_on_io_thread(const fm_client_rpc *rpc);

/** A fresh opaque for a request frame. Thread: any. */
int32_t fm_client_rpc_next_opaque(fm_client_rpc *rpc);

/**
 * Send frame (a whole encoded request whose opaque came from fm_client_rpc_next_opaque) to
 * addr ("host:port") and call done once, on the I/O thread: with the response, or an error on
 * timeout or connection loss. oneway: no response expected; done runs once the bytes are
 * queued. On FM_OK the bytes are consumed and frame is left empty; its memory stays the
 * caller's to free (called on the I/O thread, the capacity is kept for the caller's next frame).
 * Thread: any. Called from a completion (the I/O thread), the frame is written before this
 * returns and done may already have run (no connection, a closing one): the caller must hold
 * no lock done takes.
 */
int fm_client_rpc_call(fm_client_rpc *rpc, const char *addr, fm_buf *frame, int32_t opaque,
                       int timeout_ms, int oneway, fm_client_done_fn done, void *ud);

/**
 * As fm_client_rpc_call for a frame in two parts: frame holds the prefix and header (encoded
 * announcing tail.len body bytes) and tail the body, borrowed until this returns. On the I/O
 * thread both go out in one writev, so a large body is not copied into the frame first.
 */
int fm_client_rpc_call_tail(fm_client_rpc *rpc, const char *addr, fm_buf *frame, fm_slice tail,
                            int32_t opaque, int timeout_ms, int oneway, fm_client_done_fn done,
                            void *ud);

/**
 * Blocking form: waits for the response and copies its frame into resp_frame, then decodes it
 * into *resp with arena (both caller-owned). FM_OK, or the transport error with eb set.
 * Thread: any but the I/O thread.
 */
int fm_client_rpc_call_sync(fm_client_rpc *rpc, const char *addr, fm_buf *frame, int32_t opaque,
                            int timeout_ms, fm_buf *resp_frame, fm_cmd_arena *arena, fm_cmd *resp,
                            fm_errbuf *eb);

#endif
