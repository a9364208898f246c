"""What the bench asks pmcd itself, through PCP's Python binding (python3-pcp).

One long-lived context on pmcd's unix socket, as local tools use: timed
fetches (how long pmcd takes to answer while the agent is busy) and metric
values, without starting a process per question as pminfo would (a process
start is milliseconds, the answers measured are below one).  Stores are made
by bench/pcpclient.c instead: the binding has no convenient way to build a
string value for pmStore.
"""

import time

from pcp import pmapi
import cpmapi as c_api

from .shell import BenchError


class Pmcd:
    def __init__(self):
        try:
            self.ctx = pmapi.pmContext(c_api.PM_CONTEXT_HOST, "unix:")
        except pmapi.pmErr as e:
            raise BenchError("cannot reach pmcd through python3-pcp: %s" % e) from None
        self.known = {}

    def _lookup(self, name):
        if name not in self.known:
            pmid = self.ctx.pmLookupName([name])
            self.known[name] = (pmid, self.ctx.pmLookupDescs(pmid)[0])
        return self.known[name]

    def timed_fetch(self, name):
        """(seconds, None) for one pmFetch of `name`, or (seconds, error
        text).  The first call for a name also looks it up (pmcd asks the
        agent for its descriptor): time that too."""
        start = time.perf_counter()
        pmid, _ = self._lookup(name)
        try:
            result = self.ctx.pmFetch(pmid)
        except pmapi.pmErr as e:
            return time.perf_counter() - start, str(e)
        elapsed = time.perf_counter() - start
        numval = result.contents.get_numval(0)
        self.ctx.pmFreeResult(result)
        return elapsed, (None if numval > 0 else "no value (%d)" % numval)

    def values(self, name):
        """{instance name or None: value} of a numeric or string metric."""
        pmid, desc = self._lookup(name)
        result = self.ctx.pmFetch(pmid)
        out = {}
        try:
            for i in range(max(result.contents.get_numval(0), 0)):
                vlist = result.contents.get_vlist(0, i)
                atom = self.ctx.pmExtractValue(result.contents.get_valfmt(0), vlist, desc.type, desc.type)
                inst = None
                if desc.indom != c_api.PM_INDOM_NULL:
                    inst = self.ctx.pmNameInDom(desc, vlist.inst)
                out[inst] = atom.dref(desc.type)
        finally:
            self.ctx.pmFreeResult(result)
        return out

    def value(self, name, instance=None, default=None):
        return self.values(name).get(instance, default)
