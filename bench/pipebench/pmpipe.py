"""Runs of the client, pmpipe, and checks of what it printed."""

import os
import select
import signal
import subprocess
import time

from .config import PMPIPE

running = set()          # pmpipe (and other client) processes this run started


def pmpipe_args(agent, instance, params, interval):
    return [PMPIPE, "--prefix", agent.prefix, "-i", instance, "-x", params, "-t", interval]


def start(agent, instance, params, interval, **popen):
    """Starts one pmpipe, remembered so that stop_all() ends it."""
    proc = subprocess.Popen(pmpipe_args(agent, instance, params, interval), stdin=subprocess.DEVNULL, **popen)
    running.add(proc)
    return proc


def track(proc):
    """Remembers another process the run started (pmlogger, pcpclient) so
    that stop_all() ends it too."""
    running.add(proc)
    return proc


def stop(proc):
    """Ends one process this run started (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    running.discard(proc)


def stop_all():
    for p in list(running):
        stop(p)


class Run:
    """One pmpipe run, stdout into a file."""
    ended = True        # pmpipe exited by itself
    status = None
    wall = 0.0          # start to exit, or to the last output seen if stopped
    client_cpu = None   # pmpipe's own user+sys seconds (None: it was stopped)
    data = b""


def run_to_file(agent, instance, params, interval, tmpdir, idle_timeout, hard_timeout):
    """Runs pmpipe until it exits, or until its output stops growing for
    idle_timeout seconds (then it is stopped: the stream did not end)."""
    path = os.path.join(tmpdir, "out")
    r = Run()
    with open(path, "wb") as out, open(os.path.join(tmpdir, "err"), "wb") as err:
        start_time = time.monotonic()
        proc = start(agent, instance, params, interval, stdout=out, stderr=err)
        pidfd = os.pidfd_open(proc.pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        size, last_growth = 0, start_time
        try:
            while True:
                if poller.poll(100):
                    break
                now = time.monotonic()
                cur = os.fstat(out.fileno()).st_size
                if cur != size:
                    size, last_growth = cur, now
                if now - last_growth > idle_timeout or now - start_time > hard_timeout:
                    r.ended = False
                    break
            end = time.monotonic()
            if r.ended:
                # wait4 rather than Popen.wait: it also gives pmpipe's CPU time.
                _, wstatus, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(wstatus)
                r.status = proc.returncode
                r.client_cpu = usage.ru_utime + usage.ru_stime
                r.wall = end - start_time
            else:
                r.wall = last_growth - start_time
                stop(proc)
        finally:
            os.close(pidfd)
            if proc.poll() is None:
                stop(proc)
            running.discard(proc)
    with open(path, "rb") as f:
        r.data = f.read()
    os.unlink(path)
    return r


def count_lines(data):
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def seq_bytes(n):
    return ("\n".join(map(str, range(1, n + 1))) + "\n").encode()


def first_difference(data, expected):
    """'line L' where data first differs from expected, for the notes."""
    n = min(len(data), len(expected))
    i = next((k for k in range(0, n, 65536) if data[k:k + 65536] != expected[k:k + 65536]), None)
    if i is None:
        where = n
    else:
        j = i
        while j < n and data[j] == expected[j]:
            j += 1
        where = j
    return expected[:where].count(b"\n") + 1
