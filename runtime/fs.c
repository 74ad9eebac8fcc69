/*
 * runtime/fs.c -- small file-system services for the stdlib: make a
 * directory path, test for a directory.
 */
#include "tp_ffi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
