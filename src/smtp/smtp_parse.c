/*
 * smtp_parse.c — the SMTP command grammar (see smtp_parse.h).
 *
 * The ABNF followed is RFC 5321 4.1.2 with RFC 6531 3.3's UTF-8 additions:
 *
 *   Path        = "<" [ A-d-l ":" ] Mailbox ">"          A-d-l: parsed, ignored
 *   Mailbox     = Local-part "@" ( Domain / address-literal )
 *   Local-part  = Dot-string / Quoted-string
 *   atext       =/ UTF8-non-ascii       qtextSMTP =/ UTF8-non-ascii
 *   sub-domain  = Let-dig [Ldh-str] / U-label
 *   esmtp-param = esmtp-keyword ["=" esmtp-value]
 *
 * Two leniencies, both common in the wild and harmless: spaces after the colon
 * of "FROM:"/"TO:", and more than one space between parameters.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/limits.h"
#include "util/utf8.h"
#include "smtp/smtp_parse.h"

/* Replies (no CRLF). */
#define R_MAIL_SYNTAX   "501 5.5.2 Syntax: MAIL FROM:<address>"
#define R_RCPT_SYNTAX   "501 5.5.2 Syntax: RCPT TO:<address>"
#define R_BAD_SENDER    "501 5.1.7 Bad sender address syntax"
#define R_BAD_RCPT      "501 5.1.3 Bad recipient address syntax"
#define R_LONG_SENDER   "501 5.1.7 Path too long"
#define R_LONG_RCPT     "501 5.1.3 Path too long"
#define R_NULL_RCPT     "501 5.1.3 Null recipient not allowed"
#define R_PARAM_SYNTAX  "501 5.5.4 Syntax error in parameters"
#define R_PARAM_UNKNOWN "555 5.5.4 Unsupported parameter"
#define R_PARAM_DUP     "501 5.5.4 Duplicate parameter"
#define R_BAD_SIZE      "501 5.5.4 Bad SIZE value"
#define R_BAD_BODY      "501 5.5.4 Bad BODY value"
#define R_BAD_UTF8PARAM "501 5.5.4 SMTPUTF8 takes no value"
#define R_BAD_RET       "501 5.5.4 Bad RET value"
#define R_BAD_ENVID     "501 5.5.4 Bad ENVID value"
#define R_BAD_NOTIFY    "501 5.5.4 Bad NOTIFY value"
#define R_BAD_ORCPT     "501 5.5.4 Bad ORCPT value"
#define R_BDAT_SYNTAX   "501 5.5.4 Syntax: BDAT chunk-size [LAST]"

/* RFC 3461 4.4 / 4.2: ENVID at most 100 characters; ORCPT at most 500. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

/* --- Verbs --------------------------------------------------------------------- */

