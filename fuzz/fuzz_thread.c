/*
 * fuzz_thread.c — libFuzzer target for THREAD (src/imap/imap_thread.c): the
 * Message-ID, References, In-Reply-To and Subject it reads come from mail
 * anyone can send.
 *
 * The input is cut at LF into lines, four to a message (Message-ID, References,
 * In-Reply-To, Subject; up to 64 messages), with sent dates from the input's
 * bytes (many equal). Every message set is threaded with both algorithms, and a
 * subset (every other message) both through the whole set's facts and from its
 * own records. Besides the sanitizers' checks it asserts: the thread-lists are
 * balanced parentheses around numbers; each threaded message is written exactly
 * once and no other; a subset through the whole set's facts gives the same text
 * as the subset alone (imap_thread.c's promise).
 *
 * Build: make fuzz (build-fuzz/fuzz/fuzz_thread).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "store/store.h"
#include "imap/imap_sort.h"

#define MAXMSG 64

/* Balanced, digits and spaces only inside, each of want[0..n) exactly once. */
static void check_lists(const buf *out, const uint32_t *want, size_t n)
{
    unsigned char seen[2 * MAXMSG + 2] = { 0 };
    long depth = 0;
    size_t count = 0;
    for (size_t i = 0; i < out->len; ) {
        char c = out->p[i];
        if (c == '(') { depth++; i++; continue; }
        if (c == ')') { if (--depth < 0) abort(); i++; continue; }
        if (c == ' ') { if (depth <= 0) abort(); i++; continue; }
        if (c < '0' || c > '9' || depth <= 0) abort();
        unsigned long v = 0;
        while (i < out->len && out->p[i] >= '0' && out->p[i] <= '9') {
            v = v * 10 + (unsigned long)(out->p[i] - '0');
            if (v > 2 * MAXMSG) abort();
            i++;
        }
        if (seen[v]++) abort();
        count++;
    }
    if (depth != 0 || count != n) abort();
    for (size_t k = 0; k < n; k++)
        if (!seen[want[k]]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *fields[4 * MAXMSG];
    size_t nf = 0;
    for (char *p = text; nf < 4 * MAXMSG; ) {
        fields[nf++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    size_t n = nf / 4;
    store_sortrec recs[MAXMSG], sub[MAXMSG];
    uint32_t nums[MAXMSG], subnums[MAXMSG];
    size_t pick[MAXMSG], nsub = 0;
    memset(recs, 0, sizeof recs);
    for (size_t i = 0; i < n; i++) {
        store_sortrec *r = &recs[i];
        r->uid = (uint32_t)(i + 1);
        r->message_id = fields[4 * i];
        r->references = fields[4 * i + 1];
        r->in_reply_to = fields[4 * i + 2];
        r->subject = fields[4 * i + 3];
        r->from = r->to = r->cc = r->from_display = r->to_display = (char *)"";
        unsigned char b = size ? data[i % size] : 0;
        r->sentdate = b & 1 ? 0 : (int64_t)(b >> 4);
        r->internaldate = (int64_t)(b & 7);
        nums[i] = (uint32_t)(i + 1);
        if (i % 2 == 0) {
            pick[nsub] = i;
            sub[nsub] = *r;
            subnums[nsub++] = nums[i];
        }
    }
    imap_thread_facts *all = imap_thread_facts_new(recs, n);
    imap_thread_facts *alone = imap_thread_facts_new(sub, nsub);
    for (int a = 0; a < 2; a++) {
        imap_thread_alg alg = a ? IMAP_THREAD_REFERENCES : IMAP_THREAD_ORDEREDSUBJECT;
        buf whole = BUF_INIT, via = BUF_INIT, own = BUF_INIT;
        if (imap_thread(alg, all, NULL, n, nums, &whole) != 0) abort();
        check_lists(&whole, nums, n);
        if (imap_thread(alg, all, pick, nsub, subnums, &via) != 0) abort();
        if (imap_thread(alg, alone, NULL, nsub, subnums, &own) != 0) abort();
        check_lists(&via, subnums, nsub);
        if (via.len != own.len || (via.len && memcmp(via.p, own.p, via.len))) abort();
        buf_free(&whole);
        buf_free(&via);
        buf_free(&own);
    }
    imap_thread_facts_free(all);
    imap_thread_facts_free(alone);
    free(text);
    return 0;
}
