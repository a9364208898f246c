"""The measurements, in the order bench/run calls them.

Each phase runs the same thing against both agents and adds its rows (and
numbered notes) to the table; the order of the calls is the order of the
rows and of the notes in RESULTS.md.
"""

import errno
import hashlib
import json
import os
import pwd
import re
import select
import shutil
import signal
import statistics
import subprocess
import time

from . import pmpipe, probes
from .agents import AGENTS, CAGENT, SWIFT, wait_commands
from .config import (ARCHIVE_READER, CLIENT, GATE, HUGE_LINE, HUGE_MAX_LINE, PIN_COUNT, PIN_DIR, PIN_SCRIPT, PMPIPE,
                     pin_name, pin_path)
from .pcpapi import Pmcd
from .pmpipe import count_lines, first_difference, run_to_file, seq_bytes, stop
from .report import fmt_int, fmt_mib, fmt_num, fmt_rate, fmt_s, met
from .shell import BenchError, log

# ------------------------------------------------------------ the tests ---

TESTS_PATTERN = "PackageTests|swift-test|swift-build"
tests_seen = []          # phases during which the project's tests were running


def wait_for_tests(phase, deadline, check_agents=True):
    """Waits (up to the global deadline) while the project's tests run."""
    first = True
    while True:
        out = [str(p) for p in probes.pids_matching(TESTS_PATTERN)]
        if not out:
            if not first and check_agents:
                # A test run may have reinstalled or restarted an agent:
                # wait until both serve the bench's commands again.
                for a in AGENTS:
                    wait_commands(a.prefix, True, timeout=60)
                    a.pid()
            return
        if time.monotonic() >= deadline:
            log("tests still running (pids %s); measuring anyway: %s" % (" ".join(out), phase))
            tests_seen.append(phase)
            return
        if first:
            log("waiting for the project's tests to finish (pids %s) before: %s" % (" ".join(out), phase))
            first = False
        time.sleep(2)


# ------------------------------------------------------------- memory ---

def idle_rss(label):
    out = {}
    for a in AGENTS:
        out[a] = probes.rss_kib(a.pid())
    log("idle RSS (%s): %s" % (label, ", ".join("%s %s" % (a.label, fmt_mib(k)) for a, k in out.items())))
    return out


def clients(nclients, tmpdir):
    """RSS of each agent with nclients pmpipe clients running b_slow."""
    out = {}
    for a in AGENTS:
        pid = a.pid()
        procs, files, errs = [], [], []
        try:
            for i in range(nclients):
                f = open(os.path.join(tmpdir, "client%d" % i), "wb")
                files.append(f)
                e = open(os.path.join(tmpdir, "client%d.err" % i), "wb")
                errs.append(e)
                procs.append(pmpipe.start(a, "b_slow", "120", "100ms", stdout=f, stderr=e))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                kids = probes.children(pid)
                talking = sum(1 for f in files if os.fstat(f.fileno()).st_size > 0)
                if kids >= nclients and talking >= nclients:
                    break
                time.sleep(0.5)
            time.sleep(3)
            kids = probes.children(pid)
            talking = sum(1 for f in files if os.fstat(f.fileno()).st_size > 0)
            alive = sum(1 for p in procs if p.poll() is None)
            rss = probes.rss_kib(pid)
            messages = {}
            for e in errs:
                e.flush()
                with open(e.name, "rb") as f:
                    text = f.read().decode(errors="replace").strip()
                if text:
                    messages[text] = messages.get(text, 0) + 1
            out[a] = (rss, kids, talking, alive, messages)
            log("%d clients via %s: RSS %s, %d commands running, %d clients receiving lines, %d pmpipe alive" % (
                nclients, a.prefix, fmt_mib(rss), kids, talking, alive))
        finally:
            for p in procs:
                stop(p)
            for f in files + errs:
                f.close()
        # let the agent stop and reap the commands before the next one
        end = time.monotonic() + 15
        while probes.children(pid) > 0 and time.monotonic() < end:
            time.sleep(0.5)
        time.sleep(1)
    return out


def rss_rows(table, idle, busy, idle_after, nclients):
    ratio = idle[SWIFT] / idle[CAGENT]
    table.row("agent RSS idle, before the tests (after 5 s without activity)",
              fmt_mib(idle[SWIFT]), fmt_mib(idle[CAGENT]),
              "≤ 2× the C agent's", met(ratio <= 2) + " (%.1f×)" % ratio)
    cells = {}
    for a in AGENTS:
        rss, kids, talking, alive, messages = busy[a]
        cells[a] = fmt_mib(rss)
        if kids < nclients or talking < nclients or messages:
            said = "; ".join("%d× \"%s\"" % (n, m) for m, n in sorted(messages.items(), key=lambda x: -x[1]))
            cells[a] += " " + table.note("%s: %d of %d commands running, %d clients receiving lines%s." % (
                a.label, kids, nclients, talking, ("; pmpipe said: " + said) if said else ""))
    table.row("agent RSS, %d clients each running `ratelines 10` (10 lines/s)" % nclients,
              cells[SWIFT], cells[CAGENT])
    table.row("agent RSS idle, after all the tests (5 s without activity)",
              fmt_mib(idle_after[SWIFT]), fmt_mib(idle_after[CAGENT]))