static const struct { const char *name; smtp_verb verb; } smtp_verbs[] = {
    { "HELO", SMTP_VERB_HELO }, { "EHLO", SMTP_VERB_EHLO }, { "MAIL", SMTP_VERB_MAIL },
    { "RCPT", SMTP_VERB_RCPT }, { "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
    { "RSET", SMTP_VERB_RSET }, { "NOOP", SMTP_VERB_NOOP }, { "QUIT", SMTP_VERB_QUIT },
    { "VRFY", SMTP_VERB_VRFY }, { "EXPN", SMTP_VERB_EXPN }, { "HELP", SMTP_VERB_HELP },
    { "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
};

smtp_verb smtp_parse_verb(const char *line, const char **args)
{
    size_t n = 0;
    while ((line[n] >= 'A' && line[n] <= 'Z') || (line[n] >= 'a' && line[n] <= 'z')) n++;
    const char *rest = line + n;
    if (*rest != '\0' && *rest != ' ') {
        *args = "";
        return SMTP_VERB_UNKNOWN;
    }
    while (*rest == ' ') rest++;
    *args = rest;
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (strlen(smtp_verbs[i].name) == n && strncasecmp(line, smtp_verbs[i].name, n) == 0)
            return smtp_verbs[i].verb;
    return SMTP_VERB_UNKNOWN;
}

const char *smtp_verb_name(smtp_verb v)
{
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (smtp_verbs[i].verb == v) return smtp_verbs[i].name;
    return "?";
}

/* --- Characters ---------------------------------------------------------------- */

int smtp_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

static int smtp_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext plus RFC 6531's UTF8-non-ascii (checked as UTF-8 later). */
static int smtp_is_atext(unsigned char c)
{
    return smtp_is_alnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126, plus UTF-8. */
static int smtp_is_qtext(unsigned char c)
{
    return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80;
}

/* esmtp-value: %d33-60 / %d62-126, plus UTF-8 (RFC 6531 3.3). */
static int smtp_is_valuechar(unsigned char c)
{
    return (c >= 33 && c <= 126 && c != '=') || c >= 0x80;
}

/* --- Domains and address literals ------------------------------------------------ */

/* Length of a Domain at s (sub-domains of Let-dig [Ldh-str], or U-labels:
 * octets >= 0x80 count as letters), 0 when there is none. */
static size_t smtp_scan_domain(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (smtp_is_alnum(s[i]) || s[i] == '-' || s[i] >= 0x80) i++;
        if (i == start || s[start] == '-' || s[i - 1] == '-') return 0;
        if (i - start > 63) return 0;                  /* RFC 1035 2.3.4 */
        if (s[i] != '.') break;
        i++;
    }
    return i;
}

/* An address literal's content (between the brackets). */
static int smtp_literal_valid(const char *s, size_t n)
{
    char tmp[64];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (strncasecmp(tmp, "IPv6:", 5) == 0) return inet_pton(AF_INET6, tmp + 5, addr) == 1;
    if (inet_pton(AF_INET, tmp, addr) == 1) return 1;
    /* General-address-literal = Standardized-tag ":" 1*dcontent */
    const char *colon = strchr(tmp, ':');
    if (!colon || colon == tmp || colon[1] == '\0') return 0;
    for (const char *p = tmp; p < colon; p++)
        if (!smtp_is_alnum((unsigned char)*p) && *p != '-') return 0;
    for (const char *p = colon + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') return 0;
    }
    return 1;
}

/* Length of "[...]" at s when it is a valid address literal, else 0. */
static size_t smtp_scan_literal(const char *s)
{
    if (*s != '[') return 0;
    const char *end = strchr(s, ']');
    if (!end || !smtp_literal_valid(s + 1, (size_t)(end - s - 1))) return 0;
    return (size_t)(end - s) + 1;
}

int smtp_helo_name_valid(const char *name)
{
    size_t n = name[0] == '[' ? smtp_scan_literal(name) : smtp_scan_domain(name);
    return n > 0 && name[n] == '\0' && n <= SMTP_DOMAIN_MAX && smtp_utf8_valid(name, n);
}

/* --- Paths ------------------------------------------------------------------------ */

typedef struct path_ctx {
    const char *bad;        /* reply for bad syntax */
    const char *toolong;
    int allow_null, allow_postmaster;
} path_ctx;

/* Appends n octets to the mailbox being built; -1 when it would not fit. */
static int path_put(smtp_path *path, size_t *len, const char *s, size_t n)
{
    if (*len + n > SMTP_MAILBOX_MAX) return -1;
    memcpy(path->mailbox + *len, s, n);
    *len += n;
    path->mailbox[*len] = '\0';
    return 0;
}

/* 1 when s[0..n) is a dot-atom (atext runs joined by single dots). */
static int path_is_dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.') return 0;
        } else if (!smtp_is_atext(c)) {
            return 0;
        }
    }
    return 1;
}

