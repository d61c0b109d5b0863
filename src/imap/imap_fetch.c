/*
 * imap_fetch.c — one message's FETCH response (RFC 3501 6.4.5, 7.4.2).
 *
 * SUMMARY
 *   imap_fetch_needs       what store_fetch must load for a list of items
 *   imap_fetch_sets_seen   whether the items set \Seen
 *   imap_fetch_body_data   the bytes of BODY[section]<partial> / RFC822*
 *   imap_fetch_write       "* n FETCH (...)" for one message, written out
 *
 * PROMISES
 *   - MIME structure is never parsed here: BODY[n...] is found in the section
 *     table made at ingest (mime_section_find); ENVELOPE, BODY and BODYSTRUCTURE
 *     are the strings stored with the message.
 *   - HEADER and TEXT split the message exactly where the stored section table
 *     says, so BODY[HEADER] followed by BODY[TEXT] is BODY[] byte for byte.
 *   - A section that does not exist is NIL (as Dovecot and Gmail answer); HEADER,
 *     TEXT and HEADER.FIELDS of a part that is not message/rfc822 do not exist.
 *   - A partial <o.n> past the end is "" (RFC 3501 6.4.5); the reply names only
 *     the origin ("BODY[]<0>"), as the parser builds the name.
 *   - Body data goes out as a literal; a large one is written straight from the
 *     message buffer, not copied into the reply buffer.
 */
#include <string.h>

#include "util/buf.h"
#include "net/conn.h"
#include "store/store.h"
#include "mime/mime.h"
#include "imap/imap_parse.h"
#include "imap/imap_session.h"

unsigned imap_fetch_needs(const imap_fetch_att *atts, size_t natts)
{
    unsigned what = 0;
    for (size_t i = 0; i < natts; i++) {
        const imap_fetch_att *a = &atts[i];
        switch (a->kind) {
        case IMAP_FETCH_ENVELOPE:      what |= STORE_FETCH_ENVELOPE; break;
        case IMAP_FETCH_BODY:          what |= STORE_FETCH_BODY; break;
        case IMAP_FETCH_BODYSTRUCTURE: what |= STORE_FETCH_BODYSTRUCTURE; break;
        case IMAP_FETCH_RFC822:        what |= STORE_FETCH_RAW; break;
        case IMAP_FETCH_RFC822_HEADER:
        case IMAP_FETCH_RFC822_TEXT:   what |= STORE_FETCH_RAW | STORE_FETCH_SECTIONS; break;
        case IMAP_FETCH_SECTION:
            what |= STORE_FETCH_RAW;
            if ((a->part && a->part[0]) || a->spec != IMAP_SECTION_ALL) what |= STORE_FETCH_SECTIONS;
            break;
        default:
            break;
        }
    }
    return what;
}

int imap_fetch_sets_seen(const imap_fetch_att *atts, size_t natts)
{
    for (size_t i = 0; i < natts; i++) {
        imap_fetch_kind k = atts[i].kind;
        if (k == IMAP_FETCH_RFC822 || k == IMAP_FETCH_RFC822_TEXT) return 1;
        if (k == IMAP_FETCH_SECTION && !atts[i].peek) return 1;
    }
    return 0;
}

/* The top-level header/text split when the table is missing or damaged: the
 * header ends with the first empty line. */
static void fetch_split_raw(const store_msg *msg, mime_section *sec)
{
    const char *raw = msg->raw;
    size_t len = msg->raw_len, hdr = len;
    memset(sec, 0, sizeof *sec);
    if (len >= 2 && raw[0] == '\r' && raw[1] == '\n') {
        hdr = 2;
    } else {
        for (size_t i = 0; i + 3 < len; i++)
            if (raw[i] == '\r' && raw[i + 1] == '\n' && raw[i + 2] == '\r' && raw[i + 3] == '\n') {
                hdr = i + 4;
                break;
            }
    }
    sec->hdr_len = hdr;
    sec->body_off = hdr;
    sec->body_len = len - hdr;
}

/* 1 when [off, off+len) lies within the message. */
static int fetch_in_bounds(const store_msg *msg, size_t off, size_t len)
{
    return off <= msg->raw_len && len <= msg->raw_len - off;
}

int imap_fetch_body_data(const store_msg *msg, const imap_fetch_att *att, buf *tmp,
                         const char **data, size_t *len)
{
    const char *raw = msg->raw ? msg->raw : "";
    const char *part = att->part ? att->part : "";
    const char *p = NULL;
    size_t n = 0;

    if (part[0] == '\0' && att->spec == IMAP_SECTION_ALL) {
        p = raw;
        n = msg->raw_len;
    } else {
        mime_section sec;
        memset(&sec, 0, sizeof sec);
        if (!msg->sections || mime_section_find(msg->sections, msg->sections_len, part, &sec) != 0) {
            if (part[0] != '\0') return 0;
            fetch_split_raw(msg, &sec);
        }
        /* HEADER/TEXT of "" are the message's own; of "n" they need a message/rfc822. */
        size_t hoff = sec.hdr_off, hlen = sec.hdr_len, boff = sec.body_off, blen = sec.body_len;
        if (part[0] != '\0' && att->spec != IMAP_SECTION_ALL && att->spec != IMAP_SECTION_MIME) {
            if (!sec.is_message) return 0;
            hoff = sec.msg_hdr_off;
            hlen = sec.msg_hdr_len;
            boff = sec.msg_body_off;
            blen = sec.msg_body_len;
        }
        if (!fetch_in_bounds(msg, hoff, hlen) || !fetch_in_bounds(msg, boff, blen)) return 0;
        switch (att->spec) {
        case IMAP_SECTION_ALL:
            p = raw + sec.body_off;
            n = sec.body_len;
            break;
        case IMAP_SECTION_MIME:
            p = raw + sec.hdr_off;
            n = sec.hdr_len;
            break;
        case IMAP_SECTION_HEADER:
            p = raw + hoff;
            n = hlen;
            break;
        case IMAP_SECTION_TEXT:
            p = raw + boff;
            n = blen;
            break;
        case IMAP_SECTION_HEADER_FIELDS:
        case IMAP_SECTION_HEADER_FIELDS_NOT:
            buf_reset(tmp);
            mime_header_fields(raw + hoff, hlen, (const char *const *)att->fields, att->nfields,
                               att->spec == IMAP_SECTION_HEADER_FIELDS_NOT, tmp);
            p = tmp->p ? tmp->p : "";
            n = tmp->len;
            break;
        }
    }
    if (att->partial) {
        if (att->partial_off >= n) {
            n = 0;
        } else {
            p += att->partial_off;
            n -= att->partial_off;
            if (n > att->partial_len) n = att->partial_len;
        }
    }
    *data = p;
    *len = n;
    return 1;
}