# ------------------------------------------------------------- bursts ---

def bursts(sizes, tmpdir, table, cpu_samples):
    for n in sizes:
        expected = seq_bytes(n)
        cells = {}
        for a in AGENTS:
            pid, pmcd = a.pid(), probes.pmcd_pid()
            cpu0, pmcd0 = probes.cpu_seconds(pid), probes.cpu_seconds(pmcd)
            r = run_to_file(a, "b_seq", str(n), "100ms", tmpdir, idle_timeout=5,
                            hard_timeout=60 + n / 10000)
            cpu, pmcd_cpu = probes.cpu_seconds(pid) - cpu0, probes.cpu_seconds(pmcd) - pmcd0
            lines = count_lines(r.data)
            ok = r.data == expected
            if r.ended:
                timing = "%s, %s lines/s" % (fmt_s(r.wall), fmt_int(lines / r.wall))
            elif lines:
                timing = "never ended (last line after %s), %s lines/s" % (fmt_s(r.wall), fmt_int(lines / max(r.wall, 0.1)))
            else:
                timing = "never ended, no line"
            cell = "%s lines, %s, %s" % (fmt_int(lines), "correct" if ok else "**wrong**", timing)
            detail = []
            if not ok:
                detail.append("differs from `seq 1 %d` from line %s on" % (n, fmt_int(first_difference(r.data, expected))))
            if not r.ended:
                detail.append("the stream never ended: pmpipe was stopped after 5 s without output")
            elif r.status not in (0,):
                detail.append("pmpipe exit status %s" % r.status)
            if detail:
                cell += " " + table.note("%s, `seq 1 %d`: %s." % (a.label, n, "; ".join(detail)))
            cells[a] = (cell, ok, r)
            log("burst %d via %s: %d lines, %s, %.2fs, agent cpu %.2fs" % (n, a.prefix, lines, "correct" if ok else "WRONG", r.wall, cpu))
            if n == 1000000:
                cpu_samples["burst"][a] = (cpu, pmcd_cpu, r.client_cpu, lines, ok)
            time.sleep(1)
        target, verdict = "", ""
        if n == 1000000:
            target = "complete, in order, < 5 s"
            s = cells[SWIFT]
            verdict = met(s[1] and s[2].ended and s[2].wall < 5)
        table.row("burst `seq 1 %s`: lines delivered, correct?, wall time, lines/s" % fmt_int(n),
                  cells[SWIFT][0], cells[CAGENT][0], target, verdict)


# ---------------------------------------------------------- sustained ---

def sustained_once(agent, rate, seconds, tmpdir):
    """(lossless, kept, achieved rate, remark) for one paced run."""
    total = int(rate * seconds)
    r = run_to_file(agent, "b_rate", "%d %s" % (rate, fmt_num(seconds)), "100ms", tmpdir,
                    idle_timeout=3, hard_timeout=seconds * 3 + 30)
    numbers = seq_bytes(total)
    m = re.fullmatch(rb"end (\d+)\n", r.data[len(numbers):]) if r.data.startswith(numbers) else None
    lossless = m is not None
    gen_elapsed = int(m.group(1)) / 1e9 if m else None
    # The generator's last line is due at (total-1)/rate; back-pressure makes it later.
    due = (total - 1) / rate
    kept = lossless and gen_elapsed <= due * 1.02 + 0.05 and r.wall <= seconds + 2.0
    achieved = total / gen_elapsed if gen_elapsed else None
    if lossless:
        remark = "lossless, generator took %.2f s for %.2f s of lines" % (gen_elapsed, due)
    else:
        body = r.data
        if body.endswith(b"\n") and re.search(rb"(^|\n)end \d+\n$", body):
            body = body[:body.rfind(b"end ")]
        got = count_lines(body)
        remark = "%s of %s lines, first difference at line %s" % (
            fmt_int(got), fmt_int(total), fmt_int(first_difference(r.data, numbers)))
    if not r.ended:
        remark += "; the stream never ended (pmpipe stopped after 3 s without output)"
    return lossless, kept, achieved, remark, r


# A rate that fails once is tried twice more and passes if both of those pass
# (2 of 3): on a shared virtual machine one run can lose a second of CPU to
# the host (the steal column says how much). Same rule for both agents.
RETRIES_AFTER_FAILURE = 2


def sustained(plan, tmpdir, table, results):
    """The highest rate each agent carries (the table's two sustained rows);
    every try goes to results."""
    best, failure = ladder(plan.rates, plan.sustain_seconds, tmpdir, results)
    sustained_rows(table, best, failure, plan.rates, plan.sustain_seconds, plan.quick)


