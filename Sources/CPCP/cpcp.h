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
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The agent writes pmEventArrays itself and pmpipe reads them in place, both
 * in pure Swift at fixed offsets (the PDU format: PipeCore's
 * EventRecordLayout).  These assertions make a header that disagrees with
 * those offsets a build error instead of garbage on the wire.
 */
_Static_assert(PM_VAL_HDR_SIZE == 4, "pmValueBlock header is one 32-bit word");
_Static_assert(sizeof(pmTimeval) == 8, "pmTimeval is two 32-bit fields");
_Static_assert(offsetof(pmEventArray, ea_nrecords) == 4, "ea_nrecords follows the header word");
_Static_assert(offsetof(pmEventArray, ea_record) == 8, "records start at byte 8");
_Static_assert(offsetof(pmEventRecord, er_flags) == 8, "er_flags follows the pmTimeval");
_Static_assert(offsetof(pmEventRecord, er_nparams) == 12, "er_nparams follows er_flags");
_Static_assert(offsetof(pmEventRecord, er_param) == 16, "parameters start at byte 16");
_Static_assert(sizeof(pmEventParameter) == 8, "pmID plus the type/length word");
_Static_assert(PM_EVENT_FLAG_POINT == 1u << 0 && PM_EVENT_FLAG_START == 1u << 1 &&
               PM_EVENT_FLAG_END == 1u << 2 && PM_EVENT_FLAG_ID == 1u << 3 &&
               PM_EVENT_FLAG_PARENT == 1u << 4 && PM_EVENT_FLAG_MISSED == 1u << 31,
               "EventRecordLayout's flag values");
_Static_assert(PM_TYPE_EVENT == 9, "EventRecordLayout.eventType");

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

/*
 * __pmRotateLog is exported by libpcp (PCP_3.0) but declared only in PCP's
 * internal libpcp.h: it reopens stderr as a new NAME with PCP's log header.
 * PCP 6.0.3's version removes the old file first (later releases keep it as
 * NAME.prev), so the old log is renamed to NAME.prev here, before.
 */
extern FILE *__pmRotateLog(const char *, const char *, FILE *, int *);
static inline void cpcp_keep_previous_log(const char *logname)
{
    char prev[4096];
    if (strcmp(logname, "-") != 0 && snprintf(prev, sizeof(prev), "%s.prev", logname) < (int)sizeof(prev))
        (void)rename(logname, prev);
}

static inline void cpcp_rotate_log(const char *logname)
{
    int status = 0;
    cpcp_keep_previous_log(logname);
    (void)__pmRotateLog(pmGetProgname(), logname, stderr, &status);
}

/*
 * __pmConnectTimeout is exported by libpcp (PCP_3.13) but declared only in
 * libpcp.h: the seconds libpcp gives a connection to pmcd to complete
 * (PMCD_CONNECT_TIMEOUT, default 5; 0 means no limit). pmpipe waits as long
 * for room in pmcd's unix-socket queue (PipeCore's ConnectPatience).
 */
extern double __pmConnectTimeout(void);

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

/*
 * The type/length word of a pmEventParameter (same layout as the vtype/vlen
 * word of a pmValueBlock) as this compiler lays out the bitfields; their
 * order depends on HAVE_BITFIELDS_LTOR.  The agent (writing event arrays) and
 * pmpipe (reading them) derive the bit positions from this probe, never by
 * guessing.
 */
static inline uint32_t cpcp_param_word(unsigned int type, unsigned int len)
{
    pmEventParameter param;
    uint32_t word;
    memset(&param, 0, sizeof(param));
    param.ep_type = type;
    param.ep_len = len;
    memcpy(&word, (const char *)&param + sizeof(pmID), sizeof(word));
    return word;
}

/* PMDA_FETCH_* and PMDA_CACHE_* are plain macros, but bridging them keeps the
   agent's spelling uniform with the error codes above. */
static const int cpcp_FETCH_NOVALUES = PMDA_FETCH_NOVALUES;
static const int cpcp_FETCH_STATIC = PMDA_FETCH_STATIC;
static const int cpcp_FETCH_DYNAMIC = PMDA_FETCH_DYNAMIC;
static const unsigned int cpcp_INDOM_NULL = PM_INDOM_NULL;
static const unsigned int cpcp_IN_NULL = PM_IN_NULL;