/* Parses "<...>" at *pp; on success *pp points after the '>'. */
static int path_parse(const char **pp, const path_ctx *cx, smtp_path *path, const char **reply)
{
    const char *p = *pp;
    size_t len = 0;
    memset(path, 0, sizeof *path);
    *reply = cx->bad;
    if (*p != '<') return -1;
    p++;
    if (*p == '>') {
        if (!cx->allow_null) { *reply = R_NULL_RCPT; return -1; }
        path->is_null = 1;
        *pp = p + 1;
        return 0;
    }
    /* A-d-l ":" — a source route, ignored (RFC 5321 3.6.1, C.). */
    if (*p == '@') {
        for (;;) {
            if (*p != '@') return -1;
            p++;
            size_t n = *p == '[' ? smtp_scan_literal(p) : smtp_scan_domain(p);
            if (n == 0) return -1;
            p += n;
            if (*p == ',') { p++; continue; }
            if (*p == ':') { p++; break; }
            return -1;
        }
    }
    /* Local part. */
    char local[SMTP_MAILBOX_MAX + 1];
    size_t llen = 0;
    int was_quoted = 0;
    if (*p == '"') {
        was_quoted = 1;
        p++;
        for (;;) {
            unsigned char c = (unsigned char)*p;
            if (c == '"') { p++; break; }
            if (c == '\\') {
                unsigned char q = (unsigned char)p[1];
                if (q < 32 || q > 126) return -1;     /* quoted-pairSMTP: %d92 %d32-126 */
                c = q;
                p += 2;
            } else if (smtp_is_qtext(c)) {
                p++;
            } else {
                return -1;
            }
            if (llen >= SMTP_LOCAL_MAX * 2) { *reply = cx->toolong; return -1; }
            local[llen++] = (char)c;
        }
    } else {
        while (smtp_is_atext((unsigned char)*p) || *p == '.') {
            if (llen >= SMTP_LOCAL_MAX * 2) { *reply = cx->toolong; return -1; }
            local[llen++] = *p++;
        }
        if (!path_is_dot_atom(local, llen)) return -1;
    }
    local[llen] = '\0';
    if (!smtp_utf8_valid(local, llen)) return -1;

    /* <Postmaster> without a domain (RFC 5321 4.1.1.3, 4.5.1). */
    if (*p == '>' && !was_quoted && cx->allow_postmaster && strcasecmp(local, "postmaster") == 0) {
        path_put(path, &len, local, llen);
        path->is_postmaster = 1;
        *pp = p + 1;
        return 0;
    }
    if (*p != '@') return -1;
    p++;

    /* The local part in lookup form: quotes only when it is not a dot-atom. */
    if (was_quoted && !path_is_dot_atom(local, llen)) {
        path->quoted = 1;
        if (path_put(path, &len, "\"", 1) < 0) goto toolong;
        for (size_t i = 0; i < llen; i++) {
            if ((local[i] == '"' || local[i] == '\\') && path_put(path, &len, "\\", 1) < 0) goto toolong;
            if (path_put(path, &len, local + i, 1) < 0) goto toolong;
        }
        if (path_put(path, &len, "\"", 1) < 0) goto toolong;
    } else if (path_put(path, &len, local, llen) < 0) {
        goto toolong;
    }
    if (len > SMTP_LOCAL_MAX) goto toolong;
    path->at = len;
    if (path_put(path, &len, "@", 1) < 0) goto toolong;

    /* Domain or address literal. */
    size_t dn;
    if (*p == '[') {
        dn = smtp_scan_literal(p);
        path->literal = 1;
    } else {
        dn = smtp_scan_domain(p);
    }
    if (dn == 0) return -1;
    if (!smtp_utf8_valid(p, dn)) return -1;
    if (dn > SMTP_DOMAIN_MAX || path_put(path, &len, p, dn) < 0) goto toolong;
    p += dn;
    if (*p != '>') return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path->mailbox[i] >= 0x80) path->utf8 = 1;
    *pp = p + 1;
    return 0;
