/*
 * pcpclient: the two requests of the benchmark that need a store PCP's
 * tools and python3-pcp do not make easily (pmstore refuses EVENT metrics,
 * and a control reply must be fetched from the context that stored), built
 * by bench/run with cc -lpcp.
 *
 *   pcpclient hold PREFIX INSTANCE PARAMS COUNT
 *       opens COUNT contexts on unix:, each storing PARAMS into
 *       PREFIX.firehose[INSTANCE] (COUNT runs), and never fetches: their
 *       output can only pile up in the agent.  Prints "started=N refused=N"
 *       (and the first refusal on stderr) once all stores are done, then
 *       keeps the contexts until standard input reaches end of file (the
 *       bench closes it) or a signal ends the process.
 *   pcpclient start NAME PARAMS
 *       stores PARAMS into pipe.control.start[NAME] (starts a shared run)
 *       and fetches pipe.control.start[NAME] from the same context: prints
 *       the agent's reply, {"run":"NAME.SEQ"} or {"error":"..."}.
 *
 * Exit status 0 when the requests were made (their outcome is in the
 * output), 1 on a usage or connection error, or a refused start.
 */
#include <pcp/pmapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int connect_unix(void)
{
    int ctx = pmNewContext(PM_CONTEXT_HOST, "unix:");
    if (ctx < 0) fprintf(stderr, "pcpclient: pmNewContext(unix:): %s\n", pmErrStr(ctx));
    return ctx;
}

/* The metric's id and the number of its instance NAME in this context. */
static int lookup(const char *metric, const char *name, pmID *pmid, pmInDom *indom, int *inst)
{
    char *names[] = { (char *)metric };
    pmDesc desc;
    int sts = pmLookupName(1, (const char **)names, pmid);
    if (sts < 0 || (sts = pmLookupDesc(*pmid, &desc)) < 0) {
        fprintf(stderr, "pcpclient: %s: %s\n", metric, pmErrStr(sts));
        return -1;
    }
    *indom = desc.indom;
    if ((*inst = pmLookupInDom(desc.indom, name)) < 0) {
        fprintf(stderr, "pcpclient: no instance %s of %s: %s\n", name, metric, pmErrStr(*inst));
        return -1;
    }
    return 0;
}

/* pmStore of one string value (the agents take a string stored into an
   EVENT metric as a run's parameters, as pmval -x does). */
static int store_string(pmID pmid, int inst, const char *text)
{
    size_t length = strlen(text) + 1;
    size_t need = PM_VAL_HDR_SIZE + length;
    pmValueBlock *block = calloc(1, need < sizeof(pmValueBlock) ? sizeof(pmValueBlock) : need);
    pmResult result;
    pmValueSet vset;
    memset(&result, 0, sizeof(result));
    memset(&vset, 0, sizeof(vset));
    block->vtype = PM_TYPE_STRING;
    block->vlen = need;
    memcpy(block->vbuf, text, length);
    vset.pmid = pmid;
    vset.numval = 1;
    vset.valfmt = PM_VAL_DPTR;
    vset.vlist[0].inst = inst;
    vset.vlist[0].value.pval = block;
    result.numpmid = 1;
    result.vset[0] = &vset;
    int sts = pmStore(&result);
    free(block);
    return sts;
}

static int hold(const char *prefix, const char *instance, const char *params, int count)
{
    char metric[256];
    snprintf(metric, sizeof(metric), "%s.firehose", prefix);
    int started = 0, refused = 0;
    for (int i = 0; i < count; i++) {
        pmID pmid;
        pmInDom indom;
        int inst;
        if (connect_unix() < 0 || lookup(metric, instance, &pmid, &indom, &inst) < 0) return 1;
        int sts = store_string(pmid, inst, params);
        if (sts < 0) {
            if (refused++ == 0) fprintf(stderr, "pcpclient: store into %s[%s]: %s\n", metric, instance, pmErrStr(sts));
        } else {
            started++;
        }
    }
    printf("started=%d refused=%d\n", started, refused);
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof(buf)) > 0)
        ;
    return 0;
}

static int start(const char *name, const char *params)
{
    pmID pmid;
    pmInDom indom;
    int inst;
    if (connect_unix() < 0 || lookup("pipe.control.start", name, &pmid, &indom, &inst) < 0) return 1;
    int sts = store_string(pmid, inst, params);
    if (sts < 0) fprintf(stderr, "pcpclient: store into pipe.control.start[%s]: %s\n", name, pmErrStr(sts));
    /* The reply (also a refusal's reason) is this context's next value. */
    pmDelProfile(indom, 0, NULL);
    pmAddProfile(indom, 1, &inst);
    pmResult *result;
    int fetched = pmFetch(1, &pmid, &result);
    if (fetched < 0) {
        fprintf(stderr, "pcpclient: fetch pipe.control.start[%s]: %s\n", name, pmErrStr(fetched));
        return 1;
    }
    pmValueSet *vset = result->vset[0];
    if (vset->numval == 1 && vset->valfmt != PM_VAL_INSITU)
        printf("%s\n", vset->vlist[0].value.pval->vbuf);
    else
        printf("{}\n");
    pmFreeResult(result);
    return sts < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "hold") == 0) return hold(argv[2], argv[3], argv[4], atoi(argv[5]));
    if (argc == 4 && strcmp(argv[1], "start") == 0) return start(argv[2], argv[3]);
    fprintf(stderr, "usage: pcpclient hold PREFIX INSTANCE PARAMS COUNT | pcpclient start NAME PARAMS\n");
    return 1;
}
