/*
 * proto: remoting frames (JSON and ROCKETMQ headers), stored-message records, batch bodies,
 * property strings, message ids. Known-good vectors are built by hand from the upstream
 * layouts (docs/protocol.md); every truncation of a valid input must be rejected cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/crc.h"
#include "proto/codes.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/msgid.h"
#include "proto/props.h"

#include <stdlib.h>
#include <string.h>

static void
encode_sample(fm_buf *out, int serialize)
{
    fm_cmd_ext ext[3] = {
        {FM_SLICE_LIT("topic"), FM_SLICE_LIT("T1")},
        {FM_SLICE_LIT("weird"), FM_SLICE_LIT("q\"uote\\back\x01ctl\n")},
        {FM_SLICE_LIT("queueId"), FM_SLICE_LIT("-7")},
    };
    fm_cmd c;
    memset(&c, 0, sizeof(c));
    c.code = FM_REQ_SEND_MESSAGE_V2;
    c.language = FM_LANG_GO;
    c.version = 399;
    c.opaque = -5;
    c.flag = FM_CMD_FLAG_ONEWAY;
    c.serialize = serialize;
    c.remark = FM_SLICE_LIT("a remark");
    c.ext = ext;
    c.n_ext = 3;
    c.body = FM_SLICE_LIT("\x00\x01"
                          "body");
    assert_int_equal(fm_proto_cmd_encode(out, &c, NULL), FM_OK);
}

static void
check_sample(const fm_cmd *d)
{
    int64_t q;
    assert_int_equal(d->code, FM_REQ_SEND_MESSAGE_V2);
    assert_int_equal(d->language, FM_LANG_GO);
    assert_int_equal(d->version, 399);
    assert_int_equal(d->opaque, -5);
    assert_int_equal(d->flag, FM_CMD_FLAG_ONEWAY);
    assert_true(fm_slice_eq_cstr(d->remark, "a remark"));
    assert_true(fm_slice_eq_cstr(fm_cmd_ext_get(d, "topic"), "T1"));
    assert_true(fm_slice_eq_cstr(fm_cmd_ext_get(d, "weird"), "q\"uote\\back\x01ctl\n"));
    assert_int_equal(fm_cmd_ext_i64(d, "queueId", &q), FM_OK);
    assert_int_equal(q, -7);
    assert_int_equal(fm_cmd_ext_i64(d, "topic", &q), FM_EINVAL);
    assert_int_equal(fm_cmd_ext_i64(d, "absent", &q), FM_ENOTFOUND);
    assert_null(fm_cmd_ext_get(d, "absent").ptr);
    assert_int_equal(d->body.len, 6);
    assert_memory_equal(d->body.ptr,
                        "\x00\x01"
                        "body",
                        6);
}

static void
test_frame_round_trip_both_serializations(void **state)
{
    (void)state;
    for (int ser = 0; ser <= 1; ser++) {
        fm_buf b = {0};
        fm_cmd_arena a;
        fm_cmd d;
        size_t flen;
        fm_proto_arena_init(&a);
        encode_sample(&b, ser);
        assert_int_equal(fm_proto_frame_len(b.data, b.len, 1 << 20, &flen), FM_OK);
        assert_int_equal(flen, b.len);
        assert_int_equal(b.data[4], ser); /* serialize type in the high byte */
        assert_int_equal(fm_proto_cmd_decode(b.data, b.len, &a, &d, NULL), FM_OK);
        assert_int_equal(d.serialize, ser);
        check_sample(&d);
        fm_proto_arena_free(&a);
        fm_buf_free(&b);
    }
}

static void
test_frame_binary_header_known_bytes(void **state)
{
    /* code 105, language JAVA, version 1, opaque 7, flag 0, no remark, one field
     * topic=T: header = 2+1+2+4+4 + 4 + 4 + (2+5+4+1) = 33 bytes */
    static const uint8_t f[] = {0,  0, 0, 37 + 0, 1,   0,   0,   33,  0, 105, 0, 0, 1,  0,
                                0,  0, 7, 0,      0,   0,   0,   0,   0, 0,   0, 0, 0,  0,
                                12, 0, 5, 't',    'o', 'p', 'i', 'c', 0, 0,   0, 1, 'T'};
    fm_cmd_arena a;
    fm_cmd d;
    (void)state;
    fm_proto_arena_init(&a);
    assert_int_equal(sizeof(f), 41);
    assert_int_equal(fm_proto_cmd_decode(f, sizeof(f), &a, &d, NULL), FM_OK);
    assert_int_equal(d.code, 105);
    assert_int_equal(d.opaque, 7);
    assert_int_equal(d.n_ext, 1);
    assert_true(fm_slice_eq_cstr(fm_cmd_ext_get(&d, "topic"), "T"));
    assert_int_equal(d.body.len, 0);
}

