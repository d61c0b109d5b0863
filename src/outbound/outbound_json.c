/*
 * outbound_json.c — the JSON document a webhook receives (see outbound.h), and
 * the small decoders it needs: base64 and quoted-printable bodies (RFC 2045
 * 6.7, 6.8), RFC 2047 encoded words in headers, ISO-8859-1 to UTF-8.
 *
 * The document:
 *   {"envelope":{"from":S,"to":S},
 *    "headers":{"from":S|null,"to":..,"cc":..,"subject":..,"date":..,"message_id":..},
 *    "text":S|null, "html":S|null, "truncated":bool,
 *    "attachments":[{"filename":S|null,"content_type":S,"size":N},...],
 *    "raw_size":N}
 *
 * "text" and "html" are the first text/plain and text/html parts that are not
 * attachments, transfer-decoded; charsets UTF-8 and US-ASCII pass as they are,
 * ISO-8859-1 (and its alias latin1) is converted; anything else passes as
 * bytes, and whatever is not valid UTF-8 becomes U+FFFD, so the document is
 * always valid JSON in UTF-8. Parts longer than WEBHOOK_TEXT_MAX are cut and
 * "truncated" says so. Header values are unfolded and encoded words in
 * UTF-8/US-ASCII/ISO-8859-1 decoded ("where simple"); others are left as they
 * are. "size" of an attachment is its decoded size.
 *
 * Nothing here fails: hostile input yields a (possibly less useful) document.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/utf8.h"
#include "mime/mime.h"
#include "outbound/outbound.h"

void outbound_json_string(buf *out, const char *s, size_t n)
{
    buf_putc(out, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': buf_puts(out, "\\\""); break;
            case '\\': buf_puts(out, "\\\\"); break;
            case '\n': buf_puts(out, "\\n"); break;
            case '\r': buf_puts(out, "\\r"); break;
            case '\t': buf_puts(out, "\\t"); break;
            default:
                if (c < 0x20 || c == 0x7f) buf_printf(out, "\\u%04x", c);
                else buf_putc(out, (char)c);
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k == 0) {
            buf_puts(out, "\xef\xbf\xbd");       /* U+FFFD for a byte that is not UTF-8 */
            i++;
        } else {
            buf_append(out, s + i, k);
            i += k;
        }
    }
    buf_putc(out, '"');
}

static const char *oj_param(const mime_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].name && !strcasecmp(p[i].name, name)) return p[i].value;
    return NULL;
}

typedef struct oj_walk {
    const char *msg;
    buf text, html, atts;
    int have_text, have_html, truncated;
    size_t natts;
} oj_walk;

static void oj_body_text(oj_walk *w, const mime_part *p, buf *dst)
{
    buf raw = BUF_INIT;
    mime_decode_part(w->msg, p, &raw);
    size_t n = raw.len;
    if (n > WEBHOOK_TEXT_MAX) {
        n = WEBHOOK_TEXT_MAX;
        w->truncated = 1;
    }
    mime_charset_to_utf8(oj_param(p->params, p->nparams, "charset"), raw.p ? raw.p : "", n, dst);
    buf_free(&raw);
}

