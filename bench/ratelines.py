#!/usr/bin/python3
"""ratelines RATE SECONDS [stamp]: numbered lines at a fixed rate.

Writes lines 1..RATE*SECONDS to stdout, line k due at START + (k-1)/RATE,
in batches paced by CLOCK_MONOTONIC: every line already due goes out in one
write(2), then it sleeps until the next one is due (at least 1 ms, so a
high rate means batches of RATE/1000 lines).  START is 0.5 s after the
program begins, so the client's first fetch has happened (PCP's C agent
throws away lines written before it) and start-up is not measured.

Line format: "K" or, with "stamp", "K NS" where NS is CLOCK_REALTIME in
nanoseconds just before the write that carries the line.  A final line
"end NS" gives the generator's own time from its first write to the return
of its last one: longer than SECONDS means the reader could not keep up and
the pipe blocked the generator (back-pressure), i.e. the rate was not kept.

Parameters are plain digits and words because PCP's C agent accepts only
letters and digits.  Part of bench/: installed by bench/run, stdlib only.
"""
import os
import sys
import time


# "000\n" .. "999\n": lines 1000*K + i are str(K) joined with these, one
# C-level join per thousand lines, so the generator is not the limit.
SUFFIXES = [b"%03d\n" % i for i in range(1000)]


def numbers(a, b):
    """Lines a..b (inclusive), "K\n" each."""
    parts = []
    k = a
    if k < 1000:
        end = min(b, 999)
        parts.append(("\n".join(map(str, range(k, end + 1))) + "\n").encode())
        k = end + 1
    while k <= b:
        thousand, lo = divmod(k, 1000)
        hi = min(999, b - thousand * 1000)
        parts.append(str(thousand).encode().join([b""] + SUFFIXES[lo:hi + 1]))
        k = thousand * 1000 + hi + 1
    return b"".join(parts)


def write_all(data):
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "stamp"):
        sys.stderr.write("usage: ratelines RATE SECONDS [stamp]\n")
        return 2
    rate = int(sys.argv[1])
    seconds = float(sys.argv[2])
    stamp = len(sys.argv) == 4
    total = int(rate * seconds)
    if rate <= 0 or total <= 0:
        sys.stderr.write("ratelines: RATE and SECONDS must be positive\n")
        return 2

    time.sleep(0.5)
    start = time.monotonic()
    first = None
    n = 1  # next line to write
    while n <= total:
        elapsed = time.monotonic() - start
        due = min(total, int(elapsed * rate) + 1)  # lines 1..due are due now
        if due >= n:
            if stamp:
                ns = time.time_ns()
                data = "".join("%d %d\n" % (k, ns) for k in range(n, due + 1)).encode()
            else:
                data = numbers(n, due)
            if first is None:
                first = time.monotonic()
            write_all(data)
            n = due + 1
            continue
        next_due = start + (n - 1) / rate
        time.sleep(max(next_due - time.monotonic(), 0.001 if rate >= 1000 else 0.0))
    end = time.monotonic()
    write_all(b"end %d\n" % int((end - first) * 1e9))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(141)
