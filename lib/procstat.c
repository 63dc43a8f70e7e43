/* /proc/self/stat gives start time (clock ticks after boot), CPU ticks and memory;
 * /proc/stat gives the boot time; /proc/self/fd lists the open descriptors. The same
 * sources as the Prometheus client libraries, so the figures agree with theirs. */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int procstat_boot_time(double *out)
{
    char line[256];
    FILE *f = fopen("/proc/stat", "r");
    int rc = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long bt;
        if (sscanf(line, "btime %llu", &bt) == 1) {
            *out = (double)bt;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Fields after the command name, which is in parentheses and may hold spaces. */
static int procstat_self(struct procstat *out, double boot_s)
{
    char buf[1024];
    unsigned long long utime, stime, start, vsize;
    long long rss;
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;
    char *p;

    if (!f)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')) || tick <= 0 || page <= 0)
        return -1;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime priority nice threads itrealvalue starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return -1;
    out->cpu_s = (double)(utime + stime) / (double)tick;
    out->start_time_s = boot_s + (double)start / (double)tick;
    out->virtual_bytes = (double)vsize;
    out->resident_bytes = (double)rss * (double)page;
    return 0;
}

static double procstat_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    double n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* less the descriptor of the listing itself */
}

int procstat_read(struct procstat *out)
{
    struct rlimit rl;
    double boot_s;

    memset(out, 0, sizeof *out);
    if (procstat_boot_time(&boot_s) < 0 || procstat_self(out, boot_s) < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->open_fds = procstat_open_fds();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur;
    return 0;
}