static void oj_visit(oj_walk *w, const mime_part *p, int depth)
{
    if (depth > MIME_DEPTH_MAX) return;
    int multipart = p->type && !strcasecmp(p->type, "multipart");
    if (multipart) {
        for (size_t i = 0; i < p->nchildren; i++) oj_visit(w, p->children[i], depth + 1);
        return;
    }
    int attachment = p->disposition && !strcasecmp(p->disposition, "attachment");
    int text = p->type && !strcasecmp(p->type, "text");
    if (text && !attachment && p->subtype && !strcasecmp(p->subtype, "plain") && !w->have_text) {
        w->have_text = 1;
        oj_body_text(w, p, &w->text);
        return;
    }
    if (text && !attachment && p->subtype && !strcasecmp(p->subtype, "html") && !w->have_html) {
        w->have_html = 1;
        oj_body_text(w, p, &w->html);
        return;
    }
    const char *fname = oj_param(p->disp_params, p->ndisp_params, "filename");
    if (!fname) fname = oj_param(p->params, p->nparams, "name");
    /* An inline text part after the first of its kind is body, not attachment. */
    if (text && !attachment && !fname) return;
    if (w->natts >= WEBHOOK_ATTACHMENTS_MAX) return;
    buf dec = BUF_INIT;
    mime_decode_part(w->msg, p, &dec);
    if (w->natts++) buf_putc(&w->atts, ',');
    buf_puts(&w->atts, "{\"filename\":");
    if (fname) {
        buf fn = BUF_INIT;
        mime_decode_header(fname, strlen(fname), &fn);
        outbound_json_string(&w->atts, fn.p ? fn.p : "", fn.len);
        buf_free(&fn);
    } else {
        buf_puts(&w->atts, "null");
    }
    buf ct = BUF_INIT;
    buf_printf(&ct, "%s/%s", p->type ? p->type : "application", p->subtype ? p->subtype : "octet-stream");
    buf_puts(&w->atts, ",\"content_type\":");
    outbound_json_string(&w->atts, ct.p, ct.len);
    buf_printf(&w->atts, ",\"size\":%zu}", dec.len);
    buf_free(&ct);
    buf_free(&dec);
}

static void oj_header(buf *out, const char *msg, const mime_part *root, const char *name, const char *key)
{
    buf v = BUF_INIT;
    buf_printf(out, "\"%s\":", key);
    if (mime_header_get(msg + root->hdr_off, root->hdr_len, name, &v) == 0) {
        buf dec = BUF_INIT;
        /* Leading/trailing blanks of the unfolded value are not part of it. */
        const char *s = v.p ? v.p : "";
        size_t n = v.len;
        while (n && (*s == ' ' || *s == '\t')) { s++; n--; }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
        mime_decode_header(s, n, &dec);
        outbound_json_string(out, dec.p ? dec.p : "", dec.len);
        buf_free(&dec);
    } else {
        buf_puts(out, "null");
    }
    buf_free(&v);
}

void outbound_webhook_json(const char *sender, const char *rcpt, const char *msg, size_t len, buf *out)
{
    mime_part *root = mime_parse(msg, len);
    oj_walk w = { .msg = msg, .text = BUF_INIT, .html = BUF_INIT, .atts = BUF_INIT };
    oj_visit(&w, root, 0);

    buf_puts(out, "{\"envelope\":{\"from\":");
    outbound_json_string(out, sender ? sender : "", sender ? strlen(sender) : 0);
    buf_puts(out, ",\"to\":");
    outbound_json_string(out, rcpt ? rcpt : "", rcpt ? strlen(rcpt) : 0);
    buf_puts(out, "},\"headers\":{");
    static const char *const names[][2] = {
        { "From", "from" }, { "To", "to" }, { "Cc", "cc" }, { "Subject", "subject" },
        { "Date", "date" }, { "Message-ID", "message_id" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (i) buf_putc(out, ',');
        oj_header(out, msg, root, names[i][0], names[i][1]);
    }
    buf_puts(out, "},\"text\":");
    if (w.have_text) outbound_json_string(out, w.text.p ? w.text.p : "", w.text.len);
    else buf_puts(out, "null");
    buf_puts(out, ",\"html\":");
    if (w.have_html) outbound_json_string(out, w.html.p ? w.html.p : "", w.html.len);
    else buf_puts(out, "null");
    buf_printf(out, ",\"truncated\":%s,\"attachments\":[", w.truncated ? "true" : "false");
    if (w.atts.len) buf_append(out, w.atts.p, w.atts.len);
    buf_printf(out, "],\"raw_size\":%zu}", len);
    buf_free(&w.text);
    buf_free(&w.html);
    buf_free(&w.atts);
    mime_free(root);
}
