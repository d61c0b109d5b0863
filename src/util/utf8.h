/*
 * utf8.h — the one strict UTF-8 codec of Sealbox.
 *
 * utf8_decode() accepts exactly RFC 3629 UTF-8: no overlong forms, no surrogates,
 * nothing above U+10FFFF. Used for mailbox names, IMAP quoted strings, modified
 * UTF-7 and search folding, so that all of them agree on what is valid.
 */
#ifndef SEALBOX_UTF8_H
#define SEALBOX_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Decodes the code point at s[0..len): returns its length in bytes (1..4), or 0
 * when the bytes there are not well-formed UTF-8 (or len is 0). */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Appends the UTF-8 encoding of cp (which must be a scalar value). */
void utf8_encode(buf *out, uint32_t cp);

#endif
