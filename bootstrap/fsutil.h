/* Files that are never half-written: temp file in the same directory, fsync, rename, fsync dir. */
#ifndef CLIQUE_FSUTIL_H
#define CLIQUE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

enum fs_write_flags {
	/* never replace an existing file: -EEXIST (a concurrent creator won) */
	FS_WRITE_NOREPLACE = 1 << 0,
};

/*
 * Writes path atomically with mode, and group gid unless gid == (gid_t)-1 (a failing chown is
 * ignored when not root: tests under --root). When the file already holds exactly data it is
 * left alone -- only a wrong mode is repaired, which changes ctime but not mtime, so networkd
 * sees no change -- and 0 is returned. Returns 1 when written, -errno on failure (the temp
 * file is removed).
 */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
		    unsigned flags);
/* fsync of the directory holding path, so a rename or unlink survives power loss. */
int fs_fsync_dir_of(const char *path);
/* Reads a whole regular file of at most max bytes into out (reset first); -EFBIG beyond. */
int fs_read_file(const char *path, size_t max, struct buf *out);
/*
 * Removes the regular files "<prefix>*.tmp.<digits>" in dir: temp files of runs killed between
 * create and rename (one may hold a private key). Only under the run lock. Missing dir = 0.
 */
int fs_remove_stale_tmp(const char *dir, const char *prefix);
/* mkdir -p with mode for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode);

#endif