static void
test_frame_every_truncation_is_rejected(void **state)
{
    (void)state;
    for (int ser = 0; ser <= 1; ser++) {
        fm_buf b = {0};
        fm_cmd_arena a;
        fm_cmd d;
        fm_proto_arena_init(&a);
        encode_sample(&b, ser);
        for (size_t n = 0; n < b.len; n++) {
            size_t flen;
            /* the length prefix says more than is there: the reassembler waits ... */
            int rc = fm_proto_frame_len(b.data, n, 1 << 20, &flen);
            assert_true(rc == FM_EAGAIN || (rc == FM_OK && flen > n));
            /* ... and a decoder handed the short bytes refuses them */
            assert_int_equal(fm_proto_cmd_decode(b.data, n, &a, &d, NULL), FM_EPROTO);
        }
        fm_proto_arena_free(&a);
        fm_buf_free(&b);
    }
}

static void
test_frame_length_limits(void **state)
{
    uint8_t p[8] = {0};
    size_t flen;
    (void)state;
    assert_int_equal(fm_proto_frame_len(p, 3, 1 << 20, &flen), FM_EAGAIN);
    fm_put_be32(p, 3);
    assert_int_equal(fm_proto_frame_len(p, 8, 1 << 20, &flen), FM_EPROTO);
    fm_put_be32(p, 0x80000000u); /* 2 GiB */
    assert_int_equal(fm_proto_frame_len(p, 8, (size_t)1 << 40, &flen), FM_EPROTO);
    fm_put_be32(p, (1 << 20) - 3);
    assert_int_equal(fm_proto_frame_len(p, 8, 1 << 20, &flen), FM_EPROTO);
    fm_put_be32(p, (1 << 20) - 4);
    assert_int_equal(fm_proto_frame_len(p, 8, 1 << 20, &flen), FM_OK);
    assert_int_equal(flen, 1 << 20);
}

static void
decode_json(const char *hdr, int want)
{
    fm_buf b = {0};
    fm_cmd_arena a;
    fm_cmd d;
    fm_errbuf eb;
    size_t n = strlen(hdr);
    fm_proto_arena_init(&a);
    fm_buf_append_be32(&b, (uint32_t)(4 + n));
    fm_buf_append_be32(&b, (uint32_t)n);
    fm_buf_append(&b, hdr, n);
    assert_int_equal(fm_proto_cmd_decode(b.data, b.len, &a, &d, &eb), want);
    if (want != FM_OK) {
        assert_true(strlen(eb.msg) > 0);
    }
    fm_proto_arena_free(&a);
    fm_buf_free(&b);
}

static void
test_frame_bad_json_headers(void **state)
{
    (void)state;
    decode_json("{\"code\":10,\"opaque\":1,\"extFields\":{\"a\":\"b\"}}", FM_OK);
    decode_json("{not json", FM_EPROTO);
    decode_json("[1,2]", FM_EPROTO);
    decode_json("{\"opaque\":1}", FM_EPROTO);
    decode_json("{\"code\":\"10\"}", FM_EPROTO);
    decode_json("{\"code\":10,\"extFields\":[]}", FM_EPROTO);
    decode_json("{\"code\":10,\"extFields\":{\"a\":{\"nested\":1}}}", FM_EPROTO);
    decode_json("{\"code\":10,\"opaque\":\"x\"}", FM_EPROTO);
    decode_json("{\"code\":1e300}", FM_EPROTO);
}

