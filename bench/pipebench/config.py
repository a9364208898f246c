"""Where things are, what both agents are given, and what a run measures."""

import os
import re
import shutil

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))    # bench/
REPO = os.path.dirname(HERE)
PMSIGNAL = "/usr/lib/pcp/bin/pmsignal"
GEN_DIR = "/usr/local/libexec/pmdapipe-bench"
GEN = GEN_DIR + "/ratelines"
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


def command_lines():
    return ["%-9s root  %s" % (name, cmd) for name, cmd in COMMANDS]


def dropin_text():
    lines = [
        "# bench/run: the benchmark's commands (this file is removed when it ends).",
        "# instance  user  command",
    ]
    lines += command_lines()
    lines += [
        "",
        "# 100 concurrent clients of one user (root) for the memory test.",
        "[limits]",
        "max_running = 256",
        "max_per_user = 256",
        "",
        "[access]",
        "allow user * : " + ", ".join(name for name, _ in COMMANDS),
        "",
    ]
    return "\n".join(lines)


def cpipe_bench_block():
    return "\n".join([MARK_BEGIN] + command_lines() + [MARK_END, ""])


def strip_bench_block(text):
    return re.sub(re.escape(MARK_BEGIN) + r".*?" + re.escape(MARK_END) + r"\n?", "", text, flags=re.S)