def ladder(rates, seconds, tmpdir, results):
    """Climbs the ladder of rates for each agent until one fails.  Returns
    best {agent: (rate, remark) or None} and failure {agent: (rate, why)}."""
    best = {}
    failure = {}
    for a in AGENTS:
        best[a] = None
        for rate in rates:
            tries = []
            while True:
                steal0, total0 = probes.cpu_steal_ticks()
                lossless, kept, achieved, remark, r = sustained_once(a, rate, seconds, tmpdir)
                steal1, total1 = probes.cpu_steal_ticks()
                steal = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
                log("sustained %s lines/s for %gs via %s: %s%s (CPU steal %.0f%%)" % (
                    fmt_rate(rate), seconds, a.prefix, remark,
                    "" if kept or not lossless else " (rate NOT kept)", steal))
                tries.append((lossless and kept, lossless, kept, achieved, remark, steal))
                passes = sum(1 for t in tries if t[0])
                fails = len(tries) - passes
                if fails == 0 or fails > 1 or len(tries) > RETRIES_AFTER_FAILURE:
                    break
                time.sleep(1)
            passed = fails == 0 or (fails == 1 and passes >= RETRIES_AFTER_FAILURE)
            for index, (_, lossless, kept, achieved, remark, steal) in enumerate(tries):
                label = "" if len(tries) == 1 else " (try %d of %d)" % (index + 1, len(tries))
                results.append((a, rate, lossless, kept, "%s; CPU steal %.0f%%%s" % (remark, steal, label)))
            if passed:
                best[a] = (rate, tries[-1][4])
            else:
                failed = next(t for t in tries if not t[0])
                _, lossless, kept, achieved, remark, _ = failed
                why = remark if not lossless else "lossless but the rate was not kept: %s lines/s achieved (%s)" % (
                    fmt_int(achieved or 0), remark)
                if len(tries) > 1:
                    why += " (%d of %d tries failed)" % (fails, len(tries))
                failure[a] = (rate, why)
                break
            time.sleep(1)
    return best, failure


def sustained_rows(table, best, failure, rates, seconds, quick):
    cells = {}
    for a in AGENTS:
        if best[a] is None:
            cells[a] = "none (failed at %s lines/s)" % fmt_rate(rates[0])
        elif a in failure:
            cells[a] = "%s lines/s" % fmt_int(best[a][0])
        else:
            cells[a] = "≥ %s lines/s (every rate tried)" % fmt_int(best[a][0])
        if best[a] is not None and "never ended" in best[a][1]:
            cells[a] += " " + table.note("%s at %s lines/s: every line arrived, in order, but %s." % (
                a.label, fmt_int(best[a][0]), best[a][1].split("; ", 1)[1]))
        if a in failure:
            rate, why = failure[a]
            cells[a] += " " + table.note("%s at %s lines/s for %g s: %s." % (a.label, fmt_int(rate), seconds, why))
    table.row("sustained: highest rate lossless for %g s (`-t 100ms`; rates tried: %s lines/s)"
              % (seconds, ", ".join(fmt_rate(r) for r in rates)),
              cells[SWIFT], cells[CAGENT])
    if best[SWIFT] and best[CAGENT]:
        ratio = best[SWIFT][0] / best[CAGENT][0]
        ratio_cell = "%.1f×" % ratio
        if SWIFT not in failure:
            ratio_cell = "≥ " + ratio_cell
        elif CAGENT in failure:
            ratio_cell += " (limits bracketed by the rates tried: between %.1f× and %.1f×)" % (
                best[SWIFT][0] / failure[CAGENT][0], failure[SWIFT][0] / best[CAGENT][0])
        table.row("sustained: ratio Swift / C", ratio_cell, "1×", "≥ 10×",
                  "not judged (--quick: coarse ladder)" if quick else met(ratio >= 10))
    else:
        table.row("sustained: ratio Swift / C", "-", "-", "≥ 10×", met(best[SWIFT] is not None and best[CAGENT] is None))


# ------------------------------------------------------------ latency ---

def latency(lines, rate, intervals, table):
    seconds = lines / rate
    out = {}
    for interval in intervals:
        for a in AGENTS:
            proc = pmpipe.start(a, "b_stamp", "%d %s" % (rate, fmt_num(seconds)), interval,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
            fd = proc.stdout.fileno()
            lat = []
            pending = b""
            ended = True
            deadline = time.monotonic() + seconds + 15
            while True:
                rl, _, _ = select.select([fd], [], [], 3)
                if not rl or time.monotonic() > deadline:
                    ended = False
                    break
                chunk = os.read(fd, 65536)
                now = time.time_ns()
                if not chunk:
                    break
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] != b"end":
                        lat.append((now - int(parts[1])) / 1e6)
            if ended:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            stop(proc)
            proc.stdout.close()
            if len(lat) >= 2:
                q = statistics.quantiles(lat, n=100, method="inclusive")
                out[(a, interval)] = (q[49], q[98], len(lat), ended)
            else:
                out[(a, interval)] = (None, None, len(lat), ended)
            log("latency %s -t %s: %d lines, p50 %s ms, p99 %s ms" % (
                a.prefix, interval, len(lat), out[(a, interval)][0], out[(a, interval)][1]))
            time.sleep(0.5)
    for interval in intervals:
        cells = {}
        for a in AGENTS:
            p50, p99, n, ended = out[(a, interval)]
            if p50 is None:
                cells[a] = "%d lines" % n
            else:
                cells[a] = "%.1f ms / %.1f ms (%d of %d lines)" % (p50, p99, n, lines)
            if not ended:
                cells[a] += " " + table.note("%s, latency at -t %s: the stream did not end by itself." % (a.label, interval))
        table.row("latency write → pmpipe output, p50 / p99, %d lines/s, `-t %s`" % (rate, interval),
                  cells[SWIFT], cells[CAGENT])