static const char *fetch_att_name(const imap_fetch_att *a)
{
    if (a->name) return a->name;
    switch (a->kind) {
    case IMAP_FETCH_RFC822: return "RFC822";
    case IMAP_FETCH_RFC822_HEADER: return "RFC822.HEADER";
    case IMAP_FETCH_RFC822_TEXT: return "RFC822.TEXT";
    default: return "BODY[]";
    }
}

/* A literal: copied into the reply when small, else written straight out. */
static int fetch_write_literal(imap_session *s, const char *data, size_t len)
{
    buf_printf(&s->out, "{%zu}\r\n", len);
    if (len < IMAP_OUT_FLUSH) {
        buf_append(&s->out, data, len);
        return 0;
    }
    imap_flush(s);
    if (!s->out_failed && conn_write(s->c, data, len) != 0) s->out_failed = 1;
    return s->out_failed ? -1 : 0;
}

int imap_fetch_write(imap_session *s, uint32_t seq, const store_msg *msg,
                     const imap_fetch_att *atts, size_t natts, int with_uid, int add_flags)
{
    buf *o = &s->out;
    buf tmp = BUF_INIT;
    int rc = 0, has_uid = 0, has_flags = 0;
    for (size_t i = 0; i < natts; i++) {
        if (atts[i].kind == IMAP_FETCH_UID) has_uid = 1;
        if (atts[i].kind == IMAP_FETCH_FLAGS) has_flags = 1;
    }
    int recent = imap_view_is_recent(&s->view, msg->uid);
    const char *sep = "";
    buf_printf(o, "* %u FETCH (", seq);
    if (with_uid && !has_uid) {
        buf_printf(o, "UID %u", msg->uid);
        sep = " ";
    }
    for (size_t i = 0; i < natts && rc == 0; i++) {
        const imap_fetch_att *a = &atts[i];
        buf_puts(o, sep);
        sep = " ";
        switch (a->kind) {
        case IMAP_FETCH_FLAGS:
            buf_puts(o, "FLAGS ");
            imap_write_flags(o, msg->flags, msg->keywords, recent, &s->kw);
            break;
        case IMAP_FETCH_INTERNALDATE:
            buf_puts(o, "INTERNALDATE ");
            imap_format_datetime(o, msg->internaldate, msg->internaldate_tz);
            break;
        case IMAP_FETCH_RFC822_SIZE:
            buf_printf(o, "RFC822.SIZE %llu", (unsigned long long)msg->size);
            break;
        case IMAP_FETCH_ENVELOPE:
            buf_puts(o, "ENVELOPE ");
            buf_puts(o, msg->envelope ? msg->envelope : "NIL");
            break;
        case IMAP_FETCH_BODY:
            buf_puts(o, "BODY ");
            buf_puts(o, msg->body ? msg->body : "NIL");
            break;
        case IMAP_FETCH_BODYSTRUCTURE:
            buf_puts(o, "BODYSTRUCTURE ");
            buf_puts(o, msg->bodystructure ? msg->bodystructure : "NIL");
            break;
        case IMAP_FETCH_UID:
            buf_printf(o, "UID %u", msg->uid);
            break;
        case IMAP_FETCH_RFC822:
        case IMAP_FETCH_RFC822_HEADER:
        case IMAP_FETCH_RFC822_TEXT:
        case IMAP_FETCH_SECTION: {
            const char *data = NULL;
            size_t len = 0;
            buf_puts(o, fetch_att_name(a));
            buf_putc(o, ' ');
            if (!imap_fetch_body_data(msg, a, &tmp, &data, &len)) buf_puts(o, "NIL");
            else if (len == 0) buf_puts(o, "\"\"");
            else rc = fetch_write_literal(s, data, len);
            break;
        }
        }
    }
    if (rc == 0 && add_flags && !has_flags) {
        buf_puts(o, sep);
        buf_puts(o, "FLAGS ");
        imap_write_flags(o, msg->flags, msg->keywords, recent, &s->kw);
    }
    buf_puts(o, ")\r\n");
    buf_free(&tmp);
    /* Written out in pieces, not per message: a flush hands the bytes to the
     * network loop (a wake-up, a writev), which cost more than the fetch
     * itself for small items (~100 us each, FETCH 1:* of headers). */
    if (o->len >= IMAP_OUT_FLUSH) imap_flush(s);
    return rc == 0 && !s->out_failed ? 0 : -1;
}
