"""Number formats, the results table, and RESULTS.md."""

import os
import platform
import re

from . import probes
from .agents import CAGENT, SWIFT
from .config import (ARCHIVE_READER, CLIENT, COMMANDS, CPIPE_CONF, DROPIN, OURS_ONLY, PIN_COUNT, PIN_DIR, PMPIPE, REPO,
                     command_lines, ours_only_lines)
from .shell import sh


def fmt_int(n):
    return "{:,}".format(int(n))


def fmt_rate(r):
    if r >= 1000000 and r % 100000 == 0:
        return "%gM" % (r / 1000000)
    if r >= 1000 and r % 1000 == 0:
        return "%dk" % (r // 1000)
    return str(r)


def fmt_num(x):
    return ("%g" % x)


def fmt_s(s):
    return "%.2f s" % s if s < 10 else "%.1f s" % s


def fmt_mib(kib):
    return "%.1f MiB" % (kib / 1024)


def met(ok):
    return "**met**" if ok else "**not met**"


class Table:
    """The results table: one row per measure, a column per agent, and
    numbered notes for what a cell cannot say."""

    def __init__(self):
        self.rows = []
        self.notes = []

    def row(self, what, swift, c, target="", met=""):
        self.rows.append((what, swift, c, target, met))

    def note(self, text):
        self.notes.append(text)
        return "[%d]" % len(self.notes)

    def markdown(self):
        out = ["| measure | Swift agent (`pipe`) | C agent (`cpipe`) | target (Swift) | met |",
               "|---|---|---|---|---|"]
        for r in self.rows:
            out.append("| " + " | ".join(r) + " |")
        if self.notes:
            out.append("")
            for i, n in enumerate(self.notes, 1):
                out.append("[%d] %s  " % (i, n))
        return "\n".join(out)


def machine_summary():
    def first(cmd):
        try:
            return sh(cmd, check=False).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    pcp = re.search(r'value "([^"]+)"', sh(["pminfo", "-f", "pmcd.version"], check=False).stdout)
    return [
        ("CPUs (`nproc`)", str(probes.cpu_count())),
        ("CPU", probes.cpu_model()),
        ("memory", "%.1f GiB" % probes.memory_gib()),
        ("OS", probes.os_name()),
        ("kernel", platform.release()),
        ("PCP", pcp.group(1) if pcp else "?"),
        ("Swift agent", SWIFT.exe + " (" + fmt_mib(os.path.getsize(SWIFT.exe) / 1024) + " binary)"),
        ("C agent", CAGENT.exe + " (Debian's PCP pmdapipe, via scripts/c-agent)"),
        ("client", PMPIPE),
        ("repository commit", first(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])),
    ]