toolong:
    *reply = cx->toolong;
    return -1;
}

/* --- Parameters ------------------------------------------------------------------- */

/* xtext (RFC 3461 4): "+" HEXCHAR HEXCHAR or %d33-42 / %d44-60 / %d62-126.
 * With SMTPUTF8 the values may carry UTF-8 (RFC 6533); accepted likewise. */
static int param_xtext_valid(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            if (i + 2 >= n) return 0;
            for (int k = 1; k <= 2; k++) {
                char h = s[i + (size_t)k];
                if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return 0;
            }
            i += 2;
        }
    }
    return 1;
}

static int param_eq(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1) */
static int param_notify_valid(const char *s, size_t n)
{
    if (param_eq(s, n, "NEVER")) return 1;
    unsigned seen = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',') j++;
        unsigned bit;
        if (param_eq(s + i, j - i, "SUCCESS")) bit = 1;
        else if (param_eq(s + i, j - i, "FAILURE")) bit = 2;
        else if (param_eq(s + i, j - i, "DELAY")) bit = 4;
        else return 0;
        if (seen & bit) return 0;
        seen |= bit;
        i = j + 1;
    }
    return 1;
}

/* ORCPT = addr-type ";" xtext (RFC 3461 4.2); addr-type is an atom. */
static int param_orcpt_valid(const char *s, size_t n)
{
    const char *semi = memchr(s, ';', n);
    if (!semi || semi == s) return 0;
    for (const char *p = s; p < semi; p++)
        if (!smtp_is_alnum((unsigned char)*p) && *p != '-') return 0;
    return param_xtext_valid(semi + 1, n - (size_t)(semi + 1 - s), SMTP_ORCPT_MAX);
}

/* Parses the parameters after a path: "" or SP params. mail: MAIL's set,
 * otherwise RCPT's. */
static int params_parse(const char *p, int mail, smtp_params *out, const char **reply)
{
    memset(out, 0, sizeof *out);
    if (*p == '\0') return 0;
    if (*p != ' ') { *reply = R_PARAM_SYNTAX; return -1; }
    for (;;) {
        while (*p == ' ') p++;
        if (*p == '\0') return 0;
        const char *kw = p;
        if (!smtp_is_alnum((unsigned char)*p)) { *reply = R_PARAM_SYNTAX; return -1; }
        while (smtp_is_alnum((unsigned char)*p) || *p == '-') p++;
        size_t kwlen = (size_t)(p - kw);
        const char *val = NULL;
        size_t vlen = 0;
        if (*p == '=') {
            val = ++p;
            while (*p && smtp_is_valuechar((unsigned char)*p)) p++;
            vlen = (size_t)(p - val);
            if (vlen == 0 || !smtp_utf8_valid(val, vlen)) { *reply = R_PARAM_SYNTAX; return -1; }
        }
        if (*p != '\0' && *p != ' ') { *reply = R_PARAM_SYNTAX; return -1; }

        unsigned bit = 0;
        const char *bad = NULL;
        if (mail && param_eq(kw, kwlen, "SIZE")) {
            bit = SMTP_PARAM_SIZE;
            /* size-value = 1*20DIGIT (RFC 1870 6); a value past 2^64 is simply "too big". */
            if (!val || vlen > 20) bad = R_BAD_SIZE;
            uint64_t v = 0;
            for (size_t i = 0; !bad && i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9') { bad = R_BAD_SIZE; break; }
                unsigned d = (unsigned)(val[i] - '0');
                v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
            }
            out->size = v;
        } else if (mail && param_eq(kw, kwlen, "BODY")) {
            bit = SMTP_PARAM_BODY;
            if (val && param_eq(val, vlen, "7BIT")) out->body = SMTP_BODY_7BIT;
            else if (val && param_eq(val, vlen, "8BITMIME")) out->body = SMTP_BODY_8BITMIME;
            else bad = R_BAD_BODY;    /* BINARYMIME is not offered (RFC 3030 3) */
        } else if (mail && param_eq(kw, kwlen, "SMTPUTF8")) {
            bit = SMTP_PARAM_SMTPUTF8;
            if (val) bad = R_BAD_UTF8PARAM;
        } else if (mail && param_eq(kw, kwlen, "RET")) {
            bit = SMTP_PARAM_RET;
            if (!val || !(param_eq(val, vlen, "FULL") || param_eq(val, vlen, "HDRS"))) bad = R_BAD_RET;
        } else if (mail && param_eq(kw, kwlen, "ENVID")) {
            bit = SMTP_PARAM_ENVID;
            if (!val || !param_xtext_valid(val, vlen, SMTP_ENVID_MAX)) bad = R_BAD_ENVID;
        } else if (!mail && param_eq(kw, kwlen, "NOTIFY")) {
            bit = SMTP_PARAM_NOTIFY;
            if (!val || !param_notify_valid(val, vlen)) bad = R_BAD_NOTIFY;
        } else if (!mail && param_eq(kw, kwlen, "ORCPT")) {
            bit = SMTP_PARAM_ORCPT;
            if (!val || !param_orcpt_valid(val, vlen)) bad = R_BAD_ORCPT;
        } else {
            *reply = R_PARAM_UNKNOWN;
            return -1;
        }
        if (out->seen & bit) { *reply = R_PARAM_DUP; return -1; }
        if (bad) { *reply = bad; return -1; }
        out->seen |= bit;
    }
}

