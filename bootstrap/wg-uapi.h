/*
 * Internal to the userspace backend: the pure UAPI text codecs (shared/reference/wireguard.md 2),
 * exported for the unit tests, the fuzz harness and wg_backend_open().
 */
#ifndef CLIQUE_WG_UAPI_H
#define CLIQUE_WG_UAPI_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct ip_addr;
struct wg_device;

/* /var/run/wireguard/<if>.sock (wireguard.md 2.1). */
#define WG_UAPI_DIR "/var/run/wireguard"
/* Hard cap on a get reply: ~350 bytes per peer, so room for far more than 10,000 peers. */
#define WG_UAPI_REPLY_MAX (64u << 20)

/*
 * Parses a complete get reply ("key=value\n" lines, "errno=N\n", blank line). On success
 * replaces the configuration and peers of *ret (whose name is kept); on failure *ret is
 * untouched. errno=N != 0 (either sign, wireguard.md 2.2) is returned as -|N|; a malformed
 * reply is -EPROTO. Unknown keys are ignored, as wg(8) does, for newer daemons.
 */
int wg_uapi_parse_get(const char *buf, size_t len, struct wg_device *ret);
/* A set reply: exactly "errno=N\n\n". Returns 0, -|N|, or -EPROTO. */
int wg_uapi_parse_set_reply(const char *buf, size_t len);
/*
 * Appends the set request for a change set from wg_diff() to ret_request. The private key line is a
 * secret: ret_request must be released with buf_free(), which wipes it.
 */
int wg_uapi_build_set(const struct wg_device *changes, struct buf *ret_request);
/* "1.2.3.4:51871" or "[2001:db8::1]:51871", numeric only; a v4-mapped v6 address is unmapped. */
int wg_uapi_parse_endpoint(const char *s, size_t len, struct ip_addr *ret_addr, uint16_t *ret_port);
/*
 * Resolves cmd like execvp(3) would: a name with '/' must be an executable file, else the
 * first executable in $PATH. -ENOENT when not found, -ENAMETOOLONG when it does not fit.
 */
int wg_uapi_find_command(const char *cmd, char *ret_path, size_t path_size);

#endif
