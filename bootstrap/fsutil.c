#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include "fsutil.h"

int fs_read_file(const char *path, size_t max, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf_reset(out);
	out->max = max;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = buf_add(out, chunk, n);
		if (r == -EMSGSIZE)
			r = -EFBIG;
		if (r < 0)
			break;
	}
	close(fd);
	return r;
}

/* Chunk by chunk, so comparing a large file costs no copy of it. 1 = equal, 0 = not, -errno. */
static int same_bytes(int fd, const char *data, size_t len)
{
	char chunk[4096];
	size_t off = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return off == len;
		if ((size_t)n > len - off || memcmp(chunk, data + off, n))
			return 0;
		off += n;
	}
}

/* 1 when path holds exactly data (its mode repaired in place), 0 when not, -errno. */
static int same_content(const char *path, const void *data, size_t len, mode_t mode)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = 0;
	if (S_ISREG(st.st_mode) && (size_t)st.st_size == len)
		r = same_bytes(fd, data, len);
	if (r > 0 && (st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		r = -errno;
out:
	close(fd);
	return r;
}

int fs_fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash;
	int fd, r = 0;

	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* RENAME_NOREPLACE where the filesystem has it; else the caller's lock covers the race. */
static int publish(const char *tmp, const char *path, unsigned flags)
{
	if (!(flags & FS_WRITE_NOREPLACE))
		return rename(tmp, path) < 0 ? -errno : 0;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (access(path, F_OK) == 0)
		return -EEXIST;
	return rename(tmp, path) < 0 ? -errno : 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
		    unsigned flags)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (!(flags & FS_WRITE_NOREPLACE)) {
		r = same_content(path, data, len, mode);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp); /* a leftover of a killed run with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	/* mode and group are final before the name appears: networkd never sees a wrong mode */
	r = fchmod(fd, mode) < 0 ? -errno : 0;
	if (!r && gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0 && geteuid() == 0)
		r = -errno;
	if (!r)
		r = write_all(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = publish(tmp, path, flags);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	r = fs_fsync_dir_of(path);
	return r < 0 ? r : 1;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i, len = strlen(path);

	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		tmp[i] = path[i];
	}
	return 0;
}

/* "<anything>.tmp.<digits>", the names fs_write_atomic gives its temp files */
static bool is_tmp_name(const char *name)
{
	const char *t = strstr(name, ".tmp.");
	const char *d;

	if (!t)
		return false;
	for (d = t + 5; *d >= '0' && *d <= '9'; d++)
		;
	return d > t + 5 && !*d;
}

int fs_remove_stale_tmp(const char *dir, const char *prefix)
{
	struct dirent *e;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) || !is_tmp_name(e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT && !r)
			r = -errno;
	}
	closedir(d);
	return r;
}