/* "FROM:" / "TO:" then optional spaces; NULL when the keyword is missing. */
static const char *cmd_keyword(const char *args, const char *kw)
{
    size_t n = strlen(kw);
    if (strncasecmp(args, kw, n) != 0) return NULL;
    args += n;
    while (*args == ' ') args++;
    return args;
}

int smtp_parse_mail(const char *args, smtp_path *path, smtp_params *params, const char **reply)
{
    static const path_ctx cx = { R_BAD_SENDER, R_LONG_SENDER, 1, 0 };
    memset(path, 0, sizeof *path);
    memset(params, 0, sizeof *params);
    const char *p = cmd_keyword(args, "FROM:");
    if (!p || *p != '<') { *reply = R_MAIL_SYNTAX; return -1; }
    if (path_parse(&p, &cx, path, reply) < 0) return -1;
    return params_parse(p, 1, params, reply);
}

int smtp_parse_rcpt(const char *args, smtp_path *path, smtp_params *params, const char **reply)
{
    static const path_ctx cx = { R_BAD_RCPT, R_LONG_RCPT, 0, 1 };
    memset(path, 0, sizeof *path);
    memset(params, 0, sizeof *params);
    const char *p = cmd_keyword(args, "TO:");
    if (!p || *p != '<') { *reply = R_RCPT_SYNTAX; return -1; }
    if (path_parse(&p, &cx, path, reply) < 0) return -1;
    return params_parse(p, 0, params, reply);
}

int smtp_parse_bdat(const char *args, uint64_t *size, int *last, const char **reply)
{
    const char *p = args;
    uint64_t v = 0;
    size_t digits = 0;
    *size = 0;
    *last = 0;
    while (*p >= '0' && *p <= '9') {
        /* 19 digits stay below 2^64: no overflow to check. */
        if (++digits > 19) { *reply = R_BDAT_SYNTAX; return -1; }
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (digits == 0) { *reply = R_BDAT_SYNTAX; return -1; }
    while (*p == ' ') p++;
    if (*p != '\0') {
        if (strncasecmp(p, "LAST", 4) != 0) { *reply = R_BDAT_SYNTAX; return -1; }
        p += 4;
        while (*p == ' ') p++;
        if (*p != '\0') { *reply = R_BDAT_SYNTAX; return -1; }
        *last = 1;
    }
    *size = v;
    return 0;
}
