/* A model of a power cut, for tests: whenever a file under $POWERCUT_DIR is fsynced (fsync or
 * fdatasync), its whole content is copied to the same relative path under $POWERCUT_SHADOW. After the
 * process is killed, putting the shadow copies in place (and deleting files never fsynced) leaves each
 * file exactly as the disk is guaranteed to hold it after a power cut: what was fsynced, nothing after.
 * (A real disk may keep more; never less.) Loaded with LD_PRELOAD into the server under test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
}

static void copy_if_watched(int fd) {
    const char *dir = getenv("POWERCUT_DIR"), *shadow = getenv("POWERCUT_SHADOW");
    char link[64], path[PATH_MAX], target[PATH_MAX], tmp[PATH_MAX + 8], buf[65536];
    if (!dir || !shadow) return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || path[len] != '/') return;
    snprintf(target, sizeof target, "%s%s", shadow, path + len);
    snprintf(tmp, sizeof tmp, "%s.part", target);
    make_parents(tmp);
    int in = open(path, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in >= 0 && out >= 0) {
        ssize_t r;
        while ((r = pread(in, buf, sizeof buf, lseek(out, 0, SEEK_CUR))) > 0) {
            if (write(out, buf, (size_t)r) != r) break;
        }
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    rename(tmp, target);
}

int fsync(int fd) {
    if (!real_fsync) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int rc = real_fsync(fd);
    int saved = errno;
    if (rc == 0) copy_if_watched(fd);
    errno = saved;
    return rc;
}

int fdatasync(int fd) {
    if (!real_fdatasync) real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real_fdatasync(fd);
    int saved = errno;
    if (rc == 0) copy_if_watched(fd);
    errno = saved;
    return rc;
}