static void
test_frame_json_numbers_and_bools_become_text(void **state)
{
    const char *hdr = "{\"code\":11,\"language\":\"JAVA\",\"opaque\":3,\"flag\":0,\"extFields\":"
                      "{\"queueId\":3,\"order\":false,\"x\":null,\"big\":9007199254740993}}";
    fm_buf b = {0};
    fm_cmd_arena a;
    fm_cmd d;
    int64_t v;
    size_t n = strlen(hdr);
    (void)state;
    fm_proto_arena_init(&a);
    fm_buf_append_be32(&b, (uint32_t)(4 + n));
    fm_buf_append_be32(&b, (uint32_t)n);
    fm_buf_append(&b, hdr, n);
    assert_int_equal(fm_proto_cmd_decode(b.data, b.len, &a, &d, NULL), FM_OK);
    assert_int_equal(fm_cmd_ext_i64(&d, "queueId", &v), FM_OK);
    assert_int_equal(v, 3);
    assert_true(fm_slice_eq_cstr(fm_cmd_ext_get(&d, "order"), "false"));
    assert_null(fm_cmd_ext_get(&d, "x").ptr);
    assert_int_equal(d.language, FM_LANG_JAVA);
    fm_proto_arena_free(&a);
    fm_buf_free(&b);
}

static void
test_frame_too_many_fields(void **state)
{
    fm_buf hdr = {0}, b = {0};
    fm_cmd_arena a;
    fm_cmd d;
    (void)state;
    fm_proto_arena_init(&a);
    fm_buf_appendf(&hdr, "{\"code\":1,\"extFields\":{");
    for (int i = 0; i < FM_PROTO_MAX_EXT + 1; i++) {
        fm_buf_appendf(&hdr, "%s\"k%d\":\"v\"", i ? "," : "", i);
    }
    fm_buf_appendf(&hdr, "}}");
    fm_buf_append_be32(&b, (uint32_t)(4 + hdr.len));
    fm_buf_append_be32(&b, (uint32_t)hdr.len);
    fm_buf_append(&b, hdr.data, hdr.len);
    assert_int_equal(fm_proto_cmd_decode(b.data, b.len, &a, &d, NULL), FM_EPROTO);
    fm_proto_arena_free(&a);
    fm_buf_free(&hdr);
    fm_buf_free(&b);
}

static void
sample_record(fm_buf *out, fm_slice born_host)
{
    static const uint8_t store[8] = {10, 0, 0, 2, 0, 0, 0x2A, 0x9F};
    fm_buf props = {0};
    fm_msg_view m;
    fm_props_append(&props, FM_SLICE_LIT("TAGS"), FM_SLICE_LIT("TagA"));
    fm_props_append(&props, FM_SLICE_LIT("KEYS"), FM_SLICE_LIT("k1 k2"));
    memset(&m, 0, sizeof(m));
    m.queue_id = 3;
    m.flag = 9;
    m.queue_offset = 77;
    m.phys_offset = 123456;
    m.sysflag = FM_MSG_SYSFLAG_MULTI_TAGS;
    m.born_timestamp = 1700000000000;
    m.born_host = born_host;
    m.store_timestamp = 1700000000123;
    m.store_host = fm_slice_make(store, 8);
    m.reconsume_times = 2;
    m.body = FM_SLICE_LIT("hello body");
    m.topic = FM_SLICE_LIT("TopicX");
    m.properties = fm_buf_slice(&props);
    assert_int_equal(fm_msg_encode(out, &m, NULL), FM_OK);
    fm_buf_free(&props);
}

static void
test_msg_round_trip_and_layout(void **state)
{
    static const uint8_t born[8] = {192, 168, 1, 2, 0, 0, 0x30, 0x39};
    fm_buf b = {0};
    fm_msg_view m;
    (void)state;
    sample_record(&b, fm_slice_make(born, 8));
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_OK);
    assert_int_equal(m.total_size, b.len);
    assert_int_equal(fm_be32(b.data), b.len);
    assert_int_equal(fm_be32(b.data + 4), 0xDAA320A7u);
    assert_int_equal(fm_be32(b.data + 8), fm_crc32_body("hello body", 10));
    assert_int_equal(fm_be64(b.data + FM_MSG_OFF_QUEUEOFFSET), 77);
    assert_int_equal(fm_be64(b.data + FM_MSG_OFF_PHYSOFFSET), 123456);
    assert_int_equal(fm_be64(b.data + fm_msg_off_store_ts(m.sysflag)), 1700000000123);
    assert_int_equal(m.queue_id, 3);
    assert_int_equal(m.flag, 9);
    assert_int_equal(m.reconsume_times, 2);
    assert_int_equal(m.born_timestamp, 1700000000000);
    assert_memory_equal(m.born_host.ptr, born, 8);
    assert_true(fm_slice_eq_cstr(m.topic, "TopicX"));
    assert_true(fm_slice_eq_cstr(fm_props_get(m.properties, "KEYS"), "k1 k2"));
    assert_true(fm_msg_verify_crc(&m));
    /* 91 fixed bytes + body 10 + topic 6 + properties */
    assert_int_equal(b.len, 91 + 10 + 6 + m.properties.len);
    b.data[b.len - m.properties.len - 2 - 6 - 1 - 3] ^= 0x20; /* flip a body byte */
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_OK);
    assert_false(fm_msg_verify_crc(&m));
    fm_buf_free(&b);
}

