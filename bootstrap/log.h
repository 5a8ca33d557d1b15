/* Logging with the OpenBSD slaacd/dhcpleased API, to stderr (the journal under systemd). */
#ifndef CLIQUE_LOG_H
#define CLIQUE_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_QUIET,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_init(enum log_level level);
/* log_warn appends strerror(errno); pass -r of a -errno return through errno first. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Copies untrusted text into out with non-printables escaped (\xNN) so a hostile name cannot
 * forge log lines; always NUL-terminates, truncates with "...".
 */
const char *log_quote(char *out, size_t outlen, const char *in, size_t inlen);

#endif
