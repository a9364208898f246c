/*
 * ratelines RATE SECONDS [stamp]: numbered lines at a fixed rate.
 *
 * Writes lines 1..RATE*SECONDS to stdout, line k due at START + (k-1)/RATE,
 * in batches paced by CLOCK_MONOTONIC: every line already due goes out in one
 * write(2) (repeated only for what a partial write left), then it sleeps until
 * the next one is due (at least 1 ms when RATE >= 1000, so a high rate means
 * batches of RATE/1000 lines).  START is 0.5 s after the program begins, so
 * the client's first fetch has happened (PCP's C agent throws away lines
 * written before it) and start-up is not measured.
 *
 * Line format: "K" or, with "stamp", "K NS" where NS is CLOCK_REALTIME in
 * nanoseconds just before the write that carries the line.  A final line
 * "end NS" gives the generator's own time (CLOCK_MONOTONIC) from its first
 * write to the return of its last one: longer than SECONDS means the reader
 * could not keep up and the pipe blocked the generator (back-pressure), i.e.
 * the rate was not kept.
 *
 * Exit status: 0; 2 with a usage message for wrong arguments or a RATE or
 * SECONDS that is not positive; 141 when the reader has gone (EPIPE);
 * 1 for any other error (an unparsable number, a failed write).
 *
 * Parameters are plain digits and words because PCP's C agent accepts only
 * letters and digits.  RATE is an integer, SECONDS a decimal number, as
 * Python's int() and float() read them (the generator was Python before).
 *
 * Why C: the benchmark measures the agent + pmcd + client chain on a machine
 * with only 2 CPUs, and the generator runs on the same CPUs.  The Python
 * version spent about 0.2 CPU at 4-5M lines/s, taken from the chain under
 * test.  Here the decimal digits of the next number live in a small buffer
 * and are incremented in place (no printf per line), each line is a fixed-size
 * copy into one output buffer that is reused and only ever grows, and there is
 * no allocation per line or per batch.
 *
 * Part of bench/: built by bench/run with `cc -O2`; C11, libc and POSIX only.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Room for any long long in decimal (19 digits) and the separator after it;
 * also the size of the fixed copy per line, so the output buffer keeps this
 * much slack past the last line. */
#define FIELD 32

/* The next line number: its digits left-aligned in digits[0..len-1]; bytes
 * from digits[len] on are the rest of the line (newline, or space + stamp). */
struct counter {
    char digits[FIELD];
    size_t len;
};

static void counter_set(struct counter *c, long long k)
{
    memset(c->digits, 0, sizeof c->digits);
    c->len = (size_t)snprintf(c->digits, sizeof c->digits, "%lld", k);
    c->digits[c->len] = '\n';
}

/* Adds one in place: usually one digit changes; 9...9 gains a digit. */
static void counter_next(struct counter *c)
{
    size_t i = c->len;
    while (i > 0 && c->digits[i - 1] == '9')
        c->digits[--i] = '0';
    if (i > 0) {
        c->digits[i - 1]++;
        return;
    }
    memmove(c->digits + 1, c->digits, c->len);
    c->digits[0] = '1';
    c->len++;
    c->digits[c->len] = '\n';
}

/* The output buffer: reused for every batch, grown (never shrunk) when a
 * batch needs more, with FIELD bytes of slack for the fixed-size copies. */
static char *buf;
static size_t cap;

static void fail(const char *what)
{
    fprintf(stderr, "ratelines: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void reserve(size_t need)
{
    if (need + FIELD <= cap)
        return;
    size_t n = cap ? cap : 65536;
    while (n < need + FIELD)
        n *= 2;
    char *p = realloc(buf, n);
    if (p == NULL)
        fail("out of memory");
    buf = p;
    cap = n;
}

/* write(2) until all of it is out; EINTR retried.  A reader that has gone
 * (EPIPE: SIGPIPE is ignored) ends the program with status 141, as a shell
 * reports death by SIGPIPE. */
static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                exit(141);
            fail("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static long long now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps the given seconds, to an absolute CLOCK_MONOTONIC deadline so that
 * a signal interrupting it does not lengthen it. */
static void sleep_for(double seconds)
{
    if (seconds <= 0)
        return;
    double ns = seconds * 1e9;
    long long whole = (long long)ns;
    long long deadline = now_ns(CLOCK_MONOTONIC) + whole + ((double)whole < ns); /* rounded up */
    struct timespec ts = { .tv_sec = deadline / 1000000000LL, .tv_nsec = deadline % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Arguments, read as Python's int() and float() read them. */

/* Removes leading and trailing ASCII white space and the underscores Python
 * allows between digits ("1_000"); 0 if an underscore is misplaced or the
 * result does not fit. */
static int python_digits(const char *s, char *out, size_t size)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (i == 0 || i + 1 == n || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1]))
                return 0;
            continue;
        }
        if (o + 1 >= size)
            return 0;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return 1;
}

static int parse_rate(const char *arg, long long *rate)
{
    char s[64];
    if (!python_digits(arg, s, sizeof s))
        return 0;
    const char *p = s + (s[0] == '+' || s[0] == '-');
    if (*p == '\0')
        return 0;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return 0;
    errno = 0;
    *rate = strtoll(s, NULL, 10);
    return errno == 0;
}

static int parse_seconds(const char *arg, double *seconds)
{
    char s[512];
    if (!python_digits(arg, s, sizeof s))
        return 0;
    const char *p = s + (s[0] == '+' || s[0] == '-');
    if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0 || strcasecmp(p, "nan") == 0) {
        *seconds = strtod(s, NULL);
        return 1;
    }
    /* digits [. digits] or . digits, then an optional exponent: no hex */
    size_t before = strspn(p, "0123456789");
    p += before;
    size_t after = 0;
    if (*p == '.') {
        after = strspn(p + 1, "0123456789");
        p += 1 + after;
    }
    if (before + after == 0)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += (*p == '+' || *p == '-');
        size_t exp = strspn(p, "0123456789");
        if (exp == 0)
            return 0;
        p += exp;
    }
    if (*p != '\0')
        return 0;
    *seconds = strtod(s, NULL);
    return 1;
}

