/*
 * runtime/fs.c -- small file-system services for the stdlib: make a
 * directory path, test for a directory, replace a file atomically, append
 * with every write checked.
 */
#include "tp_ffi.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

tp_status tp_mkdir_p(const char *path) {
    char buf[4096];
    if (!path || !*path) return TP_ERROR(TP_ERR_ARG, "empty directory name");
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return TP_ERROR(TP_ERR_ARG, "directory name too long");
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return TP_ERROR(TP_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return TP_ERROR(TP_ERR_IO, "'%s' exists and is not a directory", path);
    return TP_OK;
}

int tp_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void tp_fsync_parent(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (len >= sizeof dir) return;
    if (len) { memcpy(dir, path, len); dir[len] = 0; } else { dir[0] = '.'; dir[1] = 0; }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { if (fsync(dfd) != 0) { /* some file systems refuse: not fatal */ } close(dfd); }
}

/* ---- muted output: a private shadow of every file this process writes ---- */

static int g_muted;
static char g_shadow[4096];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}
static void shadow_cleanup(void) {
    if (g_shadow[0]) nftw(g_shadow, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tp_io_set_muted(int32_t muted) {
    g_muted = muted != 0;
    if (!g_muted || g_shadow[0]) return;
    /* under mpirun inside the process's session directory, which mpirun
     * removes when the job ends, also when a rank is killed (an abort, Ctrl-C) */
    const char *tmp = getenv("OMPI_FILE_LOCATION");
    if (!(tmp && *tmp && tp_is_dir(tmp))) tmp = getenv("TMPDIR");
    snprintf(g_shadow, sizeof g_shadow, "%s/tempera-shadow-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_shadow)) {
        fprintf(stderr, "tempera: cannot create a shadow directory in %s (%s): muted writes fail\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        g_shadow[0] = 0;
        return;
    }
    atexit(shadow_cleanup);
}
int32_t tp_io_muted(void) { return g_muted; }

/* path made absolute with "." and empty components dropped (".." kept) */
static void normalise(const char *path, char *out, size_t n) {
    char full[8192];
    if (path[0] == '/') snprintf(full, sizeof full, "%s", path);
    else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
        snprintf(full, sizeof full, "%s/%s", cwd, path);
    }
    size_t o = 0;
    for (const char *p = full; *p && o + 2 < n;) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) break;
        if (!(len == 1 && p[0] == '.')) {
            out[o++] = '/';
            for (size_t i = 0; i < len && o + 1 < n; i++) out[o++] = p[i];
        }
        p += len;
    }
    out[o] = 0;
}

/* the shadow of path: SHADOW/<hash of the absolute path>-<file name> */
static const char *shadow_of(const char *path, char *buf, size_t n) {
    char abs[8192];
    normalise(path, abs, sizeof abs);
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) { h ^= *p; h *= 1099511628211ULL; }
    const char *base = strrchr(abs, '/');
    base = base ? base + 1 : abs;
    snprintf(buf, n, "%s/%016llx-%.200s", g_shadow, (unsigned long long)h, base);
    return buf;
}

const char *tp_io_write_path(const char *path, char *buf, size_t n) {
    if (!g_muted || !g_shadow[0] || !path || !*path) return path;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return path;   /* a device, a pipe, a directory (an error) */
    return shadow_of(path, buf, n);
}

const char *tp_io_read_path_buf(const char *path, char *buf, size_t n) {
    if (!g_muted || !g_shadow[0] || !path || !*path) return path;
    shadow_of(path, buf, n);
    return access(buf, F_OK) == 0 ? buf : path;
}

/* for Lua (io.open on a muted rank): rotating static buffers */
const char *tp_io_read_path(const char *path) {
    static char buf[4][4352];
    static atomic_uint k;
    unsigned i = atomic_fetch_add(&k, 1) % 4;
    return tp_io_read_path_buf(path, buf[i], sizeof buf[i]);
}
const char *tp_io_shadow_path(const char *path) {
    static char buf[4][4352];
    static atomic_uint k;
    unsigned i = atomic_fetch_add(&k, 1) % 4;
    return tp_io_write_path(path, buf[i], sizeof buf[i]);
}

FILE *tp_open_append(const char *path) {
    char sp[4352];
    return fopen(tp_io_write_path(path, sp, sizeof sp), "a");
}