static void
test_msg_ipv6_born_host(void **state)
{
    uint8_t born[20];
    fm_buf b = {0};
    fm_msg_view m;
    (void)state;
    for (int i = 0; i < 20; i++) {
        born[i] = (uint8_t)(i + 1);
    }
    sample_record(&b, fm_slice_make(born, 20));
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_OK);
    assert_true(m.sysflag & FM_MSG_SYSFLAG_BORNHOST_V6);
    assert_int_equal(m.born_host.len, 20);
    assert_memory_equal(m.born_host.ptr, born, 20);
    assert_int_equal(fm_msg_off_store_ts(m.sysflag), 68);
    assert_int_equal(m.store_timestamp, 1700000000123);
    fm_buf_free(&b);
}

static void
test_msg_truncations_and_corruption(void **state)
{
    static const uint8_t born[8] = {1, 2, 3, 4, 0, 0, 0, 5};
    fm_buf b = {0};
    fm_msg_view m;
    (void)state;
    sample_record(&b, fm_slice_make(born, 8));
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(fm_msg_decode(b.data, n, &m, NULL), FM_EAGAIN);
    }
    b.data[5] ^= 1; /* magic */
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_ECORRUPT);
    b.data[5] ^= 1;
    fm_put_be32(b.data, 10); /* size below the minimum */
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_ECORRUPT);
    fm_put_be32(b.data, (uint32_t)b.len - 1); /* inner lengths disagree */
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_ECORRUPT);
    fm_put_be32(b.data, (uint32_t)b.len);
    fm_put_be32(b.data + 84, 0x7FFFFFFF); /* body length past the record */
    assert_int_equal(fm_msg_decode(b.data, b.len, &m, NULL), FM_ECORRUPT);
    fm_buf_free(&b);
}

static void
test_msg_batch_iterate_and_reject(void **state)
{
    fm_buf b = {0};
    fm_msg_batch_iter it;
    fm_msg_batch_item item;
    fm_errbuf eb;
    int n = 0;
    (void)state;
    assert_int_equal(fm_msg_batch_append(&b, 1, FM_SLICE_LIT("one"),
                                         FM_SLICE_LIT("A\x01"
                                                      "1\x02")),
                     FM_OK);
    assert_int_equal(fm_msg_batch_append(&b, 2, FM_SLICE_LIT(""), FM_SLICE_LIT("")), FM_OK);
    assert_int_equal(fm_msg_batch_append(&b, 3, FM_SLICE_LIT("three"), FM_SLICE_LIT("")), FM_OK);
    fm_msg_batch_init(&it, fm_buf_slice(&b));
    while (fm_msg_batch_next(&it, &item, &eb) == FM_OK) {
        n++;
        assert_int_equal(item.flag, n);
    }
    assert_int_equal(n, 3);
    /* first item: TOTALSIZE 4+4+4+4+4+3+2+4 = 29 */
    assert_int_equal(fm_be32(b.data), 29);
    fm_put_be32(b.data, 1000); /* size beyond the body */
    fm_msg_batch_init(&it, fm_buf_slice(&b));
    assert_int_equal(fm_msg_batch_next(&it, &item, &eb), FM_EPROTO);
    fm_put_be32(b.data, 29);
    b.data[20 + 3] = 9; /* properties length disagrees */
    fm_msg_batch_init(&it, fm_buf_slice(&b));
    assert_int_equal(fm_msg_batch_next(&it, &item, &eb), FM_EPROTO);
    fm_msg_batch_init(&it, fm_slice_make(b.data, 10));
    assert_int_equal(fm_msg_batch_next(&it, &item, &eb), FM_EPROTO);
    fm_buf_free(&b);
}

