"""The measurements, in the order bench/run calls them.

Each phase runs the same thing against both agents and adds its rows (and
numbered notes) to the table; the order of the calls is the order of the
rows and of the notes in RESULTS.md.
"""

import os
import re
import select
import statistics
import subprocess
import time

from . import pmpipe, probes
from .agents import AGENTS, CAGENT, SWIFT, wait_commands
from .pmpipe import count_lines, first_difference, run_to_file, seq_bytes, stop
from .report import fmt_int, fmt_mib, fmt_num, fmt_rate, fmt_s, met
from .shell import log

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