FILE *tp_atomic_open(tp_atomic_file *a, const char *path) {
    static atomic_uint seq;
    memset(a, 0, sizeof *a);
    if (!path || !*path) { TP_ERROR(TP_ERR_ARG, "empty file name"); return NULL; }
    char sp[4352];
    path = tp_io_write_path(path, sp, sizeof sp);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path) {
        TP_ERROR(TP_ERR_ARG, "file name too long: %.64s...", path);
        return NULL;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode)) { TP_ERROR(TP_ERR_IO, "cannot write %s: it is a directory", path); return NULL; }
        a->direct = 1;
        if (!(a->f = fopen(path, "w"))) TP_ERROR(TP_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        return a->f;
    }
    /* a name no other writer uses: this process and a counter */
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1));
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) { TP_ERROR(TP_ERR_IO, "cannot write %s: %s", a->tmp, strerror(errno)); return NULL; }
    a->f = fdopen(fd, "w");
    if (!a->f) {
        TP_ERROR(TP_ERR_IO, "cannot write %s: %s", a->tmp, strerror(errno));
        close(fd);
        unlink(a->tmp);
    }
    return a->f;
}

tp_status tp_atomic_commit(tp_atomic_file *a, int bad) {
    if (!a->f) return TP_ERROR(TP_ERR_ARG, "%s: not open", a->path);
    int err = 0;
    const char *what = "write";
    if (bad) err = bad > 1 ? bad : EIO;   /* bad may carry the failed write's errno */
    else if (ferror(a->f)) err = errno ? errno : EIO;
    if (!err && fflush(a->f) != 0) err = errno;
    if (a->direct) {
        if (fclose(a->f) != 0 && !err) err = errno;
        a->f = NULL;
        if (err) return TP_ERROR(TP_ERR_IO, "%s: write failed: %s", a->path, strerror(err));
        return TP_OK;
    }
    if (!err && !g_muted && fsync(fileno(a->f)) != 0 && errno != EINVAL) { err = errno; what = "fsync"; }
    if (fclose(a->f) != 0 && !err) err = errno;
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0) { err = errno; what = "rename"; }
    if (err) {
        unlink(a->tmp);
        return TP_ERROR(TP_ERR_IO, "%s: %s failed: %s (the previous file, if any, is unchanged)", a->path, what, strerror(err));
    }
    if (!g_muted) tp_fsync_parent(a->path);   /* the rename itself durable */
    return TP_OK;
}

tp_status tp_write_file_atomic(const char *path, const char *data, int64_t len) {
    if (len < 0 || (len > 0 && !data)) return TP_ERROR(TP_ERR_ARG, "write %s: bad buffer", path ? path : "(null)");
    tp_atomic_file a;
    if (!tp_atomic_open(&a, path)) return TP_ERR_IO;
    errno = 0;
    int bad = len > 0 && fwrite(data, 1, (size_t)len, a.f) != (size_t)len;
    if (bad && errno > 1) bad = errno;
    if (!bad && fflush(a.f) != 0) bad = errno > 1 ? errno : 1;
    return tp_atomic_commit(&a, bad);
}

tp_status tp_append_file(const char *path, const char *data, int64_t len) {
    if (!path || !*path) return TP_ERROR(TP_ERR_ARG, "empty file name");
    if (len < 0 || (len > 0 && !data)) return TP_ERROR(TP_ERR_ARG, "append %s: bad buffer", path);
    char sp[4352];
    path = tp_io_write_path(path, sp, sizeof sp);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return TP_ERROR(TP_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    int64_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, (size_t)(len - done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            return TP_ERROR(TP_ERR_IO, "%s: write failed: %s", path, strerror(e));
        }
        done += w;
    }
    if (close(fd) != 0) return TP_ERROR(TP_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return TP_OK;
}

int32_t tp_lock_acquire(const char *path, const char *what) {
    if (!path || !*path) { TP_ERROR(TP_ERR_ARG, "empty lock file name"); return -1; }
    char sp[4352];
    path = tp_io_write_path(path, sp, sizeof sp);   /* muted: the shadow's lock, not rank 0's */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) { TP_ERROR(TP_ERR_IO, "cannot create %s: %s", path, strerror(errno)); return -1; }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            TP_ERROR(TP_ERR_IO, "%s is in use by another run (lock %s held); give each run its own path",
                     what ? what : path, path);
        else
            TP_ERROR(TP_ERR_IO, "cannot lock %s: %s", path, strerror(e));
        return -1;
    }
    return fd;
}

void tp_lock_release(int32_t fd) {
    if (fd >= 0) close(fd);   /* closing the descriptor drops the lock */
}
