/*
 * mime_envelope.c — the IMAP ENVELOPE of a message (RFC 3501 7.4.2).
 *
 * OFFERS
 *   mime_envelope()  (date subject from sender reply-to to cc bcc in-reply-to
 *                    message-id) from the header of a message part.
 *
 * PROMISES
 *   - The first field of each name is used. Date, Subject, In-Reply-To and
 *     Message-ID are unfolded and trimmed, otherwise as written (RFC 2047
 *     encoded words untouched); NIL when the field is absent.
 *   - Sender and Reply-To are the From list when absent or without an address
 *     (RFC 3501: "present but empty").
 *   - Address lists are parsed leniently per RFC 5322 3.4: display names
 *     (atoms, quoted strings, obsolete '.'), angle addresses, comments (the comment of
 *     "user@host (Name)" is the name when there is no display name), and
 *     groups: "name: a@b, c@d;" gives (NIL NIL "name" NIL) ... (NIL NIL NIL NIL),
 *     an unclosed group is closed at the end.
 *   - An obsolete route "<@a,@b:user@host>" is the adl "@a,@b" (as Dovecot).
 *   - Mailbox and host are split at the LAST '@' of the addr-spec, whose
 *     whitespace and comments are removed (quotes kept). An address without '@'
 *     has host "MISSING_DOMAIN" (as Dovecot sends): RFC 3501 reads a NIL host
 *     as the start of a group, so NIL would turn "From: MAILER-DAEMON" into a
 *     group for clients.
 *   - A list with no address is NIL. Strings that cannot be quoted are literals.
 *
 * DIAGNOSTICS
 *   None: anything unreadable is skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "mime/mime.h"
#include "mime/mime_internal.h"

/* The host sent for an address without '@' (see the header comment). */
#define MIME_MISSING_HOST "MISSING_DOMAIN"

enum { T_ATOM, T_QSTR, T_DLIT, T_SPECIAL, T_COMMENT };

typedef struct addr_tok {
    int type;
    size_t off, len;    /* raw bytes in the unfolded value */
    int space;          /* whitespace or a comment came before it */
} addr_tok;

typedef struct addr_lexer {
    const char *s;
    size_t n;
    addr_tok *t;
    size_t nt, cap;
} addr_lexer;

static int is_special(char c)
{
    return c == '<' || c == '>' || c == '@' || c == ',' || c == ';' || c == ':' || c == '.';
}

static void lex_push(addr_lexer *lx, int type, size_t off, size_t len, int space)
{
    if (lx->nt == lx->cap) {
        lx->cap = lx->cap ? lx->cap * 2 : 16;
        lx->t = xrealloc(lx->t, lx->cap * sizeof *lx->t);
    }
    lx->t[lx->nt++] = (addr_tok){ type, off, len, space };
}

static void lex(addr_lexer *lx)
{
    const char *s = lx->s;
    size_t n = lx->n, i = 0;
    int space = 0;
    while (i < n) {
        char c = s[i];
        size_t a = i;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = 1;
            i++;
            continue;
        }
        if (c == '(') {
            size_t depth = 0;
            while (i < n) {
                if (s[i] == '\\' && i + 1 < n) { i += 2; continue; }
                if (s[i] == '(') depth++;
                else if (s[i] == ')' && --depth == 0) { i++; break; }
                i++;
            }
            lex_push(lx, T_COMMENT, a, i - a, 1);
            space = 1;
            continue;
        }
        if (c == '"') {
            i++;
            while (i < n && s[i] != '"') i += (s[i] == '\\' && i + 1 < n) ? 2 : 1;
            if (i < n) i++;
            lex_push(lx, T_QSTR, a, i - a, space);
        } else if (c == '[') {
            while (i < n && s[i] != ']') i += (s[i] == '\\' && i + 1 < n) ? 2 : 1;
            if (i < n) i++;
            lex_push(lx, T_DLIT, a, i - a, space);
        } else if (is_special(c)) {
            lex_push(lx, T_SPECIAL, a, 1, space);
            i++;
        } else {
            while (i < n && !is_special(s[i]) && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
                   s[i] != '\n' && s[i] != '(' && s[i] != '"' && s[i] != '[')
                i++;
            lex_push(lx, T_ATOM, a, i - a, space);
        }
        space = 0;
    }
}

static int tok_is(const addr_lexer *lx, size_t k, char c)
{
    return lx->t[k].type == T_SPECIAL && lx->s[lx->t[k].off] == c;
}

/* Display name of tokens [a, b): words joined by one space where the header
 * had space, quoted strings unquoted, comments dropped. */
