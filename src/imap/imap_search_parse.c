/*
 * imap_search_parse.c — the SEARCH key grammar (RFC 3501 6.4.4 and section 9,
 * SEARCHRES RFC 5182, our X-REGEX) into a search program (search/search.h),
 * and SEARCH's RETURN options (ESEARCH RFC 4731, SEARCHRES RFC 5182).
 *
 * OFFERS
 *   imap_search_parse: [SP "CHARSET" SP astring] 1*(SP search-key) after the
 *   command name (SORT/THREAD: SP charset 1*(SP search-key)), into an AND node
 *   of the keys (always an AND at the top, even for one key), plus the charset
 *   uppercased (NULL when not given).
 *   imap_search_parse_return: [SP "RETURN" SP "(" options ")"].
 *
 * MAPPING
 *   FROM TO CC BCC SUBJECT -> SEARCH_HEADER with that field name; HEADER f v ->
 *   SEARCH_HEADER with the field as sent; NEW -> AND(RECENT, NOFLAGS \Seen);
 *   OLD -> NOT(RECENT); UNSEEN etc. -> SEARCH_NOFLAGS; a sequence set ->
 *   SEARCH_SEQSET, UID set -> SEARCH_UIDS (both merged; '*' is stored as
 *   IMAP_SEQ_STAR (UINT32_MAX) in the set with star = 1, for the session to
 *   resolve); "$" and "UID $" -> SEARCH_SEQSET with number IMAP_SEARCH_SAVED
 *   (the session substitutes its saved result); a parenthesised group -> an
 *   AND node; dates -> days since 1970-01-01; X-REGEX TEXT p -> SEARCH_REGEX
 *   number 1, X-REGEX BODY p -> number 0, X-REGEX HEADER f p -> field f
 *   (value = the pattern, accepted by search_regex_validate).
 *
 * PROMISES
 *   Recursion is bounded: parentheses, NOT and OR each count one level of
 *   IMAP_NEST_MAX. A group (and the top level) holds at most IMAP_LIST_ITEMS_MAX
 *   keys. String values are not checked against the charset here: the session
 *   answers NO [BADCHARSET] for charsets it does not take.
 *
 * DIAGNOSTICS
 *   -1 with the reason in lx->err; nothing is allocated on failure.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "mailbox/msgflags.h"
#include "search/search.h"
#include "search/search_regex.h"
#include "imap/imap_parse.h"

enum search_arg {
    ARG_NONE, ARG_STRING, ARG_HEADER, ARG_DATE, ARG_NUMBER, ARG_KEYWORD, ARG_SEQSET,
    ARG_NEW, ARG_OLD, ARG_NOT, ARG_OR, ARG_REGEX,
};

static const struct search_key_def {
    const char *word;
    enum search_arg arg;
    search_op op;
    uint32_t flag;
    const char *field;
} search_keys[] = {
    { "ALL", ARG_NONE, SEARCH_ALL, 0, NULL },
    { "ANSWERED", ARG_NONE, SEARCH_FLAGS, MSG_FLAG_ANSWERED, NULL },
    { "BCC", ARG_STRING, SEARCH_HEADER, 0, "BCC" },
    { "BEFORE", ARG_DATE, SEARCH_BEFORE, 0, NULL },
    { "BODY", ARG_STRING, SEARCH_BODY, 0, NULL },
    { "CC", ARG_STRING, SEARCH_HEADER, 0, "CC" },
    { "DELETED", ARG_NONE, SEARCH_FLAGS, MSG_FLAG_DELETED, NULL },
    { "DRAFT", ARG_NONE, SEARCH_FLAGS, MSG_FLAG_DRAFT, NULL },
    { "FLAGGED", ARG_NONE, SEARCH_FLAGS, MSG_FLAG_FLAGGED, NULL },
    { "FROM", ARG_STRING, SEARCH_HEADER, 0, "FROM" },
    { "HEADER", ARG_HEADER, SEARCH_HEADER, 0, NULL },
    { "KEYWORD", ARG_KEYWORD, SEARCH_KEYWORD, 0, NULL },
    { "LARGER", ARG_NUMBER, SEARCH_LARGER, 0, NULL },
    { "NEW", ARG_NEW, SEARCH_AND, 0, NULL },
    { "NOT", ARG_NOT, SEARCH_NOT, 0, NULL },
    { "OLD", ARG_OLD, SEARCH_NOT, 0, NULL },
    { "ON", ARG_DATE, SEARCH_ON, 0, NULL },
    { "OR", ARG_OR, SEARCH_OR, 0, NULL },
    { "RECENT", ARG_NONE, SEARCH_RECENT, 0, NULL },
    { "SEEN", ARG_NONE, SEARCH_FLAGS, MSG_FLAG_SEEN, NULL },
    { "SENTBEFORE", ARG_DATE, SEARCH_SENTBEFORE, 0, NULL },
    { "SENTON", ARG_DATE, SEARCH_SENTON, 0, NULL },
    { "SENTSINCE", ARG_DATE, SEARCH_SENTSINCE, 0, NULL },
    { "SINCE", ARG_DATE, SEARCH_SINCE, 0, NULL },
    { "SMALLER", ARG_NUMBER, SEARCH_SMALLER, 0, NULL },
    { "SUBJECT", ARG_STRING, SEARCH_HEADER, 0, "SUBJECT" },
    { "TEXT", ARG_STRING, SEARCH_TEXT, 0, NULL },
    { "TO", ARG_STRING, SEARCH_HEADER, 0, "TO" },
    { "UID", ARG_SEQSET, SEARCH_UIDS, 0, NULL },
    { "UNANSWERED", ARG_NONE, SEARCH_NOFLAGS, MSG_FLAG_ANSWERED, NULL },
    { "UNDELETED", ARG_NONE, SEARCH_NOFLAGS, MSG_FLAG_DELETED, NULL },
    { "UNDRAFT", ARG_NONE, SEARCH_NOFLAGS, MSG_FLAG_DRAFT, NULL },
    { "UNFLAGGED", ARG_NONE, SEARCH_NOFLAGS, MSG_FLAG_FLAGGED, NULL },
    { "UNKEYWORD", ARG_KEYWORD, SEARCH_UNKEYWORD, 0, NULL },
    { "UNSEEN", ARG_NONE, SEARCH_NOFLAGS, MSG_FLAG_SEEN, NULL },
    { "X-REGEX", ARG_REGEX, SEARCH_REGEX, 0, NULL },
};

static int search_key(imap_lex *lx, search_node **out);

/* X-REGEX (TEXT / BODY / HEADER field-name) SP astring: the pattern is checked
 * here, so that a bad one is a BAD with PCRE2's reason (search/search_regex.h). */
