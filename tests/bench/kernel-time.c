/*
 * Bench helper for tests/bench/bench-kernel.sh, run inside the VM (no python3 there): times one
 * command the way tests/bench/measure.py does -- fork, exec with stdout on /dev/null, wait4 --
 * and appends "TAG wall_s cpu_s maxrss_kb" to OUT (wall from CLOCK_MONOTONIC, cpu = the child's
 * user + sys, maxrss from the same rusage). Built statically on the host.
 *
 *   kernel-time OUT TAG CMD [ARG...]      exit status: the command's (127: could not exec)
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ts(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static double tv(const struct timeval *t)
{
	return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status, fd;
	pid_t pid;
	FILE *out;

	if (argc < 4) {
		fprintf(stderr, "usage: kernel-time OUT TAG CMD [ARG...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("kernel-time: fork");
		return 2;
	}
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execvp(argv[3], argv + 3);
		perror("kernel-time: exec");
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("kernel-time: wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out = fopen(argv[1], "a");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%s %.6f %.6f %ld\n", argv[2], ts(&t1) - ts(&t0),
		tv(&ru.ru_utime) + tv(&ru.ru_stime), ru.ru_maxrss);
	if (fclose(out) != 0)
		return 2;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