def render(plan, table, started, elapsed, loadavg, sustained_log, tests_seen):
    """RESULTS.md: the table, the machine, every sustained run, the commands."""
    out = []
    out.append("# Benchmark results: Swift pipe agent vs PCP's C pipe agent")
    out.append("")
    out.append("`%s` on %s, %.0f s. What the numbers mean and how they are measured: "
               "[bench/README.md](README.md)." % ("sudo bench/run" + (" --quick" if plan.quick else ""),
                                                  started.strftime("%Y-%m-%d %H:%M UTC"), elapsed))
    if plan.quick:
        out.append("")
        out.append("**Quick (smoke) run: short durations, not the reference numbers.**")
    out.append("")
    out.append(table.markdown())
    out.append("")
    out.append("## Machine")
    out.append("")
    for k, v in machine_summary():
        out.append("- %s: %s" % (k, v))
    out.append("- load average at the start: %s" % " ".join(loadavg))
    if tests_seen:
        out.append("- **the project's tests were running during: %s** (numbers may be skewed)" % ", ".join(tests_seen))
    else:
        out.append("- no test run of the project was seen during the measurements")
    out.append("")
    out.append("## Sustained runs")
    out.append("")
    out.append("| agent | lines/s | lossless | rate kept | detail |")
    out.append("|---|---|---|---|---|")
    for a, rate, lossless, kept, remark in sustained_log:
        out.append("| %s | %s | %s | %s | %s |" % (a.label, fmt_int(rate), "yes" if lossless else "no",
                                                 "yes" if kept else "no", remark))
    out.append("")
    out.append("## Exact commands")
    out.append("")
    out.append("Both agents were given these commands, run as root (ours from `%s`, "
               "the C agent's from lines appended to `%s`, restarted through its PCP Install; "
               "both removed afterwards):" % (DROPIN, CPIPE_CONF))
    out.append("")
    out.append("```")
    out.extend(command_lines())
    out.append("```")
    out.append("")
    out.append("Ours also got `[limits] max_running = 256, max_per_user = 256` (for the %d clients) "
               "and `[access] allow user * : %s` (and the commands below). `ratelines` is "
               "[bench/ratelines.c](ratelines.c), built with `cc -O2`. Client invocations (`P` = `pipe` or `cpipe`):"
               % (plan.nclients, ", ".join(name for name, _ in COMMANDS)))
    out.append("")
    out.append("```")
    out.append("pmpipe --prefix P -i b_seq   -x N -t 100ms                       # N = 10000, 100000, 1000000")
    out.append("pmpipe --prefix P -i b_rate  -x 'RATE %g' -t 100ms               # RATE = %s" % (
        plan.sustain_seconds, ", ".join(str(r) for r in plan.rates)))
    out.append("pmpipe --prefix P -i b_rate  -x '%d %d' -t 100ms                  # CPU, paced" % (
        plan.cpu_rate, plan.cpu_seconds))
    out.append("pmpipe --prefix P -i b_stamp -x '%d %g' -t 100ms   and   -t 1ms     # latency" % (
        plan.latency_rate, plan.latency_lines / plan.latency_rate))
    out.append("pmpipe --prefix P -i b_slow  -x 120 -t 100ms                     # x %d at once, RSS" % plan.nclients)
    out.append("```")
    out.append("")
    out.append("Only our agent (max_line, pins, shared runs) also got these, with these `[instance]` settings, "
               "`allow user *` for each and `read user %s : b_arch` in `[access]`:" % ARCHIVE_READER)
    out.append("")
    out.append("```")
    out.extend(ours_only_lines())
    for name, _, settings in OURS_ONLY:
        out.append("[instance %s]  %s" % (name, "; ".join(settings)))
    out.append("b_pinN    root  %s/bigN          # N = 1..%d, each with [instance b_pinN] sha256 = its digest, "
               "only during the reload test" % (PIN_DIR, PIN_COUNT))
    out.append("```")
    out.append("")
    out.append("and these requests (`pcpclient` is [bench/pcpclient.c](pcpclient.c), built with `cc -O2 -lpcp` "
               "as `%s`):" % CLIENT)
    out.append("")
    out.append("```")
    out.append("pcpclient hold pipe b_huge '' %d                      # %d contexts store, never fetch" % (
        plan.huge_clients, plan.huge_clients))
    out.append("pmsignal -a -s HUP pmdapipe (a kill(2) of the agent)  # with the b_pinN drop-in, page cache dropped; "
               "pmpipe -i b_pinN until it prints hi")
    out.append("pcpclient start b_share %d                       # then N x: pmpipe --attach b_share.SEQ --from start "
               "-t 100ms, N = %s" % (plan.shared_lines, ", ".join(str(n) for n in plan.shared_readers)))
    out.append("pmlogger -c CONFIG -T %dsec ARCHIVE (as %s)       # CONFIG: log mandatory on 1 sec { pipe.run.records }" % (
        plan.archive_logging, ARCHIVE_READER))
    out.append("pcpclient start b_arch '%d %d'                   # then: pmpipe -a ARCHIVE -i b_arch.SEQ" % (
        plan.archive_rate, plan.archive_seconds))
    out.append("```")
    out.append("")
    return "\n".join(out)