#endif /* CPCP_H */

/* ---- client-side bridges (pmpipe) ---- */
/*
 * Used by PipeClient only.  This block sits after the include guard's #endif
 * so it can be appended without touching the agent bridges above; it has a
 * guard of its own.
 */
#ifndef CPCP_CLIENT_H
#define CPCP_CLIENT_H

#include <pcp/pmapi.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>



/* Archive lookups' own PM_ERR_* (expression macros, as above). */
static const int cpcp_ERR_INST_LOG = PM_ERR_INST_LOG;
static const int cpcp_ERR_INDOM_LOG = PM_ERR_INDOM_LOG;
static const int cpcp_ERR_EOL = PM_ERR_EOL;

/* PM_EVENT_FLAG_* are (1U<<n) expression macros. */
static const unsigned int cpcp_EVENT_FLAG_POINT = PM_EVENT_FLAG_POINT;
static const unsigned int cpcp_EVENT_FLAG_START = PM_EVENT_FLAG_START;
static const unsigned int cpcp_EVENT_FLAG_END = PM_EVENT_FLAG_END;
static const unsigned int cpcp_EVENT_FLAG_ID = PM_EVENT_FLAG_ID;
static const unsigned int cpcp_EVENT_FLAG_PARENT = PM_EVENT_FLAG_PARENT;
static const unsigned int cpcp_EVENT_FLAG_MISSED = PM_EVENT_FLAG_MISSED;

/*
 * pmStore of one STRING value into metric[inst].  The pmResult (trailing
 * vset[1]) and the pmValueBlock (vtype/vlen bitfields) are built here in C;
 * the value is copied and NUL-terminated, as PCP's agents expect.
 * Returns pmStore's status, or -ENOMEM.
 */
static inline int cpcp_client_store_string(pmID pmid, int inst, const char *value, size_t length)
{
    pmResult result;
    pmValueSet vset;
    pmValueBlock *block;
    size_t need = PM_VAL_HDR_SIZE + length + 1;
    int sts;

    if (need < sizeof(pmValueBlock))
        need = sizeof(pmValueBlock);
    if ((block = (pmValueBlock *)calloc(1, need)) == NULL)
        return -ENOMEM;
    block->vtype = PM_TYPE_STRING;
    block->vlen = PM_VAL_HDR_SIZE + length + 1;
    memcpy(block->vbuf, value, length);
    block->vbuf[length] = '\0';

    memset(&vset, 0, sizeof(vset));
    vset.pmid = pmid;
    vset.numval = 1;
    vset.valfmt = PM_VAL_DPTR;
    vset.vlist[0].inst = inst;
    vset.vlist[0].value.pval = block;

    memset(&result, 0, sizeof(result));
    result.numpmid = 1;
    result.vset[0] = &vset;

    sts = pmStore(&result);
    free(block);
    return sts;
}

/*
 * pmGetInDom hands back two arrays that libpcp malloc'd for the caller
 * (the names and their strings are one allocation): its contract is that the
 * caller frees them with free(3), which belongs with the call, not with
 * pmpipe's C library seam.
 */
static inline void cpcp_client_free_instances(int *instances, char **names)
{
    free(instances);
    free(names);
}

/*
 * pmParseTimeWindow (pmpipe -a with -S/-T) hands back its message malloc'd
 * for the caller, who frees it with free(3): as for pmGetInDom above, that
 * belongs with the call.  The message (a warning when the status is 0, the
 * error when it is negative) is copied into `message`.  No alignment or
 * offset (-A, -O): pmpipe replays records, it does not sample.
 */
static inline int cpcp_client_time_window(const char *start, const char *finish,
                                          const struct timeval *archiveStart,
                                          const struct timeval *archiveEnd,
                                          struct timeval *windowStart, struct timeval *windowEnd,
                                          char *message, size_t size)
{
    struct timeval offset;
    char *text = NULL;
    int sts = pmParseTimeWindow(start, finish, NULL, NULL, archiveStart, archiveEnd,
                                windowStart, windowEnd, &offset, &text);
    if (size > 0)
        message[0] = '\0';
    if (text != NULL) {
        if (size > 0) {
            strncpy(message, text, size - 1);
            message[size - 1] = '\0';
        }
        free(text);
    }
    return sts;
}

#endif /* CPCP_CLIENT_H */
