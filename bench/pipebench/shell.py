"""What every module of the bench uses: its log, running a tool, its error."""

import subprocess
import sys
import time

T0 = time.monotonic()


class BenchError(Exception):
    """The machine is not as the bench needs it: the run stops (exit 1)."""


def log(msg):
    sys.stderr.write("bench [%4.0fs]: %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def sh(args, check=True, **kw):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, stdin=subprocess.DEVNULL, **kw)
