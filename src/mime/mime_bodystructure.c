/*
 * mime_bodystructure.c — IMAP BODY and BODYSTRUCTURE (RFC 3501 7.4.2).
 *
 * OFFERS
 *   mime_bodystructure()  the parenthesised structure of a part and its
 *                         children; extended = 1 adds the extension data.
 *
 * PROMISES
 *   - Single part: type subtype params id description encoding size, then
 *     lines for TEXT, then envelope, body and lines for MESSAGE/RFC822; the
 *     extension data is md5 disposition language location.
 *   - Multipart: the children back to back, then the subtype; the extension
 *     data is params disposition language location.
 *   - Type, subtype, encoding, disposition and parameter names are uppercased;
 *     values as given. A missing encoding is "7BIT". Language is a string for
 *     one tag and a list for several. A multipart with no part at all (no
 *     delimiter line found) shows one empty text/plain part, as Dovecot does,
 *     because the grammar needs at least one body.
 *
 * DIAGNOSTICS
 *   None. Recursion follows the tree, whose depth mime_parse() bounds.
 */
#include <string.h>

#include "util/buf.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

static void put_params(buf *out, const mime_param *ps, size_t n)
{
    if (!n) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(out, ' ');
        mime_put_upper(out, ps[i].name);
        buf_putc(out, ' ');
        mime_put_nstring(out, ps[i].value);
    }
    buf_putc(out, ')');
}

static void put_disposition(buf *out, const mime_part *p)
{
    if (!p->disposition) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    mime_put_upper(out, p->disposition);
    buf_putc(out, ' ');
    put_params(out, p->disp_params, p->ndisp_params);
    buf_putc(out, ')');
}

/* The language field is stored as "tag,tag". */
static void put_language(buf *out, const char *lang)
{
    if (!lang) {
        buf_puts(out, "NIL");
        return;
    }
    const char *comma = strchr(lang, ',');
    if (!comma) {
        mime_put_string(out, lang, strlen(lang));
        return;
    }
    buf_putc(out, '(');
    const char *s = lang;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (s != lang) buf_putc(out, ' ');
        mime_put_string(out, s, n);
        if (!e) break;
        s = e + 1;
    }
    buf_putc(out, ')');
}

static void put_ext_tail(buf *out, const mime_part *p)
{
    buf_putc(out, ' ');
    put_disposition(out, p);
    buf_putc(out, ' ');
    put_language(out, p->language);
    buf_putc(out, ' ');
    mime_put_nstring(out, p->location);
}

static void put_empty_text(buf *out, int extended)
{
    buf_puts(out, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0");
    if (extended) buf_puts(out, " NIL NIL NIL NIL");
    buf_putc(out, ')');
}

void mime_bodystructure(const char *msg, const mime_part *p, int extended, buf *out)
{
    if (strcmp(p->type, "multipart") == 0) {
        buf_putc(out, '(');
        for (size_t i = 0; i < p->nchildren; i++) mime_bodystructure(msg, p->children[i], extended, out);
        if (p->nchildren == 0) put_empty_text(out, extended);
        buf_putc(out, ' ');
        mime_put_upper(out, p->subtype);
        if (extended) {
            buf_putc(out, ' ');
            put_params(out, p->params, p->nparams);
            put_ext_tail(out, p);
        }
        buf_putc(out, ')');
        return;
    }
    buf_putc(out, '(');
    mime_put_upper(out, p->type);
    buf_putc(out, ' ');
    mime_put_upper(out, p->subtype);
    buf_putc(out, ' ');
    put_params(out, p->params, p->nparams);
    buf_putc(out, ' ');
    mime_put_nstring(out, p->id);
    buf_putc(out, ' ');
    mime_put_nstring(out, p->description);
    buf_putc(out, ' ');
    mime_put_upper(out, p->encoding ? p->encoding : "7bit");
    buf_printf(out, " %zu", p->body_len);
    if (p->message) {
        buf_putc(out, ' ');
        mime_envelope(msg, p->message, out);
        buf_putc(out, ' ');
        mime_bodystructure(msg, p->message, extended, out);
        buf_printf(out, " %zu", p->body_lines);
    } else if (strcmp(p->type, "text") == 0) {
        buf_printf(out, " %zu", p->body_lines);
    }
    if (extended) {
        buf_putc(out, ' ');
        mime_put_nstring(out, p->md5);
        put_ext_tail(out, p);
    }
    buf_putc(out, ')');
}
