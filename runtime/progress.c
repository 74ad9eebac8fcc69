/*
 * runtime/progress.c -- progress lines for long loops, and the quiet switch.
 * On a terminal: one line redrawn in place (label, bar, %, rate, ETA) at most
 * ten times a second.  Otherwise (a log file, CI): a plain line every
 * interval seconds (default 10).  Nothing at all when quiet (--quiet).
 * Everything goes to stderr so stdout stays the recipe's own output.
 */
#include "tp_ffi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tp_progress {
    char label[64];
    int64_t total, done;
    double t0, last;
    int tty, drawn;
};

static int quiet = 0;
static double plain_interval = 10.0;

void tp_log_set_quiet(int q) { quiet = q != 0; }
int tp_log_quiet(void) { return quiet; }
void tp_progress_set_interval(double s) { if (s >= 0) plain_interval = s; }

double tp_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

tp_progress *tp_progress_init(const char *label, int64_t total) {
    tp_progress *p = calloc(1, sizeof *p);
    if (!p) { TP_ERROR(TP_ERR_NOMEM, "out of memory"); return NULL; }
    snprintf(p->label, sizeof p->label, "%s", label ? label : "progress");
    p->total = total;
    p->t0 = p->last = tp_clock();
    p->tty = isatty(2);
    return p;
}

void tp_progress_free(tp_progress *p) { free(p); }

static void fmt_rate(char *buf, size_t n, double r) {
    if (r >= 1e9) snprintf(buf, n, "%.2fG/s", r / 1e9);
    else if (r >= 1e6) snprintf(buf, n, "%.2fM/s", r / 1e6);
    else if (r >= 1e3) snprintf(buf, n, "%.2fk/s", r / 1e3);
    else snprintf(buf, n, "%.2f/s", r);
}

static void fmt_time(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(tp_progress *p, const char *extra, int final) {
    double now = tp_clock(), el = now - p->t0;
    char rate[32], eta[32] = "", pct[16] = "", count[64];
    fmt_rate(rate, sizeof rate, el > 0 ? (double)p->done / el : 0.0);
    if (p->total > 0) {
        snprintf(pct, sizeof pct, "%3d%%", (int)(100.0 * (double)p->done / (double)p->total));
        snprintf(count, sizeof count, "%lld/%lld", (long long)p->done, (long long)p->total);
        if (!final && p->done > 0) {
            char t[24];
            fmt_time(t, sizeof t, el * (double)(p->total - p->done) / (double)p->done);
            snprintf(eta, sizeof eta, "ETA %s", t);
        }
    } else {
        snprintf(count, sizeof count, "%lld", (long long)p->done);
    }
    if (final) { char t[24]; fmt_time(t, sizeof t, el); snprintf(eta, sizeof eta, "in %s", t); }
    if (p->tty) {
        char bar[23] = "";
        if (p->total > 0) {
            int fill = (int)(20.0 * (double)p->done / (double)p->total);
            if (fill > 20) fill = 20;
            bar[0] = '[';
            for (int i = 0; i < 20; i++) bar[i + 1] = i < fill ? '#' : '.';
            bar[21] = ']'; bar[22] = 0;
        }
        fprintf(stderr, "\r\033[K%s %s %s %s %s %s %s%s", p->label, bar, pct, count, rate, eta,
                extra ? extra : "", final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %s %s %s %s%s%s\n", p->label, count, pct, rate, eta,
                extra ? " " : "", extra ? extra : "");
    }
    fflush(stderr);
    p->last = now;
    p->drawn = 1;
}

void tp_progress_update(tp_progress *p, int64_t done, const char *extra) {
    if (!p) return;
    p->done = done;
    if (quiet) return;
    double now = tp_clock();
    if (now - p->last >= (p->tty ? 0.1 : plain_interval)) draw(p, extra, 0);
}

void tp_progress_finish(tp_progress *p) {
    if (!p || quiet) return;
    if (p->total > 0 && p->done < p->total && !tp_interrupted()) p->done = p->total;
    draw(p, tp_interrupted() ? "(interrupted)" : NULL, 1);
}
