/*
 * CPCP: libpcp and libpcp_pmda as seen from Swift.
 *
 * Swift imports plain functions, structs and simple integer macros from these
 * headers by itself.  Everything below is a bridge for what it cannot import:
 * expression macros (every PM_ERR_* is (-PM_ERR_BASE-n)), function-like macros
 * (PMDA_PMID, PMDA_PMUNITS) and variadic functions (pmNotifyErr).  Each bridge
 * is a static inline function or a static const value, so no C target is needed.
 */
#ifndef CPCP_H
#define CPCP_H

#include <pcp/pmapi.h>
#include <pcp/pmda.h>
#include <syslog.h>

/* PM_ERR_* are expression macros: Swift sees none of them. */
static const int cpcp_ERR_GENERIC = PM_ERR_GENERIC;
static const int cpcp_ERR_PMID = PM_ERR_PMID;
static const int cpcp_ERR_INDOM = PM_ERR_INDOM;
static const int cpcp_ERR_INST = PM_ERR_INST;
static const int cpcp_ERR_NAME = PM_ERR_NAME;
static const int cpcp_ERR_TYPE = PM_ERR_TYPE;
static const int cpcp_ERR_CONV = PM_ERR_CONV;
static const int cpcp_ERR_PERMISSION = PM_ERR_PERMISSION;
static const int cpcp_ERR_ISCONN = PM_ERR_ISCONN;
static const int cpcp_ERR_NOTCONN = PM_ERR_NOTCONN;
static const int cpcp_ERR_BADSTORE = PM_ERR_BADSTORE;
static const int cpcp_ERR_TOOBIG = PM_ERR_TOOBIG;
static const int cpcp_ERR_NOAGENT = PM_ERR_NOAGENT;
static const int cpcp_ERR_IPC = PM_ERR_IPC;
static const int cpcp_ERR_TIMEOUT = PM_ERR_TIMEOUT;
static const int cpcp_ERR_VALUE = PM_ERR_VALUE;
static const int cpcp_ERR_EOF = PM_ERR_EOF;
static const int cpcp_ERR_APPVERSION = PM_ERR_APPVERSION;
static const int cpcp_ERR_NYI = PM_ERR_NYI;
static const int cpcp_ERR_NOCONTEXT = PM_ERR_NOCONTEXT;
static const int cpcp_ERR_BADDERIVE = PM_ERR_BADDERIVE;
static const int cpcp_ERR_THREAD = PM_ERR_THREAD;
static const int cpcp_ERR_AGAIN = PM_ERR_AGAIN;

/* PMDA_PMID is a function-like macro; domain 0 is filled in by pmdaInit. */
static inline pmID cpcp_pmda_pmid(unsigned int cluster, unsigned int item)
{
    return PMDA_PMID(cluster, item);
}

/* PMDA_PMUNITS is a function-like macro building a bitfield struct. */
static inline pmUnits cpcp_pmunits(int dimSpace, int dimTime, int dimCount,
                                   int scaleSpace, int scaleTime, int scaleCount)
{
    pmUnits units = PMDA_PMUNITS(dimSpace, dimTime, dimCount,
                                 scaleSpace, scaleTime, scaleCount);
    return units;
}

/* pmNotifyErr is variadic; the message is always passed through "%s". */
static inline void cpcp_log(int priority, const char *message)
{
    pmNotifyErr(priority, "%s", message);
}

/* pmprintf is variadic too; used for usage text that PCP tools route to stderr. */
static inline void cpcp_printf(const char *message)
{
    pmprintf("%s", message);
}

/*
 * pmValueBlock/pmEventParameter hold 24-bit vlen and 8-bit vtype bitfields
 * whose order depends on HAVE_BITFIELDS_LTOR; read them in C, not by guessing.
 */
static inline int cpcp_valueblock_vlen(const pmValueBlock *vb) { return vb->vlen; }
static inline int cpcp_valueblock_vtype(const pmValueBlock *vb) { return vb->vtype; }
static inline const char *cpcp_valueblock_bytes(const pmValueBlock *vb) { return vb->vbuf; }

/* pmValueSet.vlist and pmResult.vset are C trailing [1] arrays: index them in C. */
static inline pmValue *cpcp_valueset_value(pmValueSet *vsp, int i) { return &vsp->vlist[i]; }
static inline pmValueSet *cpcp_result_valueset(pmResult *rp, int i) { return rp->vset[i]; }
static inline void cpcp_result_set_valueset(pmResult *rp, int i, pmValueSet *vsp) { rp->vset[i] = vsp; }


/* Writes the vtype/vlen bitfields of a value block the agent builds itself. */
static inline void cpcp_valueblock_set_header(pmValueBlock *vb, int vtype, int vlen)
{
    vb->vtype = vtype;
    vb->vlen = vlen;
}

/* PMDA_FETCH_* and PMDA_CACHE_* are plain macros, but bridging them keeps the
   agent's spelling uniform with the error codes above. */
static const int cpcp_FETCH_NOVALUES = PMDA_FETCH_NOVALUES;
static const int cpcp_FETCH_STATIC = PMDA_FETCH_STATIC;
static const int cpcp_FETCH_DYNAMIC = PMDA_FETCH_DYNAMIC;
static const unsigned int cpcp_INDOM_NULL = PM_INDOM_NULL;
static const unsigned int cpcp_IN_NULL = PM_IN_NULL;

#endif /* CPCP_H */
