#include "proto/msg.h"

#include "common/crc.h"

#include <string.h>

/* Records are bounded by the commit log segment; nothing legitimate comes near 1 GiB, so a
 * larger TOTALSIZE is corruption rather than a big message. */
#define MAX_RECORD (1u << 30)

int
fm_msg_decode(const uint8_t *p, size_t avail, fm_msg_view *out, fm_errbuf *eb)
{
    size_t pos, bh_len, sh_len, topic_len_size;
    uint32_t total, body_len, topic_len, props_len;

    if (avail < 8) {
        return FM_EAGAIN;
    }
    memset(out, 0, sizeof(*out));
    total = fm_be32(p);
    out->magic = fm_be32(p + FM_MSG_OFF_MAGIC);
    if (out->magic != FM_MSG_MAGIC_V1 && out->magic != FM_MSG_MAGIC_V2) {
        return fm_err_set(eb, FM_ECORRUPT, "bad magic 0x%08x", out->magic);
    }
    if (total < FM_MSG_MIN_SIZE || total > MAX_RECORD) {
        return fm_err_set(eb, FM_ECORRUPT, "record size %u out of range", total);
    }
    if (avail < total) {
        return FM_EAGAIN;
    }
    out->total_size = total;
    out->body_crc = fm_be32(p + FM_MSG_OFF_BODYCRC);
    out->queue_id = (int32_t)fm_be32(p + FM_MSG_OFF_QUEUEID);
    out->flag = (int32_t)fm_be32(p + FM_MSG_OFF_FLAG);
    out->queue_offset = (int64_t)fm_be64(p + FM_MSG_OFF_QUEUEOFFSET);
    out->phys_offset = (int64_t)fm_be64(p + FM_MSG_OFF_PHYSOFFSET);
    out->sysflag = (int32_t)fm_be32(p + FM_MSG_OFF_SYSFLAG);
    out->born_timestamp = (int64_t)fm_be64(p + FM_MSG_OFF_BORNTS);
    bh_len = (out->sysflag & FM_MSG_SYSFLAG_BORNHOST_V6) ? 20 : 8;
    sh_len = (out->sysflag & FM_MSG_SYSFLAG_STOREHOST_V6) ? 20 : 8;
    topic_len_size = out->magic == FM_MSG_MAGIC_V2 ? 2 : 1;
    /* Fixed part: through PREPAREDTXOFFSET, then the body length. */
    pos = FM_MSG_OFF_BORNHOST + bh_len + 8 + sh_len + 4 + 8 + 4;
    if (pos + topic_len_size + 2 > total) {
        return fm_err_set(eb, FM_ECORRUPT, "record of %u bytes too short for its hosts", total);
    }
    out->born_host = fm_slice_make(p + FM_MSG_OFF_BORNHOST, bh_len);
    out->store_timestamp = (int64_t)fm_be64(p + FM_MSG_OFF_BORNHOST + bh_len);
    out->store_host = fm_slice_make(p + FM_MSG_OFF_BORNHOST + bh_len + 8, sh_len);
    out->reconsume_times = (int32_t)fm_be32(p + FM_MSG_OFF_BORNHOST + bh_len + 8 + sh_len);
    out->prepared_tx_offset = (int64_t)fm_be64(p + FM_MSG_OFF_BORNHOST + bh_len + 8 + sh_len + 4);
    body_len = fm_be32(p + pos - 4);
    if (body_len > total - pos - topic_len_size - 2) {
        return fm_err_set(eb, FM_ECORRUPT, "body length %u exceeds record", body_len);
    }
    out->body = fm_slice_make(p + pos, body_len);
    pos += body_len;
    topic_len = topic_len_size == 2 ? fm_be16(p + pos) : p[pos];
    pos += topic_len_size;
    if (topic_len > total - pos - 2) {
        return fm_err_set(eb, FM_ECORRUPT, "topic length %u exceeds record", topic_len);
    }
    out->topic = fm_slice_make(p + pos, topic_len);
    pos += topic_len;
    props_len = fm_be16(p + pos);
    pos += 2;
    if (props_len != total - pos) {
        return fm_err_set(eb, FM_ECORRUPT, "properties length %u disagrees with record size",
                          props_len);
    }
    out->properties = fm_slice_make(p + pos, props_len);
    return FM_OK;
}

int
fm_msg_verify_crc(const fm_msg_view *m)
{
    return fm_crc32_body(m->body.ptr, m->body.len) == m->body_crc;
}

size_t
fm_msg_encoded_size(const fm_msg_view *m)
{
    return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + m->born_host.len + 8 + m->store_host.len + 4 + 8 +
           4 + m->body.len + 1 + m->topic.len + 2 + m->properties.len;
}