static int search_regex_key(imap_lex *lx, search_node *n)
{
    char where[16], why[160];
    if (imap_lex_sp(lx) < 0 || imap_lex_word(lx, where, sizeof where, "X-REGEX target") < 0) return -1;
    if (!strcasecmp(where, "TEXT")) {
        n->number = 1;
    } else if (!strcasecmp(where, "BODY")) {
        n->number = 0;
    } else if (!strcasecmp(where, "HEADER")) {
        if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &n->field, "header field name") < 0) return -1;
        if (!imap_header_name_ok(n->field)) return imap_lex_fail(lx, "invalid header field name");
    } else {
        return imap_lex_fail(lx, "X-REGEX takes TEXT, BODY or HEADER");
    }
    if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &n->value, "regular expression") < 0) return -1;
    if (search_regex_validate(n->value, why, sizeof why) != 0) {
        /* The reason goes into a BAD line: PCRE2's text is plain ASCII, but no
         * control byte may ever reach the wire. */
        for (char *p = why; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = ' ';
        return imap_lex_fail(lx, why);
    }
    return 0;
}

static int search_nest(imap_lex *lx)
{
    if (++lx->depth > IMAP_NEST_MAX) return imap_lex_fail(lx, "search keys nested too deeply");
    return 0;
}

/* A sequence set as a merged set; '*' kept as IMAP_SEQ_STAR and flagged. */
static int search_set(imap_lex *lx, search_op op, search_node **out)
{
    imap_seqset seq = { NULL, 0, 0 };
    if (imap_lex_seqset(lx, &seq) < 0) {
        free(seq.r);
        return -1;
    }
    if (seq.last) {
        /* "$" and "UID $" both name the saved result (RFC 5182 2.2). */
        search_node *d = search_node_new(SEARCH_SEQSET);
        d->number = IMAP_SEARCH_SAVED;
        *out = d;
        return 0;
    }
    search_node *n = search_node_new(op);
    for (size_t i = 0; i < seq.n; i++) {
        uidset_add_range(&n->set, seq.r[i].lo, seq.r[i].hi);
        if (seq.r[i].hi == IMAP_SEQ_STAR) n->star = 1;
    }
    free(seq.r);
    *out = n;
    return 0;
}

