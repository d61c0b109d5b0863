/*
 * log.h — the server log.
 *
 * Lines go to stderr as "YYYY-mm-ddTHH:MM:SSZ level [module] message". Promise 1 of
 * DESIGN.md applies to logs: never log a password, a key, message content, a
 * subject or an address. Name a mailbox by its random id, a client by its IP.
 */
#ifndef SEALBOX_LOG_H
#define SEALBOX_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) do { if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
