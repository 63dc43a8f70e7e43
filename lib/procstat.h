/* The process's own figures for the Prometheus process_* family, read from /proc/self
 * (Linux): start time, CPU time, memory and file descriptors. */
#ifndef TTR_PROCSTAT_H
#define TTR_PROCSTAT_H

struct procstat {
    double start_time_s; /* unix seconds */
    double cpu_s;        /* user + system */
    double resident_bytes;
    double virtual_bytes;
    double open_fds;
    double max_fds; /* the soft RLIMIT_NOFILE */
};

/* Returns 0, or -1 when /proc cannot be read (then out is zeroed). */
int procstat_read(struct procstat *out);

#endif