static void phrase_text(const addr_lexer *lx, size_t a, size_t b, buf *out)
{
    for (size_t k = a; k < b; k++) {
        const addr_tok *t = &lx->t[k];
        if (t->type == T_COMMENT) continue;
        if (out->len && t->space) buf_putc(out, ' ');
        if (t->type == T_QSTR) mime_read_quoted(lx->s, t->off + t->len, t->off, out);
        else buf_append(out, lx->s + t->off, t->len);
    }
}

/* The addr-spec of tokens [a, b): raw tokens without whitespace or comments. */
static void addr_spec_text(const addr_lexer *lx, size_t a, size_t b, buf *out)
{
    for (size_t k = a; k < b; k++)
        if (lx->t[k].type != T_COMMENT) buf_append(out, lx->s + lx->t[k].off, lx->t[k].len);
}

/* The text of the last comment in [a, b), into out (left empty when none). */
static void last_comment(const addr_lexer *lx, size_t a, size_t b, buf *out)
{
    for (size_t k = b; k-- > a;) {
        if (lx->t[k].type != T_COMMENT) continue;
        buf inner = BUF_INIT;
        mime_skip_cfws(lx->s, lx->t[k].off + lx->t[k].len, lx->t[k].off, &inner);
        buf tmp = BUF_INIT;
        mime_unfold(buf_cstr(&inner), inner.len, &tmp);
        buf_append(out, buf_cstr(&tmp), tmp.len);
        buf_free(&tmp);
        buf_free(&inner);
        return;
    }
}

/* One address: IMAP form "(name adl mailbox host)", or with `text` the search
 * form "name <mailbox@host>" (addresses separated by ", "). */
static void put_address(buf *out, const buf *name, const buf *route, const buf *spec, int text)
{
    const char *s = spec->p ? spec->p : "";
    size_t n = spec->len;
    if (text) {
        if (out->len) buf_puts(out, ", ");
        if (name && name->len) {
            buf_append(out, name->p, name->len);
            buf_puts(out, " <");
            buf_append(out, s, n);
            buf_putc(out, '>');
        } else {
            buf_append(out, s, n);
        }
        return;
    }
    buf_putc(out, '(');
    if (name && name->len) mime_put_string(out, name->p, name->len);
    else buf_puts(out, "NIL");
    buf_putc(out, ' ');
    if (route && route->len) mime_put_string(out, route->p, route->len);
    else buf_puts(out, "NIL");
    buf_putc(out, ' ');
    const char *at = NULL;
    for (size_t i = n; i-- > 0;)
        if (s[i] == '@') { at = s + i; break; }
    if (at) {
        mime_put_string(out, s, (size_t)(at - s));
        buf_putc(out, ' ');
        size_t hl = n - (size_t)(at - s) - 1;
        if (hl) mime_put_string(out, at + 1, hl);
        else mime_put_nstring(out, MIME_MISSING_HOST);
    } else {
        mime_put_string(out, s, n);
        buf_putc(out, ' ');
        mime_put_nstring(out, MIME_MISSING_HOST);
    }
    buf_putc(out, ')');
}

/* Parses the address list s[0..n) and appends its addresses (no parentheses
 * around the list; with `text`, the search form of put_address and no group
 * markers); returns how many address structures were written. */