static void
test_props_parse_build_and_reject(void **state)
{
    fm_buf p = {0};
    fm_props_iter it;
    fm_slice n, v;
    (void)state;
    assert_int_equal(fm_props_append(&p, FM_SLICE_LIT("TAGS"), FM_SLICE_LIT("A")), FM_OK);
    assert_int_equal(fm_props_append(&p, FM_SLICE_LIT("empty"), FM_SLICE_LIT("")), FM_OK);
    assert_int_equal(fm_props_append(&p, FM_SLICE_LIT("bad\x01"), FM_SLICE_LIT("x")), FM_EINVAL);
    assert_int_equal(fm_props_append(&p, FM_SLICE_LIT("k"), FM_SLICE_LIT("x\x02")), FM_EINVAL);
    assert_true(fm_slice_eq_cstr(fm_props_get(fm_buf_slice(&p), "TAGS"), "A"));
    assert_true(fm_props_get(fm_buf_slice(&p), "empty").ptr != NULL);
    assert_null(fm_props_get(fm_buf_slice(&p), "none").ptr);
    assert_true(fm_props_valid(fm_buf_slice(&p)));
    /* no trailing separator: accepted, as RocketMQ's own parser does */
    assert_true(fm_slice_eq_cstr(fm_props_get(FM_SLICE_LIT("a\x01"
                                                           "1\x02"
                                                           "b\x01"
                                                           "2"),
                                              "b"),
                                 "2"));
    /* a pair without a name separator is malformed */
    fm_props_iter_init(&it, FM_SLICE_LIT("a\x01"
                                         "1\x02garbage\x02"));
    assert_int_equal(fm_props_next(&it, &n, &v), FM_OK);
    assert_int_equal(fm_props_next(&it, &n, &v), FM_EPROTO);
    assert_false(fm_props_valid(FM_SLICE_LIT("\0\0\0\0")));
    assert_true(fm_props_valid(FM_SLICE_LIT("")));
    fm_buf_free(&p);
}

static void
test_props_pick_finds_several_in_one_pass(void **state)
{
    static const fm_slice names[] = {FM_SLICE_LIT("KEYS"), FM_SLICE_LIT("TAGS"),
                                     FM_SLICE_LIT("DELAY"), FM_SLICE_LIT("empty")};
    fm_slice out[4];
    (void)state;
    /* the first of a repeated name, as fm_props_get; absent names NULL; empty values found */
    assert_int_equal(fm_props_pick(FM_SLICE_LIT("TAGS\x01"
                                                "A\x02KEYS\x01k1 k2\x02TAGS\x01"
                                                "B\x02\x02"
                                                "empty\x01\x02"),
                                   names, 4, out),
                     FM_OK);
    assert_true(fm_slice_eq_cstr(out[0], "k1 k2"));
    assert_true(fm_slice_eq_cstr(out[1], "A"));
    assert_null(out[2].ptr);
    assert_non_null(out[3].ptr);
    assert_int_equal(out[3].len, 0);
    /* malformed: FM_EPROTO, with what came before the bad pair */
    assert_int_equal(fm_props_pick(FM_SLICE_LIT("TAGS\x01"
                                                "A\x02garbage\x02KEYS\x01k\x02"),
                                   names, 4, out),
                     FM_EPROTO);
    assert_true(fm_slice_eq_cstr(out[1], "A"));
    assert_null(out[0].ptr);
    assert_int_equal(fm_props_pick(FM_SLICE_LIT(""), names, 4, out), FM_OK);
    assert_null(out[1].ptr);
}

/* The iterator against the definition it implements (RocketMQ's string2messageProperties):
 * split at PAIR_SEP, skip empty pieces, and cut each piece at its first NAME_SEP; a piece
 * without one is malformed. Every string of up to 7 bytes over {a, 1, 2} (1 and 2 the
 * separators), so each placement of separators next to each other and at the ends is seen. */