static int usage(void)
{
    fputs("usage: ratelines RATE SECONDS [stamp]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if ((argc != 3 && argc != 4) || (argc == 4 && strcmp(argv[3], "stamp") != 0))
        return usage();
    long long rate;
    double seconds;
    if (!parse_rate(argv[1], &rate)) {
        fprintf(stderr, "ratelines: RATE is not an integer: '%s'\n", argv[1]);
        return 1;
    }
    if (!parse_seconds(argv[2], &seconds)) {
        fprintf(stderr, "ratelines: SECONDS is not a number: '%s'\n", argv[2]);
        return 1;
    }
    int stamp = argc == 4;
    double product = (double)rate * seconds;
    if (product != product || product >= 9.2e18 || product < -DBL_MAX) { /* NaN, too many, -inf */
        fprintf(stderr, "ratelines: RATE*SECONDS is not a usable line count\n");
        return 1;
    }
    long long total = product < 1 ? 0 : (long long)product;
    if (rate <= 0 || total <= 0) {
        fputs("ratelines: RATE and SECONDS must be positive\n", stderr);
        return 2;
    }

    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);

    struct counter next;
    counter_set(&next, 1);
    char stamp_text[FIELD];
    size_t stamp_len = 0;
    double min_sleep = rate >= 1000 ? 0.001 : 0.0;

    sleep_for(0.5);
    double start = monotonic();
    long long first = -1;
    long long n = 1; /* next line to write */
    while (n <= total) {
        double ticks = (monotonic() - start) * (double)rate;
        long long due = ticks >= (double)total ? total : (long long)ticks + 1; /* 1..due are due now */
        if (due >= n) {
            if (stamp) {
                stamp_len = (size_t)snprintf(stamp_text, sizeof stamp_text, " %lld\n",
                                             now_ns(CLOCK_REALTIME));
            }
            /* every line of the batch is at most as long as the last one */
            size_t width = 1;
            for (long long d = due; d >= 10; d /= 10)
                width++;
            size_t line_max = width + (stamp ? stamp_len : 1);
            reserve((size_t)(due - n + 1) * line_max);
            char *out = buf;
            if (stamp) {
                for (long long k = n; k <= due; k++) {
                    memcpy(out, next.digits, next.len);
                    memcpy(out + next.len, stamp_text, stamp_len);
                    out += next.len + stamp_len;
                    counter_next(&next);
                }
            } else {
                for (long long k = n; k <= due; k++) {
                    memcpy(out, next.digits, FIELD); /* digits and '\n', plus slack */
                    out += next.len + 1;
                    counter_next(&next);
                }
            }
            if (first < 0)
                first = now_ns(CLOCK_MONOTONIC);
            write_all(buf, (size_t)(out - buf));
            n = due + 1;
            if (n > total)
                break;
        }
        /* Sleep even when more lines fell due during the write: going round
         * again at once would make a write per few lines at millions of
         * lines/s, a busy loop taking a CPU from the chain under test. */
        double next_due = start + (double)(n - 1) / (double)rate;
        double wait = next_due - monotonic();
        sleep_for(wait > min_sleep ? wait : min_sleep);
    }
    long long end = now_ns(CLOCK_MONOTONIC);
    char last[FIELD + 8];
    int len = snprintf(last, sizeof last, "end %lld\n", end - first);
    write_all(last, (size_t)len);
    return 0;
}
