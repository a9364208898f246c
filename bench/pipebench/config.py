"""Where things are, what both agents are given, and what a run measures."""

import os
import re
import shutil

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))    # bench/
REPO = os.path.dirname(HERE)
PMSIGNAL = "/usr/lib/pcp/bin/pmsignal"
GEN_DIR = "/usr/local/libexec/pmdapipe-bench"
GEN = GEN_DIR + "/ratelines"
CLIENT = GEN_DIR + "/pcpclient"     # bench/pcpclient.c: stores PCP's tools do not make
PIN_DIR = GEN_DIR + "/pins"         # the pinned programs of the reload test
GATE = GEN_DIR + "/gate"            # a FIFO: shared seq runs wait on it for their readers
CC = shutil.which("cc")
PMPIPE = shutil.which("pmpipe") or "/usr/local/bin/pmpipe"
DROPIN = "/etc/pcp/pipe.conf.d/zz-bench.conf"
PCP_PMDAS = "/var/lib/pcp/pmdas"
CPIPE_DIR = PCP_PMDAS + "/cpipe"
CPIPE_CONF = CPIPE_DIR + "/cpipe.conf"
MARK_BEGIN = "# >>> added by bench/run for the benchmark (removed when it ends)"
MARK_END = "# <<< end of bench/run lines"

# The commands both agents offer during the run.  Plain words, so ours runs
# them without a shell; the C agent always runs them through /bin/sh -c.
COMMANDS = [
    ("b_seq", "seq 1 $1"),
    ("b_rate", GEN + " $1 $2"),
    ("b_stamp", GEN + " $1 $2 stamp"),
    ("b_slow", GEN + " 10 $1"),
]

# Rates tried for the sustained test, lines per second.
RATES = [1000, 5000, 20000, 50000, 100000, 200000, 300000, 400000, 500000, 600000, 700000, 1000000, 2000000,
         3000000, 4000000, 4500000, 5000000, 6000000, 7000000, 8000000]
QUICK_RATES = [1000, 20000, 200000, 1000000, 2000000, 5000000, 8000000]

# Commands only our agent gets: what PCP's C agent has no equivalent for
# (max_line, shared runs, sha256 pins).  (name, command line, [instance]
# settings).  Runs of b_share wait for the bench to open the gate (all its
# readers attached) before writing; retain is short so that the finished
# runs' buffers are gone before the last idle RSS is measured.
HUGE_LINE = 100000000
HUGE_MAX_LINE = "8m"                # the agent's largest max_line
OURS_ONLY = [
    ("b_huge", "head -c %d /dev/zero | tr '\\0' x" % HUGE_LINE, ["max_line = " + HUGE_MAX_LINE]),
    ("b_share", "cat %s >/dev/null; seq 1 $1" % GATE,
     ["shared = yes", "buffer = 128m", "retain = 30s", "param 1 = integer 1..100000000"]),
    ("b_arch", GEN + " $1 $2", ["shared = yes", "retain = 30s"]),
]
# pmlogger runs as pcp (as Debian runs it); reading a shared run it did not
# start needs a read rule.
ARCHIVE_READER = "pcp"
PIN_COUNT = 6
PIN_SIZES_MIB = [64, 128]
PIN_SCRIPT = b"#!/bin/sh\necho hi\nexit 0\n"


class Plan:
    """The sizes of one run: the full run's, or --quick's shorter ones."""

    def __init__(self, quick):
        self.quick = quick
        self.bursts = [10000, 100000, 1000000]
        self.sustain_seconds = 2 if quick else 10
        self.rates = QUICK_RATES if quick else RATES
        self.latency_lines, self.latency_rate = (100, 50) if quick else (250, 50)
        self.latency_intervals = ["100ms", "1ms"]
        self.nclients = 100
        self.cpu_rate, self.cpu_seconds = 200000, 5
        self.cpu_rounds = 1 if quick else 3
        self.huge_clients = 8
        self.pin_sizes = PIN_SIZES_MIB[:1] if quick else PIN_SIZES_MIB
        self.shared_lines = 100000 if quick else 1000000
        self.shared_readers = [1, 10, 100]
        self.archive_rate, self.archive_seconds = 100000, (3 if quick else 10)
        # pmlogger's -T: the run writes after 0.5 s, and its end record comes a second later.
        self.archive_logging = self.archive_seconds + 6


def command_lines():
    return ["%-9s root  %s" % (name, cmd) for name, cmd in COMMANDS]


def ours_only_lines():
    return ["%-9s root  %s" % (name, cmd) for name, cmd, _ in OURS_ONLY]


def pin_name(n):
    return "b_pin%d" % n


def pin_path(n):
    return "%s/big%d" % (PIN_DIR, n)


def dropin_text(pins=None):
    """Our agent's drop-in; pins: {n: sha256 hex} of pinned programs to add."""
    pins = pins or {}
    names = [name for name, _ in COMMANDS] + [name for name, _, _ in OURS_ONLY]
    lines = [
        "# bench/run: the benchmark's commands (this file is removed when it ends).",
        "# instance  user  command",
    ]
    lines += command_lines()
    lines += ["", "# Only this agent: max_line, shared runs, pins."]
    lines += ours_only_lines()
    for n in sorted(pins):
        lines.append("%-9s root  %s" % (pin_name(n), pin_path(n)))
        names.append(pin_name(n))
    for name, _, settings in OURS_ONLY:
        lines += ["", "[instance %s]" % name] + settings
    for n in sorted(pins):
        lines += ["", "[instance %s]" % pin_name(n), "sha256 = " + pins[n]]
    lines += [
        "",
        "# 100 concurrent clients of one user (root) for the memory test.",
        "[limits]",
        "max_running = 256",
        "max_per_user = 256",
        "",
        "[access]",
        "allow user * : " + ", ".join(names),
        "read user %s : b_arch" % ARCHIVE_READER,
        "",
    ]
    return "\n".join(lines)


def dropin_names(pins=None):
    return ({name for name, _ in COMMANDS} | {name for name, _, _ in OURS_ONLY}
            | {pin_name(n) for n in (pins or {})})


def cpipe_bench_block():
    return "\n".join([MARK_BEGIN] + command_lines() + [MARK_END, ""])


def strip_bench_block(text):
    return re.sub(re.escape(MARK_BEGIN) + r".*?" + re.escape(MARK_END) + r"\n?", "", text, flags=re.S)
