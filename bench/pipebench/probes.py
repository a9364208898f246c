"""What the bench reads off the machine, through psutil.

psutil reads the same /proc files the bench used to parse by hand
(/proc/PID/stat for CPU times and parents, /proc/PID/statm for RSS,
/proc/PID/cmdline, /proc/stat, /proc/loadavg, /proc/meminfo), with the
field positions, clock-tick scaling and vanished-process races handled by a
library that many tools rely on.  Debian packages it as python3-psutil for
/usr/bin/python3.
"""

import platform
import re

import psutil

from .shell import BenchError


def _gone(pid):
    return BenchError("process %s has gone" % pid)


def cpu_seconds(pid):
    """utime + stime of one process, in seconds (clock-tick resolution)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        raise _gone(pid) from None
    return t.user + t.system


def rss_kib(pid):
    """Resident set size in KiB (what /proc/PID/status calls VmRSS)."""
    try:
        return psutil.Process(pid).memory_info().rss // 1024
    except psutil.NoSuchProcess:
        raise _gone(pid) from None


def children(pid):
    """How many processes have pid as their parent (0 once it has gone)."""
    try:
        return len(psutil.Process(pid).children())
    except psutil.NoSuchProcess:
        return 0


def pids_with_argv0(path):
    """The processes whose argv[0] is path."""
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][0] == path]


def pids_matching(pattern):
    """Like `pgrep -f PATTERN`: processes whose command line (its name when
    it has none) matches the regular expression; never this process."""
    me = psutil.Process().pid
    found = []
    for p in psutil.process_iter(["cmdline", "name"]):
        line = " ".join(p.info["cmdline"] or []) or p.info["name"] or ""
        if p.pid != me and re.search(pattern, line):
            found.append(p.pid)
    return found


def pmcd_pid():
    """Like `pgrep -x pmcd`: the first process named pmcd."""
    pid = next((p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "pmcd"), None)
    if pid is None:     # psutil.Process(None) would be this process
        raise BenchError("pmcd is not running")
    return pid


def cpu_steal_ticks():
    """(steal, total) CPU time of all CPUs so far (user to steal, as /proc/stat
    counts them); only their ratio is used."""
    t = psutil.cpu_times()
    return t.steal, t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal


def loadavg():
    """The three load averages as /proc/loadavg prints them."""
    return ["%.2f" % x for x in psutil.getloadavg()]


def cpu_count():
    return psutil.cpu_count()


def memory_gib():
    return psutil.virtual_memory().total / 1024 ** 3


def cpu_model():
    """The first "model name" of /proc/cpuinfo (psutil does not name CPUs)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        return "?"


def os_name():
    try:
        return platform.freedesktop_os_release()["PRETTY_NAME"]
    except Exception:
        return "?"
