/*
 * A strict reader for the small block-YAML subset a metadata service emits (Hetzner Cloud's
 * /hetzner/v1/metadata/private-networks and network-config: PyYAML-style block mappings and
 * sequences of one-line scalars). Anything outside the subset is an error, not a guess.
 */
#ifndef CLIQUE_YAML_H
#define CLIQUE_YAML_H

#include <stddef.h>

#define YAML_PATH_MAX 128
#define YAML_DEPTH_MAX 8

/*
 * Called once per scalar in document order. path names it from the root: "hostname",
 * "[0].ip", "config[1].subnets[0].address"; value is NUL-terminated, unquoted, len bytes, ""
 * for a key without a value. A non-zero return stops the walk and is returned.
 */
typedef int (*yaml_scalar_fn)(void *userdata, const char *path, const char *value, size_t len);

/*
 * Walks buf: block mappings ("key: value", keys [A-Za-z0-9_-]), block sequences ("- ", also
 * at the indentation of their key), plain, 'single' and "double" (no escapes) one-line
 * scalars, flow sequences of plain scalars ("[]", "[a, b]"), "{}", comments. Block scalars
 * ("|", ">") are skipped. -EINVAL for anything else (tabs, anchors, multi-line plain scalars,
 * control bytes, bad indentation, deeper than YAML_DEPTH_MAX, paths over YAML_PATH_MAX),
 * -EMSGSIZE over 256 KiB.
 */
int yaml_walk(const char *buf, size_t len, yaml_scalar_fn fn, void *userdata);

#endif