# ---------------------------------------------------------------- CPU ---

def cpu(plan, tmpdir, table, cpu_samples):
    """The two CPU rows: the burst's samples (from bursts()) and paced runs."""
    cpu_paced(plan.cpu_rate, plan.cpu_seconds, plan.cpu_rounds, tmpdir, cpu_samples)
    cpu_rows(table, cpu_samples, plan.cpu_rate, plan.cpu_seconds, plan.cpu_rounds)


def cpu_paced(rate, seconds, rounds, tmpdir, cpu_samples):
    """Agent CPU over a paced run of rate × seconds lines, `rounds` times per
    agent (alternating); the median round is kept, the range noted."""
    samples = {a: [] for a in AGENTS}
    for _ in range(rounds):
        for a in AGENTS:
            pid, pmcd = a.pid(), probes.pmcd_pid()
            cpu0, pmcd0 = probes.cpu_seconds(pid), probes.cpu_seconds(pmcd)
            lossless, kept, achieved, remark, r = sustained_once(a, rate, seconds, tmpdir)
            cpu, pmcd_cpu = probes.cpu_seconds(pid) - cpu0, probes.cpu_seconds(pmcd) - pmcd0
            lines = max(count_lines(r.data) - 1, 0)
            samples[a].append((cpu, pmcd_cpu, r.client_cpu, lines, lossless))
            log("cpu, paced %s lines/s x %gs via %s: agent %.2fs, pmcd %.2fs, pmpipe %s s (%s)" % (
                fmt_rate(rate), seconds, a.prefix, cpu, pmcd_cpu,
                "%.2f" % r.client_cpu if r.client_cpu is not None else "n/a", remark))
            time.sleep(1)
    for a in AGENTS:
        ordered = sorted(samples[a], key=lambda x: x[0])
        cpu_samples["paced"][a] = ordered[len(ordered) // 2]
        cpu_samples["paced_range"][a] = (ordered[0][0], ordered[-1][0])


def cpu_rows(table, cpu_samples, rate, seconds, rounds):
    for kind, what in (("burst", "`seq 1 1000000` burst"),
                       ("paced", "paced %s lines/s × %d s (10^6 lines; median of %d)" % (
                           fmt_rate(rate), seconds, rounds))):
        cells = {}
        for a in AGENTS:
            cpu, pmcd_cpu, client_cpu, lines, ok = cpu_samples[kind][a]
            client_cpu = "%.2f s" % client_cpu if client_cpu is not None else "n/a (stopped: the stream did not end)"
            if ok:
                cells[a] = "%.2f s (%.2f s for %s lines); pmcd %.2f s, pmpipe %s" % (
                    cpu / lines * 1e6, cpu, fmt_int(lines), pmcd_cpu, client_cpu)
                if kind == "paced" and rounds > 1:
                    lo, hi = cpu_samples["paced_range"][a]
                    cells[a] += "; agent range %.2f–%.2f s" % (lo, hi)
            else:
                cells[a] = "n/a: only %s of 10^6 lines delivered (agent %.2f s, pmcd %.2f s, pmpipe %s)" % (
                    fmt_int(lines), cpu, pmcd_cpu, client_cpu)
        table.row("agent CPU s per 10^6 lines delivered, %s (user+sys; also pmcd's and pmpipe's)" % what,
                  cells[SWIFT], cells[CAGENT])


# ----------------------------------------------- only our agent: memory ---
#
# The phases below measure what PCP's C agent has no counterpart for (its
# cells say why): max_line, sha256 pins, shared runs.  Their commands are in
# config.OURS_ONLY; the stores that start runs are made by bench/pcpclient.c.

C_NO_MAX_LINE = ("n/a: it has no max_line; a line longer than its 64 KiB read buffer is thrown away "
                 "(logged as \"Ignoring long line\"), and nothing is kept for a client that never fetches "
                 "(libpcp_pmda's queue drops records appended before the first fetch)")
C_NO_PINS = "n/a: no sha256 pins (and it reads its configuration only when it starts)"
C_NO_SHARED = "n/a: no shared runs (every run belongs to the client that stored its parameters)"


def size_bytes(text):
    """`8m` and the like, as the agent's configuration reads them (k, m, g: 1024s)."""
    m = re.fullmatch(r"(\d+)([kmg]?)", text.lower())
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2)]


