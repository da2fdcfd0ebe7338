/*
 * frame.h - RocketMQ remoting frames and commands (RemotingCommand in apache/rocketmq).
 *
 * Frame layout:
 *   int32 BE  total length  = 4 + header length + body length (excludes itself)
 *   int32 BE  high byte: serialize type (0 JSON, 1 ROCKETMQ); low 24 bits: header length
 *   header    JSON object, or the ROCKETMQ binary header (see fm_proto_cmd_decode)
 *   body      the rest
 *
 * A decoded fm_cmd borrows: its slices point into the frame bytes or into the caller's
 * fm_cmd_arena, so they are valid until the frame is released or the arena is reused for the
 * next decode, whichever comes first. One arena per decoding thread, reused: binary headers
 * decode with no allocation; JSON headers go through cJSON, which allocates (accepted for now:
 * Java clients default to JSON, and the body, which dominates, is never copied).
 *
 * Thread: no shared state; an arena belongs to one thread at a time.
 */
#ifndef FM_PROTO_FRAME_H
#define FM_PROTO_FRAME_H

#include "common/buf.h"
#include "common/errors.h"

#include <stddef.h>
#include <stdint.h>

#define FM_SERIALIZE_JSON 0
#define FM_SERIALIZE_ROCKETMQ 1

#define FM_CMD_FLAG_RESPONSE 0x1 /* RPC_TYPE bit: set on responses */
#define FM_CMD_FLAG_ONEWAY 0x2   /* RPC_ONEWAY bit: no response expected */

#define FM_PROTO_MAX_EXT 64  /* header fields per command; more is a protocol error */
#define FM_PROTO_MIN_FRAME 8 /* length prefix + header-length word */
/* The MQVersion ordinal FerryMQ's requests and replies carry: V4_9_7 (407), the version whose
 * protocol it speaks; Java clients and mqadmin show it (brokerVersionDesc) and gate features
 * on it. */
#define FM_PROTO_VERSION 407

/** RocketMQ LanguageCode values (binary headers carry the ordinal). */
enum fm_lang {
    FM_LANG_JAVA = 0,
    FM_LANG_CPP = 1,
    FM_LANG_DOTNET = 2,
    FM_LANG_PYTHON = 3,
    FM_LANG_DELPHI = 4,
    FM_LANG_ERLANG = 5,
    FM_LANG_RUBY = 6,
    FM_LANG_OTHER = 7,
    FM_LANG_HTTP = 8,
    FM_LANG_GO = 9,
    FM_LANG_PHP = 10,
    FM_LANG_OMS = 11,
    FM_LANG_RUST = 12,
};

typedef struct fm_cmd_ext {
    fm_slice key;
    fm_slice val;
} fm_cmd_ext;

/** A remoting command, decoded (borrowing) or about to be encoded. */
typedef struct fm_cmd {
    int code;
    int language; /* enum fm_lang */
    int version;
    int32_t opaque;
    int flag;        /* FM_CMD_FLAG_* */
    int serialize;   /* FM_SERIALIZE_*: how it came, or how to encode it */
    fm_slice remark; /* ptr NULL when absent */
    fm_cmd_ext *ext; /* header fields (extFields) */
    size_t n_ext;
    fm_slice body;
} fm_cmd;

/** Scratch space reused across decodes. Initialise with fm_proto_arena_init. */
typedef struct fm_cmd_arena {
    void *json; /* cJSON tree of the last JSON header, owned */
    fm_cmd_ext ext[FM_PROTO_MAX_EXT];
    char nums[FM_PROTO_MAX_EXT][32]; /* extFields that came as JSON numbers/bools, as text */
    char lang[16];
} fm_cmd_arena;

void fm_proto_arena_init(fm_cmd_arena *a);

/** Release what the arena holds; it may be reused after fm_proto_arena_init. */
void fm_proto_arena_free(fm_cmd_arena *a);

/**
 * Length of the frame starting at p, given `avail` bytes. Returns FM_OK with *frame_len = total
 * bytes including the 4-byte prefix; FM_EAGAIN when fewer than 4 bytes are there; FM_EPROTO
 * when the length is below the minimum or the frame would exceed max_frame (checked before
 * anything is allocated, so a 2 GiB length costs nothing). Signature matches the net module's
 * frame_len callback.
 */
int fm_proto_frame_len(const uint8_t *p, size_t avail, size_t max_frame, size_t *frame_len);

/**
 * Decode one whole frame (prefix included). On success *out borrows from frame and arena (see
 * above). Returns FM_OK, or FM_EPROTO with eb saying what is wrong (truncated, bad lengths,
 * unknown serialize type, JSON that is not an object, missing or mistyped code, ...).
 */
int fm_proto_cmd_decode(const uint8_t *frame, size_t len, fm_cmd_arena *arena, fm_cmd *out,
                        fm_errbuf *eb);

/**
 * Initialise resp as the response to req: same opaque and serialization, the response flag,
 * the given code; language JAVA and version FM_PROTO_VERSION, as a RocketMQ server stamps its
 * own (RemotingCommand.createResponseCommand), not the request's; no remark, fields or body.
 */
void fm_proto_cmd_response_init(fm_cmd *resp, const fm_cmd *req, int code);

/** LanguageCode's name of an enum fm_lang value ("JAVA", "CPP", ...; "OTHER" when unknown). */
const char *fm_proto_lang_name(int lang);

/** Value of a header field, ptr NULL when absent. */
fm_slice fm_cmd_ext_get(const fm_cmd *c, const char *key);

/** A header field as a base-10 integer: FM_OK, FM_ENOTFOUND (absent), FM_EINVAL (not one). */
int fm_cmd_ext_i64(const fm_cmd *c, const char *key, int64_t *out);

/**
 * Append a whole frame for cmd (prefix, header in cmd->serialize, body) to out. JSON headers look
 * like Java RocketMQ's (code, extFields, flag, language, opaque, remark, serializeTypeCurrentRPC,
 * version). Returns FM_OK, FM_ENOMEM, FM_ETOOBIG (header over 16 MiB).
 */
int fm_proto_cmd_encode(fm_buf *out, const fm_cmd *cmd, fm_errbuf *eb);

/**
 * As fm_proto_cmd_encode but writes only prefix and header, announcing a body of body_len bytes
 * that the caller sends next (e.g. straight from the commit log); cmd->body is ignored.
 */
int fm_proto_cmd_encode_header(fm_buf *out, const fm_cmd *cmd, size_t body_len, fm_errbuf *eb);

#endif
