/*
 * fmclient.h - a blocking remoting client for integration tests: encode a request with the
 * proto module, write it to a real socket, read the matching response frame.
 * Thread: test code only.
 */
#ifndef FM_TESTS_FMCLIENT_H
#define FM_TESTS_FMCLIENT_H

#include "common/buf.h"
#include "proto/frame.h"

/** A decoded response; cmd borrows from frame and arena. Zero-init; free with fmt_resp_free. */
typedef struct fmt_resp {
    fm_buf frame;
    fm_cmd_arena arena;
    fm_cmd cmd;
} fmt_resp;

/**
 * Send a request (code, NULL-terminated key/value list, body) in the given serialization and
 * wait for its response (matched by opaque; frames with other opaques are skipped). Returns 0
 * with *resp filled, -1 on socket error/timeout/closed connection.
 */
int fmt_request(int fd, int serialize, int code, const char *const *kv, fm_slice body,
                fmt_resp *resp);

/** Send a request without waiting (pipelining). Returns the opaque used, or -1. */
int fmt_send(int fd, int serialize, int code, const char *const *kv, fm_slice body);

/** Read the next response frame, whatever its opaque. 0 or -1. */
int fmt_recv(int fd, fmt_resp *resp);

/** The remark as a C string in a static rotating buffer ("" when absent). */
const char *fmt_remark(const fmt_resp *resp);

/** Header field as a C string in a static rotating buffer ("" when absent). */
const char *fmt_ext(const fmt_resp *resp, const char *key);

void fmt_resp_free(fmt_resp *resp);

/**
 * Build a SEND_MESSAGE_V2 request for topic/queue with body and properties, send it and wait.
 * Returns the response code, or -1. queue_offset/msg_id (optional) receive the reply fields.
 */
int fmt_send_msg(int fd, const char *topic, int qid, const char *body, const char *tags,
                 const char *keys, int64_t *queue_offset, char *msg_id, size_t msg_id_cap);

/**
 * One PULL_MESSAGE without suspension from offset, subscription sub of type expr_type ("TAG"
 * or "SQL92") carried in the request (sysFlag 0x4). Returns the response code (resp filled,
 * free it), or -1 on a socket error.
 */
int fmt_pull(int fd, const char *group, const char *topic, int qid, int64_t offset, int max_msgs,
             const char *sub, const char *expr_type, fmt_resp *resp);

/** Records in a pull body (stored records back to back), or -1 if the sizes do not add up. */
int fmt_count_records(fm_slice body);

/** The store timestamps of a pull body's first max records into out: how many, or -1 on a
 * record that does not decode. */
int fmt_store_times(fm_slice body, int64_t *out, int max);

#endif