def wait_idle_agent(pid, timeout=30):
    """Waits until the agent has no command running, then 3 s more: it gives
    memory back to the system 2 s after its last run ends."""
    end = time.monotonic() + timeout
    while probes.children(pid) > 0 and time.monotonic() < end:
        time.sleep(0.5)
    time.sleep(3)


def read_line(proc, timeout):
    """One line of proc's stdout within timeout seconds, or ''."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode(errors="replace").strip() if ready else ""


def huge_lines(nclients, table):
    """Our agent's RSS while nclients contexts that never fetch each run
    b_huge (one 100 MB line, max_line 8m): every run fills its queue, then
    the command waits (overflow = block)."""
    pmcd = Pmcd()
    pid = SWIFT.pid()
    max_line = size_bytes(HUGE_MAX_LINE)
    default_queue = pmcd.value("pipe.maxmemory")
    # The agent's rule (Launcher.queueCapacity): -m, but at least two of the
    # longest pieces plus 4 KiB.
    queue = max(default_queue, 2 * max_line + 4096)
    bound = nclients * queue
    wait_idle_agent(pid)
    before = probes.rss_kib(pid)
    read0 = pmcd.value("pipe.runs.bytes", "b_huge", 0)
    proc = pmpipe.track(subprocess.Popen([CLIENT, "hold", "pipe", "b_huge", "", str(nclients)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    said = read_line(proc, 60)
    samples = []        # (rss KiB, commands running, bytes the agent read)
    try:
        # Until the output read stops growing for 3 s: every run is blocked.
        end, last_change, last_read = time.monotonic() + 90, time.monotonic(), -1
        while time.monotonic() < end:
            read = pmcd.value("pipe.runs.bytes", "b_huge", 0) - read0
            samples.append((probes.rss_kib(pid), probes.children(pid), read))
            if read != last_read:
                last_read, last_change = read, time.monotonic()
            elif time.monotonic() - last_change >= 3:
                break
            time.sleep(0.5)
    finally:
        proc.stdin.close()          # pcpclient then ends its contexts: the agent stops the runs
        stop(proc)
    err = proc.stderr.read().decode(errors="replace").strip()
    wait_idle_agent(pid)
    after = probes.rss_kib(pid)
    busy, kids, read = samples[-1]
    peak = max(s[0] for s in samples)
    log("%d unfetched b_huge runs: RSS %s before, %s with them (peak %s), %s after; %s read; pcpclient: %s %s" % (
        nclients, fmt_mib(before), fmt_mib(busy), fmt_mib(peak), fmt_mib(after), fmt_mib(read / 1024), said, err))

    growth = peak - before
    cell = "%s / %s (peak; +%s; %d commands running, %s of output read) / %s" % (
        fmt_mib(before), fmt_mib(peak), fmt_mib(growth), kids, fmt_mib(read / 1024), fmt_mib(after))
    if said != "started=%d refused=0" % nclients or kids < nclients:
        cell += " " + table.note("Swift agent, %d unfetched runs: pcpclient said \"%s\"%s; %d commands were running." % (
            nclients, said, (" and \"%s\"" % err) if err else "", kids))
    table.row("agent RSS with %d clients that store into `pipe.firehose[b_huge]` and never fetch "
              "(b_huge writes one %s-byte line; `max_line = %s`): idle before / with the %d runs blocked / "
              "after they are gone" % (nclients, fmt_int(HUGE_LINE), HUGE_MAX_LINE, nclients),
              cell, C_NO_MAX_LINE,
              "growth near %d × the per-client queue, max(-m %s, 2 × max_line + 4 KiB) = %d × %s = %s "
              "(at most 1.1×: each run's bookkeeping and one read)" % (
                  nclients, fmt_mib(default_queue / 1024), nclients, fmt_mib(queue / 1024), fmt_mib(bound / 1024)),
              met(growth * 1024 <= 1.1 * bound) + " (%.2f× %d × the queue)" % (growth * 1024 / bound, nclients))


# ------------------------------------------ only our agent: pinned reload ---

def write_pinned_program(path, mib):
    """A script that prints `hi` and exits, padded with written zero bytes
    (real blocks, not a sparse hole, so a cold read goes to the disk) to
    mib MiB; returns its sha256."""
    digest = hashlib.sha256()
    zeros = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(PIN_SCRIPT)
        digest.update(PIN_SCRIPT)
        left = (mib << 20) - len(PIN_SCRIPT)
        while left > 0:
            chunk = zeros[:min(left, len(zeros))]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    os.chmod(path, 0o755)
    return digest.hexdigest()


def pinned_reload(sizes, setup, table):
    for mib in sizes:
        pinned_reload_once(mib, setup, table)


def pinned_reload_once(mib, setup, table, window=3, timeout=60):
    """A reload that brings PIN_COUNT pinned programs of mib MiB, with a
    cold page cache: how long pmcd waits on the agent meanwhile, and when
    each pinned command first runs."""
    os.makedirs(PIN_DIR, mode=0o755, exist_ok=True)
    os.chmod(PIN_DIR, 0o755)
    pins = {n: write_pinned_program(pin_path(n), mib) for n in range(1, PIN_COUNT + 1)}
    pmcd = Pmcd()
    pmcd.timed_fetch("pipe.numclients")     # names and descriptors known before the clock starts
    pid = SWIFT.pid()
    setup.write_dropin(pins)
    os.sync()                       # dirty pages are not dropped: write them first
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGHUP)     # what `pmsignal -a -s HUP pmdapipe` does, without a process start
    fetches, errors = [], []
    ran, refusals, other = {}, 0, []
    attempts = {}                   # n: (pmpipe, when it may start again)
    try:
        while time.monotonic() - t0 < timeout:
            now = time.monotonic() - t0
            if len(ran) == PIN_COUNT and now >= window:
                break
            elapsed, error = pmcd.timed_fetch("pipe.numclients")
            fetches.append((now, elapsed))
            if error:
                errors.append(error)
            for n in range(1, PIN_COUNT + 1):
                if n in ran:
                    continue
                proc = attempts.get(n)
                if proc is None:
                    attempts[n] = pmpipe.track(subprocess.Popen([PMPIPE, "-i", pin_name(n)], stdout=subprocess.PIPE,
                                                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL))
                elif proc.poll() is not None:
                    out, err = proc.communicate()
                    pmpipe.running.discard(proc)
                    attempts[n] = None
                    if out == b"hi\n":
                        ran[n] = time.monotonic() - t0
                    elif b"being checked" in err:
                        refusals += 1
                    else:
                        other.append(err.decode(errors="replace").strip())
            time.sleep(0.01)
    finally:
        for proc in attempts.values():
            if proc is not None:
                stop(proc)
        setup.reconfigure()         # the pins go again
        shutil.rmtree(PIN_DIR, ignore_errors=True)
    replaced = probes.pids_with_argv0(SWIFT.exe) != [pid]
    worst_at, worst = max(fetches, key=lambda x: x[1])
    p50 = statistics.median(x[1] for x in fetches)
    log("reload with %d pinned %d MiB programs: pmcd answered in max %.0f ms (at %.2f s), p50 %.1f ms over %d fetches; "
        "ran at %s; %d 'being checked' refusals; other: %s; errors: %s" % (
            PIN_COUNT, mib, worst * 1e3, worst_at, p50 * 1e3, len(fetches),
            ", ".join("%.2f" % ran[n] for n in sorted(ran)), refusals, other[:3], errors[:3]))
    cell = "max %s (%.2f s after the SIGHUP), p50 %.1f ms (%d fetches in %.1f s); " % (
        fmt_ms(worst), worst_at, p50 * 1e3, len(fetches), fetches[-1][0])
    if ran:
        cell += "%d of %d pinned commands ran, first after %.2f s, last after %.2f s (%d refusals \"being checked\" before)" % (
            len(ran), PIN_COUNT, min(ran.values()), max(ran.values()), refusals)
    else:
        cell += "no pinned command ran within %d s" % timeout
    problems = []
    if errors:
        problems.append("%d fetches failed (first: %s)" % (len(errors), errors[0]))
    if other:
        problems.append("%d other refusals (first: %s)" % (len(other), other[0]))
    if replaced:
        problems.append("the agent process was replaced during the test (pmcd dropped it)")
    if problems:
        cell += " " + table.note("Swift agent, reload with %d MiB pins: %s." % (mib, "; ".join(problems)))
    table.row("reload bringing %d pinned programs of %d MiB (`sha256 =`; %d MiB in all, page cache dropped): "
              "pmcd's answer time, `pipe.numclients` fetched back to back from the SIGHUP on, max / p50; "
              "when each pinned command first runs" % (PIN_COUNT, mib, PIN_COUNT * mib),
              cell, C_NO_PINS, "max < 1 s (pmcd drops an agent after 5 s)",
              met(worst < 1 and not errors and not replaced))


def fmt_ms(seconds):
    return "%.0f ms" % (seconds * 1e3) if seconds < 10 else "%.1f s" % seconds


# ------------------------------------------ only our agent: shared runs ---

def start_shared(setup, command, params):
    """Starts a shared run through pipe.control.start (bench/pcpclient.c);
    returns its name, NAME.SEQ, remembered so that the bench stops it."""
    r = subprocess.run([CLIENT, "start", command, params], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, text=True, timeout=30)
    try:
        reply = json.loads(r.stdout)
    except ValueError:
        reply = {}
    if "run" not in reply:
        raise BenchError("pipe.control.start[%s] refused: %s %s" % (command, r.stdout.strip(), r.stderr.strip()))
    setup.shared_runs.append(reply["run"])
    return reply["run"]


def open_gate(timeout=30):
    """Lets the b_share run waiting on the gate FIFO go: opening it for
    writing (possible once the run's `cat` holds it open for reading) and
    closing it gives that `cat` its end of file."""
    end = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(GATE, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO or time.monotonic() > end:
                raise BenchError("the b_share run never opened its gate %s: %s" % (GATE, e)) from None
            time.sleep(0.01)
            continue
        os.close(fd)
        return


LOST = re.compile(r"pmpipe: (\d+) lines? lost")


def shared_readers(plan, setup, tmpdir, table):
    if not os.path.exists(GATE):
        os.mkfifo(GATE, 0o600)
    for nreaders in plan.shared_readers:
        shared_readers_once(nreaders, plan.shared_lines, setup, tmpdir, table)
        time.sleep(1)


def shared_readers_once(nreaders, lines, setup, tmpdir, table):
    """One shared run of `seq 1 lines` read by nreaders pmpipe --attach, all
    attached before its first line: lines/s each reader got, the agent's
    CPU and RSS."""
    pmcd = Pmcd()
    pid, pmcd_pid = SWIFT.pid(), probes.pmcd_pid()
    before = probes.rss_kib(pid)
    contexts0 = pmcd.value("pipe.numclients", default=0)
    run = start_shared(setup, "b_share", str(lines))
    readers = []
    try:
        for i in range(nreaders):
            out = open(os.path.join(tmpdir, "reader%d" % i), "w+b")
            err = open(os.path.join(tmpdir, "reader%d.err" % i), "w+b")
            proc = pmpipe.track(subprocess.Popen([PMPIPE, "--attach", run, "--from", "start", "-t", "100ms"],
                                                 stdout=out, stderr=err, stdin=subprocess.DEVNULL))
            readers.append([proc, out, err, None])
        # Every reader is a context of the agent once it has asked for the run.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            attached = pmcd.value("pipe.numclients", default=0) - contexts0
            if attached >= nreaders or all(r[0].poll() is not None for r in readers):
                break
            time.sleep(0.1)
        cpu0, pmcd0 = probes.cpu_seconds(pid), probes.cpu_seconds(pmcd_pid)
        open_gate()
        go = time.monotonic()
        peak = before
        deadline = go + 60 + lines * nreaders / 200000
        while time.monotonic() < deadline:
            now = time.monotonic()
            for r in readers:
                if r[3] is None and r[0].poll() is not None:
                    r[3] = now - go
            peak = max(peak, probes.rss_kib(pid))
            if all(r[3] is not None for r in readers):
                break
            time.sleep(0.01)
        cpu, pmcd_cpu = probes.cpu_seconds(pid) - cpu0, probes.cpu_seconds(pmcd_pid) - pmcd0
    finally:
        for r in readers:
            stop(r[0])
    expected = seq_bytes(lines)
    rates, complete, delivered, lost, statuses, messages = [], 0, 0, 0, {}, {}
    for proc, out, err, took in readers:
        out.seek(0)
        data = out.read()
        err.seek(0)
        text = err.read().decode(errors="replace")
        out.close()
        err.close()
        os.unlink(out.name)
        os.unlink(err.name)
        got = count_lines(data)
        delivered += got
        complete += data == expected
        lost += sum(int(n) for n in LOST.findall(text))
        statuses[proc.returncode] = statuses.get(proc.returncode, 0) + 1
        if text.strip() and not LOST.search(text):
            messages[text.strip()] = messages.get(text.strip(), 0) + 1
        rates.append(got / took if took else 0)
    dropped = pmcd.value("pipe.run.dropped", run, 0)
    rates.sort()
    log("shared run %s, %d readers (%d attached before the gate opened): lines/s per reader min %s median %s; "
        "%d complete; %s lines delivered; agent CPU %.2f s, pmcd %.2f s; RSS %s -> peak %s; exit statuses %s; lost %d" % (
            run, nreaders, attached, fmt_int(rates[0]), fmt_int(statistics.median(rates)), complete, fmt_int(delivered),
            cpu, pmcd_cpu, fmt_mib(before), fmt_mib(peak), statuses, lost))
    cell = "%s / %s lines/s; %d of %d readers got all %s lines in order; agent %.2f s per 10^6 lines delivered " \
           "(%.2f s for %s; pmcd %.2f s); RSS %s → %s (peak, +%s)" % (
               fmt_int(rates[0]), fmt_int(statistics.median(rates)), complete, nreaders, fmt_int(lines),
               cpu / max(delivered, 1) * 1e6, cpu, fmt_int(delivered), pmcd_cpu, fmt_mib(before), fmt_mib(peak),
               fmt_mib(peak - before))
    detail = []
    if attached < nreaders:
        detail.append("only %d of %d readers had attached when the run began to write (60 s)" % (attached, nreaders))
    if complete < nreaders:
        detail.append("%s lines lost as reported by pmpipe, %s counted by the agent (pipe.run.dropped)" % (
            fmt_int(lost), fmt_int(dropped)))
        detail.append("exit statuses %s" % ", ".join("%s: %d" % kv for kv in sorted(statuses.items(), key=str)))
    if messages:
        detail.append("pmpipe said: " + "; ".join("%d× \"%s\"" % (n, m[:200]) for m, n in messages.items()))
    if detail:
        cell += " " + table.note("Swift agent, shared run with %d readers: %s." % (nreaders, "; ".join(detail)))
    table.row("shared run `seq 1 %s` (`shared = yes`, `buffer = 128m`) read by %d `pmpipe --attach RUN --from start` "
              "(`-t 100ms`, all attached before its first line): lines/s per reader, min / median; complete; "
              "agent CPU per 10^6 lines delivered; agent RSS" % (fmt_int(lines), nreaders),
              cell, C_NO_SHARED)


def archived_run(plan, setup, tmpdir, table):
    """pmlogger, as user pcp, logging pipe.run.records once a second while a
    shared run writes archive_rate lines/s: what the archive holds."""
    rate, seconds = plan.archive_rate, plan.archive_seconds
    account = pwd.getpwnam(ARCHIVE_READER)
    directory = os.path.join(tmpdir, "archive")
    os.makedirs(directory)
    os.chmod(tmpdir, 0o711)          # pcp reaches its directory, sees nothing else
    os.chown(directory, account.pw_uid, account.pw_gid)
    config = os.path.join(directory, "config")
    with open(config, "w") as f:
        f.write("log mandatory on 1 sec {\n    pipe.run.records\n}\n")
    base = os.path.join(directory, "run")
    logged = plan.archive_logging
    logger = pmpipe.track(subprocess.Popen(
        ["pmlogger", "-c", config, "-l", os.path.join(directory, "pmlogger.log"), "-T", "%dsec" % logged, base],
        cwd=directory, user=account.pw_uid, group=account.pw_gid, extra_groups=[],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    end = time.monotonic() + 15
    while not os.path.exists(base + ".meta") and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1.5)                  # its first fetch is done: it follows the run from its start
    run = start_shared(setup, "b_arch", "%d %d" % (rate, seconds))
    try:
        logger.wait(logged + 30)
    except subprocess.TimeoutExpired:
        pass
    stop(logger)
    pmcd = Pmcd()
    produced = pmcd.value("pipe.run.lines", run, 0)
    dropped = pmcd.value("pipe.run.dropped", run, 0)
    status = pmcd.value("pipe.run.status", run, "?")
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)
               if f.startswith("run."))
    replay = subprocess.run([PMPIPE, "-a", base, "-i", run], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, timeout=300)
    body = replay.stdout
    ended = re.search(rb"(^|\n)end \d+\n$", body) is not None
    if ended:
        body = body[:body.rfind(b"end ")]
    numbers = [int(x) for x in body.split()]
    archived = len(numbers)
    in_order = all(a < b for a, b in zip(numbers, numbers[1:])) and (not numbers or numbers[-1] <= rate * seconds)
    missed = sum(int(n) for n in LOST.findall(replay.stderr.decode(errors="replace")))
    total = rate * seconds
    log("archive of %s (%s lines/s for %d s): %s lines archived, %s missed (MISSED records), %s lines produced "
        "(pipe.run.lines, with the end line), %s dropped (pipe.run.dropped), status %s; archive %s; pmpipe -a exit %d" % (
            run, fmt_int(rate), seconds, fmt_int(archived), fmt_int(missed), fmt_int(produced), fmt_int(dropped),
            status, fmt_mib(size / 1024), replay.returncode))
    cell = "%s of %s lines archived%s; %s missed (MISSED records; the agent's pipe.run.dropped: %s); " \
           "end record %s; archive %s" % (
               fmt_int(archived), fmt_int(total), ", in order" if in_order else ", **out of order**", fmt_int(missed),
               fmt_int(dropped), "archived" if ended else "**not archived**", fmt_mib(size / 1024))
    if archived + missed != total:
        cell += " " + table.note("Swift agent, archive: %s lines archived and %s reported missed do not add up to the "
                                 "%s written (%s unaccounted for)." % (fmt_int(archived), fmt_int(missed),
                                                                      fmt_int(total), fmt_int(total - archived - missed)))
    table.row("pmlogger as user `pcp` (`log mandatory on 1 sec { pipe.run.records }`, `read user pcp : b_arch`) "
              "archiving a shared run of `ratelines %d %d` (default 4 MiB buffer), read back with "
              "`pmpipe -a ARCHIVE -i RUN`: lines archived; lines missed; archive size" % (rate, seconds),
              cell, C_NO_SHARED + "; pmlogger never stores, so it cannot start a run")


def wait_shared_runs_gone(timeout=90):
    """Waits until the agent has culled the bench's finished shared runs
    (retain = 30s), so that the last idle RSS does not count their buffers."""
    pmcd = Pmcd()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [r for r in pmcd.values("pipe.run.status") if r and r.startswith("b_")]
        if not left:
            return
        time.sleep(1)
    log("shared runs still kept after %d s: %s" % (timeout, ", ".join(left)))