/* Keys up to ')' (group) or to the end of the keys (top level) into `and`. */
static int search_keys_into(imap_lex *lx, search_node *and, int group)
{
    for (;;) {
        search_node *kid;
        if (and->nkids >= IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many search keys");
        if (search_key(lx, &kid) < 0) return -1;
        search_node_add_kid(and, kid);
        if (group && imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (!group && imap_lex_peek(lx) != ' ') return 0;
        if (imap_lex_sp(lx) < 0) return -1;
    }
}

static int search_key(imap_lex *lx, search_node **out)
{
    char word[16];
    int c = imap_lex_peek(lx);
    search_node *n = NULL, *kid = NULL;
    *out = NULL;
    if (c == '(') {
        if (search_nest(lx) < 0) return -1;
        lx->pos++;
        n = search_node_new(SEARCH_AND);
        if (search_keys_into(lx, n, 1) < 0) goto fail;
        lx->depth--;
        *out = n;
        return 0;
    }
    if (c == '*' || c == '$' || (c >= '0' && c <= '9')) return search_set(lx, SEARCH_SEQSET, out);
    if (imap_lex_word(lx, word, sizeof word, "search key") < 0) {
        if (lx->err) lx->err[0] = '\0';
        return imap_lex_fail(lx, imap_lex_at_eol(lx) ? "missing search key" : "unknown search key");
    }
    const struct search_key_def *k = NULL;
    for (size_t i = 0; i < sizeof search_keys / sizeof search_keys[0]; i++)
        if (!strcasecmp(word, search_keys[i].word)) k = &search_keys[i];
    if (!k) return imap_lex_fail(lx, "unknown search key");
    if (k->arg == ARG_SEQSET) {
        if (imap_lex_sp(lx) < 0) return -1;
        return search_set(lx, k->op, out);
    }
    n = search_node_new(k->op);
    n->flags = k->flag;
    switch (k->arg) {
    case ARG_NONE:
    case ARG_SEQSET:
        break;
    case ARG_STRING:
        if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &n->value, "search string") < 0) goto fail;
        if (k->field) n->field = xstrdup(k->field);
        break;
    case ARG_HEADER:
        if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &n->field, "header field name") < 0) goto fail;
        if (!imap_header_name_ok(n->field)) {
            imap_lex_fail(lx, "invalid header field name");
            goto fail;
        }
        if (imap_lex_sp(lx) < 0 || imap_lex_astring(lx, &n->value, "search string") < 0) goto fail;
        break;
    case ARG_DATE:
        if (imap_lex_sp(lx) < 0 || imap_lex_date(lx, &n->number) < 0) goto fail;
        break;
    case ARG_NUMBER: {
        uint32_t v;
        if (imap_lex_sp(lx) < 0 || imap_lex_number(lx, &v, "size") < 0) goto fail;
        n->number = v;
        break;
    }
    case ARG_KEYWORD:
        if (imap_lex_sp(lx) < 0 || imap_lex_atom(lx, &n->value, "keyword") < 0) goto fail;
        break;
    case ARG_NEW:
        search_node_add_kid(n, search_node_new(SEARCH_RECENT));
        kid = search_node_new(SEARCH_NOFLAGS);
        kid->flags = MSG_FLAG_SEEN;
        search_node_add_kid(n, kid);
        break;
    case ARG_OLD:
        search_node_add_kid(n, search_node_new(SEARCH_RECENT));
        break;
    case ARG_REGEX:
        if (search_regex_key(lx, n) < 0) goto fail;
        break;
    case ARG_NOT:
    case ARG_OR:
        if (search_nest(lx) < 0) goto fail;
        for (int i = 0; i < (k->arg == ARG_OR ? 2 : 1); i++) {
            if (imap_lex_sp(lx) < 0 || search_key(lx, &kid) < 0) goto fail;
            search_node_add_kid(n, kid);
        }
        lx->depth--;
        break;
    }
    *out = n;
    return 0;