static void
test_props_next_matches_split_definition(void **state)
{
    static const uint8_t alpha[3] = {'a', FM_PROPS_NAME_SEP, FM_PROPS_PAIR_SEP};
    uint8_t s[7];
    (void)state;
    for (size_t len = 0; len <= sizeof(s); len++) {
        size_t combos = 1;
        for (size_t i = 0; i < len; i++) {
            combos *= 3;
        }
        for (size_t c = 0; c < combos; c++) {
            fm_props_iter it;
            fm_slice n, v;
            size_t k = c, at = 0;
            for (size_t i = 0; i < len; i++, k /= 3) {
                s[i] = alpha[k % 3];
            }
            fm_props_iter_init(&it, fm_slice_make(s, len));
            for (;;) {
                size_t start, sep, end;
                int rc = fm_props_next(&it, &n, &v);
                while (at < len && s[at] == FM_PROPS_PAIR_SEP) {
                    at++;
                }
                if (at == len) {
                    assert_int_equal(rc, FM_ENOTFOUND);
                    break;
                }
                start = at;
                for (end = start; end < len && s[end] != FM_PROPS_PAIR_SEP; end++) {
                }
                for (sep = start; sep < end && s[sep] != FM_PROPS_NAME_SEP; sep++) {
                }
                if (sep == end) {
                    assert_int_equal(rc, FM_EPROTO);
                    break;
                }
                assert_int_equal(rc, FM_OK);
                assert_ptr_equal(n.ptr, s + start);
                assert_int_equal(n.len, sep - start);
                assert_ptr_equal(v.ptr, s + sep + 1);
                assert_int_equal(v.len, end - sep - 1);
                at = end;
            }
        }
    }
}

static void
test_msgid_offset_ids_and_uniq_keys(void **state)
{
    static const uint8_t host[8] = {127, 0, 0, 1, 0, 0, 0x2A, 0x9F}; /* 127.0.0.1:10911 */
    char id[FM_MSGID_MAX + 1], u1[33], u2[33];
    uint8_t h[20];
    size_t hl;
    uint64_t off;
    fm_uniq_gen g;
    static const uint8_t ip[4] = {10, 1, 2, 3};
    (void)state;
    assert_int_equal(fm_msgid_make(id, host, 8, 0x88), 32);
    assert_string_equal(id, "7F00000100002A9F0000000000000088");
    assert_int_equal(fm_msgid_parse(fm_slice_cstr(id), h, &hl, &off), FM_OK);
    assert_int_equal(hl, 8);
    assert_memory_equal(h, host, 8);
    assert_int_equal(off, 0x88);
    assert_int_equal(fm_msgid_parse(FM_SLICE_LIT("7F00000100002A9F000000000000008"), h, &hl, &off),
                     FM_EINVAL);
    assert_int_equal(fm_msgid_parse(FM_SLICE_LIT("7F00000100002A9F000000000000008G"), h, &hl, &off),
                     FM_EINVAL);
    assert_int_equal(fm_msgid_make(id, host, 5, 1), 0);
    fm_uniq_gen_init(&g, ip, 0x1234, 0xCAFEBABE);
    fm_uniq_next(&g, 1764000000000, u1);
    fm_uniq_next(&g, 1764000000000, u2);
    assert_int_equal(strlen(u1), 32);
    assert_memory_equal(u1, "0A0102031234CAFEBABE", 20);
    assert_string_not_equal(u1, u2);
    /* the counter is the last 4 hex digits */
    assert_string_equal(u2 + 28, "0001");
}

static void
test_req_names(void **state)
{
    (void)state;
    assert_string_equal(fm_proto_req_name(FM_REQ_PULL_MESSAGE), "PULL_MESSAGE");
    assert_string_equal(fm_proto_req_name(310), "SEND_MESSAGE_V2");
    assert_string_equal(fm_proto_req_name(-1), "UNKNOWN");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trip_both_serializations),
        cmocka_unit_test(test_frame_binary_header_known_bytes),
        cmocka_unit_test(test_frame_every_truncation_is_rejected),
        cmocka_unit_test(test_frame_length_limits),
        cmocka_unit_test(test_frame_bad_json_headers),
        cmocka_unit_test(test_frame_json_numbers_and_bools_become_text),
        cmocka_unit_test(test_frame_too_many_fields),
        cmocka_unit_test(test_msg_round_trip_and_layout),
        cmocka_unit_test(test_msg_ipv6_born_host),
        cmocka_unit_test(test_msg_truncations_and_corruption),
        cmocka_unit_test(test_msg_batch_iterate_and_reject),
        cmocka_unit_test(test_props_parse_build_and_reject),
        cmocka_unit_test(test_props_pick_finds_several_in_one_pass),
        cmocka_unit_test(test_props_next_matches_split_definition),
        cmocka_unit_test(test_msgid_offset_ids_and_uniq_keys),
        cmocka_unit_test(test_req_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