int
fm_msg_encode(fm_buf *out, const fm_msg_view *m, fm_errbuf *eb)
{
    size_t size = fm_msg_encoded_size(m);
    int32_t sysflag = m->sysflag & ~(FM_MSG_SYSFLAG_BORNHOST_V6 | FM_MSG_SYSFLAG_STOREHOST_V6);
    uint8_t *p;
    int rc;

    if ((m->born_host.len != 8 && m->born_host.len != 20) ||
        (m->store_host.len != 8 && m->store_host.len != 20)) {
        return fm_err_set(eb, FM_EINVAL, "hosts must be 8 or 20 bytes");
    }
    if (m->topic.len == 0 || m->topic.len > 127) {
        return fm_err_set(eb, FM_EINVAL, "topic length %zu not in 1..127", m->topic.len);
    }
    if (m->properties.len > 32767) {
        return fm_err_set(eb, FM_EINVAL, "properties of %zu bytes exceed 32767", m->properties.len);
    }
    if (size > MAX_RECORD) {
        return fm_err_set(eb, FM_EINVAL, "record of %zu bytes too large", size);
    }
    if (m->born_host.len == 20) {
        sysflag |= FM_MSG_SYSFLAG_BORNHOST_V6;
    }
    if (m->store_host.len == 20) {
        sysflag |= FM_MSG_SYSFLAG_STOREHOST_V6;
    }
    if ((rc = fm_buf_reserve(out, size)) != FM_OK) {
        return fm_err_set(eb, rc, "out of memory");
    }
    p = out->data + out->len;
    fm_put_be32(p, (uint32_t)size);
    fm_put_be32(p + 4, FM_MSG_MAGIC_V1);
    fm_put_be32(p + 8, fm_crc32_body(m->body.ptr, m->body.len));
    fm_put_be32(p + 12, (uint32_t)m->queue_id);
    fm_put_be32(p + 16, (uint32_t)m->flag);
    fm_put_be64(p + 20, (uint64_t)m->queue_offset);
    fm_put_be64(p + 28, (uint64_t)m->phys_offset);
    fm_put_be32(p + 36, (uint32_t)sysflag);
    fm_put_be64(p + 40, (uint64_t)m->born_timestamp);
    p += 48;
    memcpy(p, m->born_host.ptr, m->born_host.len);
    p += m->born_host.len;
    fm_put_be64(p, (uint64_t)m->store_timestamp);
    p += 8;
    memcpy(p, m->store_host.ptr, m->store_host.len);
    p += m->store_host.len;
    fm_put_be32(p, (uint32_t)m->reconsume_times);
    fm_put_be64(p + 4, (uint64_t)m->prepared_tx_offset);
    fm_put_be32(p + 12, (uint32_t)m->body.len);
    p += 16;
    if (m->body.len > 0) {
        memcpy(p, m->body.ptr, m->body.len);
    }
    p += m->body.len;
    *p++ = (uint8_t)m->topic.len;
    memcpy(p, m->topic.ptr, m->topic.len);
    p += m->topic.len;
    fm_put_be16(p, (uint16_t)m->properties.len);
    p += 2;
    if (m->properties.len > 0) {
        memcpy(p, m->properties.ptr, m->properties.len);
    }
    out->len += size;
    return FM_OK;
}

int
fm_msg_batch_next(fm_msg_batch_iter *it, fm_msg_batch_item *item, fm_errbuf *eb)
{
    const uint8_t *p = it->rest.ptr;
    size_t avail = it->rest.len;
    uint32_t total, body_len, props_len;
    if (avail == 0) {
        return FM_ENOTFOUND;
    }
    if (avail < 22) {
        return fm_err_set(eb, FM_EPROTO, "batch item truncated (%zu bytes left)", avail);
    }
    total = fm_be32(p);
    if (total < 22 || total > avail) {
        return fm_err_set(eb, FM_EPROTO, "batch item size %u invalid (%zu bytes left)", total,
                          avail);
    }
    item->flag = (int32_t)fm_be32(p + 12);
    body_len = fm_be32(p + 16);
    if (body_len > total - 22) {
        return fm_err_set(eb, FM_EPROTO, "batch item body length %u exceeds item", body_len);
    }
    item->body = fm_slice_make(p + 20, body_len);
    props_len = fm_be16(p + 20 + body_len);
    if (props_len != total - 22 - body_len) {
        return fm_err_set(eb, FM_EPROTO, "batch item properties length %u disagrees with size",
                          props_len);
    }
    item->properties = fm_slice_make(p + 22 + body_len, props_len);
    it->rest = fm_slice_make(p + total, avail - total);
    return FM_OK;
}

int
fm_msg_batch_append(fm_buf *out, int32_t flag, fm_slice body, fm_slice properties)
{
    size_t total = 22 + body.len + properties.len;
    int rc;
    if (properties.len > 32767 || total > MAX_RECORD) {
        return FM_EINVAL;
    }
    if ((rc = fm_buf_reserve(out, total)) != FM_OK) {
        return rc;
    }
    fm_buf_append_be32(out, (uint32_t)total);
    fm_buf_append_be32(out, 0);
    /* BODYCRC: 0, as Java's MessageDecoder.encodeMessage writes it; a broker computes the
     * stored record's CRC itself and reads nothing here */
    fm_buf_append_be32(out, 0);
    fm_buf_append_be32(out, (uint32_t)flag);
    fm_buf_append_be32(out, (uint32_t)body.len);
    fm_buf_append(out, body.ptr, body.len);
    fm_buf_append_be16(out, (uint16_t)properties.len);
    fm_buf_append(out, properties.ptr, properties.len);
    return FM_OK;
}