fail:
    search_node_free(n);
    return -1;
}

/* The charset astring, uppercased. */
static int search_charset(imap_lex *lx, char **charset)
{
    if (imap_lex_astring(lx, charset, "charset") < 0) return -1;
    for (char *s = *charset; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
    return 0;
}

int imap_search_parse(imap_lex *lx, search_node **out, char **charset, int charset_required)
{
    search_node *root = NULL;
    *out = NULL;
    *charset = NULL;
    if (imap_lex_sp(lx) < 0) return -1;
    if (charset_required) {
        /* SORT and THREAD: search-criteria = charset 1*(SP search-key) (RFC 5256 4). */
        if (search_charset(lx, charset) < 0 || imap_lex_sp(lx) < 0) goto fail;
    } else if (lx->len - lx->pos > 7 && !strncasecmp(lx->p + lx->pos, "CHARSET", 7) &&
               lx->p[lx->pos + 7] == ' ') {
        /* "CHARSET" is no search key, so seeing it first is unambiguous. */
        lx->pos += 8;
        if (search_charset(lx, charset) < 0 || imap_lex_sp(lx) < 0) goto fail;
    }
    root = search_node_new(SEARCH_AND);
    if (search_keys_into(lx, root, 0) < 0) goto fail;
    *out = root;
    return 0;
fail:
    search_node_free(root);
    free(*charset);
    *charset = NULL;
    return -1;
}

/* search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
 * (RFC 4731 3, RFC 4466 2.6); "RETURN" is no search key either. */
int imap_search_parse_return(imap_lex *lx, int *esearch, unsigned *ret)
{
    static const struct { const char *word; unsigned bit; } opts[] = {
        { "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
        { "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
        { "SAVE", IMAP_SEARCH_RETURN_SAVE },
    };
    char word[16];
    size_t count = 0;
    *esearch = 0;
    *ret = 0;
    if (lx->len - lx->pos < 9 || strncasecmp(lx->p + lx->pos, " RETURN (", 9) != 0) return 0;
    lx->pos += 9;
    *esearch = 1;
    if (imap_lex_peek(lx) == ')') {
        lx->pos++;
        *ret = IMAP_SEARCH_RETURN_ALL;          /* RFC 4731 3.1: RETURN () is ALL */
        return 0;
    }
    for (;;) {
        if (++count > IMAP_LIST_ITEMS_MAX) return imap_lex_fail(lx, "too many search return options");
        if (imap_lex_word(lx, word, sizeof word, "search return option") < 0) return -1;
        size_t i;
        for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
            if (!strcasecmp(word, opts[i].word)) break;
        if (i == sizeof opts / sizeof opts[0]) return imap_lex_fail(lx, "unknown search return option");
        *ret |= opts[i].bit;
        if (imap_lex_peek(lx) == ')') {
            lx->pos++;
            return 0;
        }
        if (imap_lex_sp(lx) < 0) return -1;
    }
}