static size_t address_list(const char *s, size_t n, buf *out, int text)
{
    addr_lexer lx = { s, n, NULL, 0, 0 };
    lex(&lx);
    size_t count = 0, i = 0;
    int in_group = 0;
    buf name = BUF_INIT, spec = BUF_INIT, route = BUF_INIT;
    while (i < lx.nt) {
        if (tok_is(&lx, i, ',') || lx.t[i].type == T_COMMENT) { i++; continue; }
        if (tok_is(&lx, i, ';')) {
            if (in_group) {
                if (!text) buf_puts(out, "(NIL NIL NIL NIL)");
                count++;
                in_group = 0;
            }
            i++;
            continue;
        }
        size_t j = i;
        while (j < lx.nt && !tok_is(&lx, j, '<') && !tok_is(&lx, j, ':') && !tok_is(&lx, j, ',') &&
               !tok_is(&lx, j, ';'))
            j++;
        buf_reset(&name);
        buf_reset(&spec);
        buf_reset(&route);
        if (j < lx.nt && tok_is(&lx, j, ':')) {
            if (!in_group) {
                phrase_text(&lx, i, j, &name);
                if (!text) {
                    buf_puts(out, "(NIL NIL ");
                    mime_put_string(out, buf_cstr(&name), name.len);
                    buf_puts(out, " NIL)");
                }
                count++;
                in_group = 1;
            }
            i = j + 1;                   /* a group inside a group is not one */
            continue;
        }
        if (j < lx.nt && tok_is(&lx, j, '<')) {
            phrase_text(&lx, i, j, &name);
            size_t k = j + 1;
            while (k < lx.nt && !tok_is(&lx, k, '>')) k++;
            if (k == lx.nt) {            /* no '>': the address ends at a separator */
                k = j + 1;
                while (k < lx.nt && !tok_is(&lx, k, ',') && !tok_is(&lx, k, ';')) k++;
            }
            size_t a = j + 1;
            /* obs-route "@a,@b:" before the addr-spec: the adl, as Dovecot sends it. */
            if (a < k && tok_is(&lx, a, '@')) {
                size_t c = a;
                while (c < k && !tok_is(&lx, c, ':')) c++;
                if (c < k) {
                    addr_spec_text(&lx, a, c, &route);
                    a = c + 1;
                }
            }
            addr_spec_text(&lx, a, k, &spec);
            size_t after = k < lx.nt && tok_is(&lx, k, '>') ? k + 1 : k;
            size_t e = after;
            while (e < lx.nt && !tok_is(&lx, e, ',') && !tok_is(&lx, e, ';')) e++;
            if (name.len == 0) last_comment(&lx, after, e, &name);
            if (name.len || spec.len) {
                put_address(out, &name, &route, &spec, text);
                count++;
            }
            i = e;
            continue;
        }
        /* A bare addr-spec (or words without '@'), up to ',' ';' or the end. */
        int has_at = 0;
        for (size_t k = i; k < j; k++) has_at |= tok_is(&lx, k, '@');
        if (has_at) addr_spec_text(&lx, i, j, &spec);
        else phrase_text(&lx, i, j, &spec);
        last_comment(&lx, i, j, &name);
        if (spec.len || name.len) {
            put_address(out, &name, NULL, &spec, text);
            count++;
        }
        i = j;
    }
    if (in_group) {
        if (!text) buf_puts(out, "(NIL NIL NIL NIL)");
        count++;
    }
    buf_free(&name);
    buf_free(&spec);
    buf_free(&route);
    free(lx.t);
    return count;
}

enum { E_DATE, E_SUBJECT, E_FROM, E_SENDER, E_REPLY_TO, E_TO, E_CC, E_BCC, E_IN_REPLY_TO,
       E_MESSAGE_ID, E_COUNT };
static const char *const envelope_fields[E_COUNT] = {
    "Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-ID",
};

/* Appends the list "(addr...)" or NIL; returns the number of addresses. */
static size_t put_address_field(const char *h, const size_t *voff, const size_t *vend, int k, buf *out)
{
    if (voff[k] == (size_t)-1) {
        buf_puts(out, "NIL");
        return 0;
    }
    buf u = BUF_INIT, list = BUF_INIT;
    mime_unfold(h + voff[k], vend[k] - voff[k], &u);
    size_t count = address_list(buf_cstr(&u), u.len, &list, 0);
    if (count) {
        buf_putc(out, '(');
        buf_append(out, list.p, list.len);
        buf_putc(out, ')');
    } else {
        buf_puts(out, "NIL");
    }
    buf_free(&u);
    buf_free(&list);
    return count;
}

void mime_address_text(const char *value, size_t len, buf *out)
{
    buf u = BUF_INIT;
    mime_unfold(value, len, &u);
    address_list(buf_cstr(&u), u.len, out, 1);
    buf_free(&u);
}

void mime_envelope(const char *msg, const mime_part *part, buf *out)
{
    size_t voff[E_COUNT], vend[E_COUNT];
    for (int k = 0; k < E_COUNT; k++) voff[k] = vend[k] = (size_t)-1;
    const char *h = msg ? msg + part->hdr_off : "";
    size_t hlen = msg ? part->hdr_len : 0;
    size_t pos = 0;
    mime_field f;
    while (mime_field_next(h, hlen, &pos, &f)) {
        for (int k = 0; k < E_COUNT; k++) {
            if (voff[k] != (size_t)-1 || !mime_field_is(h, &f, envelope_fields[k])) continue;
            voff[k] = f.value_off;
            vend[k] = f.end;
            break;
        }
    }

    buf u = BUF_INIT;
    buf_putc(out, '(');
    for (int k = 0; k < E_COUNT; k++) {
        if (k) buf_putc(out, ' ');
        if (k == E_FROM || k == E_TO || k == E_CC || k == E_BCC) {
            put_address_field(h, voff, vend, k, out);
        } else if (k == E_SENDER || k == E_REPLY_TO) {
            size_t mark = out->len;
            if (put_address_field(h, voff, vend, k, out) == 0) {
                buf_truncate(out, mark);
                put_address_field(h, voff, vend, E_FROM, out);
            }
        } else if (voff[k] == (size_t)-1) {
            buf_puts(out, "NIL");
        } else {
            buf_reset(&u);
            mime_unfold(h + voff[k], vend[k] - voff[k], &u);
            mime_put_string(out, buf_cstr(&u), u.len);
        }
    }
    buf_putc(out, ')');
    buf_free(&u);
}
