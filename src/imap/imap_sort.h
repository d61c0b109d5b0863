/*
 * imap_sort.h — SORT and THREAD (RFC 5256, SORT=DISPLAY RFC 5957) as pure
 * functions over the store's sort records.
 *
 * SUMMARY
 *   imap_base_subject   the "base subject" of RFC 5256 2.1 (imap_sort.c)
 *   imap_sort           the order of records under a list of sort criteria
 *                       (imap_sort.c)
 *   imap_thread_facts_new / _free   what threading reads of the records, as
 *                       numbers (imap_thread.c)
 *   imap_thread         THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256
 *                       3) of some of those, written as the thread-list text of
 *                       the THREAD response (imap_thread.c)
 *
 * PROMISES
 *   - No store, session or connection: plain records in, plain data out, so
 *     unit tests drive them with synthetic records.
 *   - Records are taken in the order given, which must be ascending uid (as
 *     store_sort_records returns them) = ascending sequence number: every tie
 *     is broken by that order (RFC 5256 3, 2.2).
 *   - Strings compare with i;ascii-casemap (RFC 4790 9.2, the RFC 5256 default).
 *   - Work and memory are linear in the records plus the references they carry
 *     (at most IMAP_THREAD_REFS_MAX per message), times the thread depth for
 *     the loop checks of REFERENCES.
 *
 * DIAGNOSTICS
 *   None: every input has an answer; memory exhaustion aborts (util/alloc.h).
 */
#ifndef SEALBOX_IMAP_SORT_H
#define SEALBOX_IMAP_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "store/store.h"
#include "imap/imap_parse.h"

/*
 * The base subject of `subject` (UTF-8, encoded words already decoded) as a new
 * string: tabs, CR and LF become spaces, runs of spaces become one, then
 * "Re:"/"Fw:"/"Fwd:" leaders (with their [blob]s), [blob] prefixes, "(fwd)" and
 * space trailers and the "[fwd: ...]" wrapper are removed until nothing changes
 * (RFC 5256 2.1 steps 1-7). Case is kept (comparisons fold it). When
 * `reply_or_fwd` is not NULL it is set to 1 when a subj-refwd, a "(fwd)"
 * trailer or a "[fwd:" wrapper was removed (the "reply or forward" test of the
 * REFERENCES algorithm, step 5), else 0.
 */
char *imap_base_subject(const char *subject, int *reply_or_fwd);

/* i;ascii-casemap: <0, 0, >0 as strcmp after mapping a-z to A-Z. */
int imap_casemap_cmp(const char *a, const char *b);

/*
 * Fills order[0..n) with the indexes of recs[] in SORT order under the
 * criteria (each possibly REVERSE): ARRIVAL = internaldate; DATE = sentdate,
 * or internaldate when the message has no usable Date: (sentdate 0); SIZE;
 * SUBJECT = base subject; FROM/TO/CC = first address's mailbox; DISPLAYFROM /
 * DISPLAYTO = the display name records carry. Equal under every criterion:
 * index order (sequence order), never reversed.
 */
void imap_sort(const store_sortrec *recs, size_t n, const imap_sort_crit *crit, size_t ncrit,
               size_t *order);

/*
 * What THREAD reads of recs[0..n) (their Message-ID, references, base subject
 * and sent date), with every distinct message id and base subject numbered,
 * so that threads of any subset of them are computed without strings. The
 * records are not referred to afterwards.
 */
typedef struct imap_thread_facts imap_thread_facts;
imap_thread_facts *imap_thread_facts_new(const store_sortrec *recs, size_t n);
void imap_thread_facts_free(imap_thread_facts *f);

/*
 * Threads n messages of f with `alg` and appends the thread-lists to `out`:
 * e.g. "(2)(3 6 (4 23)(44 7 96))" (RFC 5256 4). Message k is f's record
 * pick[k] (pick ascending; NULL: record k) and is written as nums[k] (its
 * sequence number or uid). Nothing is appended for n = 0. -1 (nothing
 * appended) when the messages and their references are too many for one run:
 * over 2^30 messages or 2^30 references.
 */
int imap_thread(imap_thread_alg alg, const imap_thread_facts *f, const size_t *pick, size_t n,
                const uint32_t *nums, buf *out);

#endif
