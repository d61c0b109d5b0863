/*
 * log.c — the server log (see log.h). One fprintf per line, so lines written by
 * different threads never interleave (stdio locks the stream per call).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "util/log.h"

static volatile enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    if (level < current_level) return;
    char when[32], text[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s [%s] %s\n", when, names[level], module, text);
}
