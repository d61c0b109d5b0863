/*
 * test_util.c — util/buf.c: the growing byte buffer every reply is written into.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "util/buf.h"

/* buf_put_uint writes what printf("%llu") writes: at every digit-count and
 * two-digit boundary, the extremes, and pseudo-random values of every size. */
static void put_uint_writes_decimal_like_printf(void **state)
{
    (void)state;
    static const uint64_t edges[] = {
        0, 1, 9, 10, 11, 19, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 65535, 99999,
        100000, 4294967295u, 4294967296u, 10000000000000000000u, UINT64_MAX,
    };
    char want[32];
    buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        buf_reset(&b);
        buf_put_uint(&b, edges[i]);
        snprintf(want, sizeof want, "%llu", (unsigned long long)edges[i]);
        assert_string_equal(buf_cstr(&b), want);
        assert_int_equal(b.len, strlen(want));
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x >> (i % 64);
        buf_reset(&b);
        buf_puts(&b, "a ");
        buf_put_uint(&b, v);
        snprintf(want, sizeof want, "a %llu", (unsigned long long)v);
        assert_string_equal(buf_cstr(&b), want);
    }
    buf_free(&b);
}

/* buf_putc from an empty buffer through many growths: every byte kept, always
 * NUL-terminated. */
static void putc_grows_and_terminates(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++) {
        buf_putc(&b, (char)('a' + i % 26));
        assert_int_equal(b.p[b.len], '\0');
    }
    assert_int_equal(b.len, 100000);
    for (int i = 0; i < 100000; i++) assert_int_equal(b.p[i], 'a' + i % 26);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_uint_writes_decimal_like_printf),
        cmocka_unit_test(putc_grows_and_terminates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
