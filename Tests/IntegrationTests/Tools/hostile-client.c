/*
 * hostile-client: a PCP client that does what well-behaved tools do not,
 * for the agent's integration tests (built by them with cc -lpcp).
 *
 *   hostile-client dupfetch INSTANCE PARAMS COPIES
 *       store PARAMS into pipe.firehose[INSTANCE], then fetch with the
 *       firehose PMID repeated COPIES times in every pmFetch until the end
 *       record; every copy of a fetch must hold exactly the same records.
 *       Prints: records=N lines=N missed=N mismatches=N end=0|1
 *   hostile-client noread INSTANCE PARAMS SECONDS
 *       store, then never fetch; keep the context open SECONDS.
 *   hostile-client refusals INSTANCE COUNT BYTES
 *       COUNT stores whose parameter is BYTES bytes of '!' (refused).
 *       Prints: refused=N
 *   hostile-client readrun RUN DELAY
 *       fetch pipe.run.records[RUN] (a shared run) once, wait DELAY
 *       seconds, then follow it until its end record (DELAY 0: just follow
 *       it). Prints: records=N lines=N missed=N end=0|1
 *   hostile-client contexts INSTANCE PARAMS COUNT SECONDS
 *       COUNT contexts at once, each storing PARAMS; keeps them SECONDS.
 *       Prints: started=N refused=N
 *
 * Exit status 0 when the scenario ran (its verdict is in the output), 1 on
 * a usage or connection error.
 */
#include <pcp/pmapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes a value takes in a PDU: rounded up to 32 bits (PM_PDU_SIZE_BYTES). */
#define PAD4(n) (((n) + 3) & ~3)

static pmID firehose, line_id;

static int connect_and_lookup(void)
{
    const char *names[] = { "pipe.firehose", "pipe.line" };
    pmID ids[2];
    int ctx = pmNewContext(PM_CONTEXT_HOST, "unix:");
    if (ctx < 0) {
        fprintf(stderr, "pmNewContext: %s\n", pmErrStr(ctx));
        return ctx;
    }
    int sts = pmLookupName(2, names, ids);
    if (sts < 0) {
        fprintf(stderr, "pmLookupName: %s\n", pmErrStr(sts));
        return sts;
    }
    firehose = ids[0];
    line_id = ids[1];
    return ctx;
}

static int instance_of(const char *name)
{
    pmDesc desc;
    pmLookupDesc(firehose, &desc);
    return pmLookupInDom(desc.indom, name);
}

static int store(int inst, const char *params, size_t length)
{
    pmResult *result = calloc(1, sizeof(pmResult));
    pmValueSet *vset = calloc(1, sizeof(pmValueSet));
    size_t need = PM_VAL_HDR_SIZE + length + 1;
    pmValueBlock *block = calloc(1, need < sizeof(pmValueBlock) ? sizeof(pmValueBlock) : need);
    block->vtype = PM_TYPE_STRING;
    block->vlen = PM_VAL_HDR_SIZE + length + 1;
    memcpy(block->vbuf, params, length);
    vset->pmid = firehose;
    vset->numval = 1;
    vset->valfmt = PM_VAL_DPTR;
    vset->vlist[0].inst = inst;
    vset->vlist[0].value.pval = block;
    result->numpmid = 1;
    result->vset[0] = vset;
    int sts = pmStore(result);
    free(block);
    free(vset);
    free(result);
    return sts;
}

static int dupfetch(const char *instance, const char *params, int copies)
{
    if (connect_and_lookup() < 0) return 1;
    int inst = instance_of(instance);
    if (inst < 0) { fprintf(stderr, "no instance %s\n", instance); return 1; }
    pmDesc desc;
    pmLookupDesc(firehose, &desc);
    pmDelProfile(desc.indom, 0, NULL);
    pmAddProfile(desc.indom, 1, &inst);
    int sts = store(inst, params, strlen(params));
    if (sts < 0) { fprintf(stderr, "store: %s\n", pmErrStr(sts)); return 1; }
    pmID *list = malloc(sizeof(pmID) * copies);
    for (int i = 0; i < copies; i++) list[i] = firehose;
    long records = 0, lines = 0, missed = 0, mismatches = 0;
    int end = 0, idle = 0;
    while (!end && idle < 600) {
        pmResult *result;
        if ((sts = pmFetch(copies, list, &result)) < 0) { fprintf(stderr, "fetch: %s\n", pmErrStr(sts)); return 1; }
        int got = 0;
        /* Every copy must carry the same bytes: one snapshot per fetch. */
        for (int i = 1; i < result->numpmid; i++) {
            pmValueSet *a = result->vset[0], *b = result->vset[i];
            if (a->numval != b->numval) { mismatches++; continue; }
            for (int v = 0; v < a->numval && v < b->numval; v++) {
                pmValueBlock *x = a->vlist[v].value.pval, *y = b->vlist[v].value.pval;
                if (x->vlen != y->vlen || memcmp(x, y, x->vlen) != 0) mismatches++;
            }
        }
        pmValueSet *vset = result->vset[0];
        if (vset->numval == PM_ERR_NOTCONN) end = 1;
        /* pmcd turns the agent's refusal of the fetch into each value set's error. */
        else if (vset->numval < 0) { fprintf(stderr, "fetch: %s\n", pmErrStr(vset->numval)); return 1; }
        for (int v = 0; v < vset->numval; v++) {
            /* libpcp's own check of the array first (pmUnpackEventRecords
               refuses a malformed one; it costs far more than the agent's
               encoding, so only arrays of modest size), then a walk of the
               packed records: lines, MISSED counts, the END flag. */
            pmEventArray *array = (pmEventArray *)vset->vlist[v].value.pval;
            if (array->ea_nrecords <= 2048) {
                pmResult **events;
                int n = pmUnpackEventRecords(vset, v, &events);
                if (n < 0) { fprintf(stderr, "unpack: %s\n", pmErrStr(n)); return 1; }
                pmFreeEventResult(events);
            }
            char *cursor = (char *)&array->ea_record[0];
            for (int r = 0; r < array->ea_nrecords; r++) {
                pmEventRecord *record = (pmEventRecord *)cursor;
                records++;
                got = 1;
                cursor = (char *)&record->er_param[0];
                if (record->er_flags == PM_EVENT_FLAG_MISSED) {
                    missed += record->er_nparams;
                    continue;
                }
                if (record->er_flags & PM_EVENT_FLAG_END) end = 1;
                for (int p = 0; p < record->er_nparams; p++) {
                    pmEventParameter *ep = (pmEventParameter *)cursor;
                    if (ep->ep_pmid == line_id) lines++;
                    cursor += sizeof(pmID) + PAD4(ep->ep_len);
                }
            }
        }
        pmFreeResult(result);
        if (!got) { idle++; usleep(10000); } else idle = 0;
    }
    printf("records=%ld lines=%ld missed=%ld mismatches=%ld end=%d\n", records, lines, missed, mismatches, end);
    return 0;
}

/* Counts a fetched event array's records: lines (pmid `line`), MISSED counts, END. */
static void walk(pmValueSet *vset, pmID line, long *records, long *lines, long *missed, int *end)
{
    for (int v = 0; v < vset->numval; v++) {
        pmEventArray *array = (pmEventArray *)vset->vlist[v].value.pval;
        char *cursor = (char *)&array->ea_record[0];
        for (int r = 0; r < array->ea_nrecords; r++) {
            pmEventRecord *record = (pmEventRecord *)cursor;
            (*records)++;
            cursor = (char *)&record->er_param[0];
            if (record->er_flags == PM_EVENT_FLAG_MISSED) { *missed += record->er_nparams; continue; }
            if (record->er_flags & PM_EVENT_FLAG_END) *end = 1;
            for (int p = 0; p < record->er_nparams; p++) {
                pmEventParameter *ep = (pmEventParameter *)cursor;
                if (ep->ep_pmid == line) (*lines)++;
                cursor += sizeof(pmID) + PAD4(ep->ep_len);
            }
        }
    }
}

static int readrun(const char *run, int delay)
{
    if (connect_and_lookup() < 0) return 1;
    const char *names[] = { "pipe.run.records" };
    pmID records_id;
    pmDesc desc;
    if (pmLookupName(1, names, &records_id) < 0 || pmLookupDesc(records_id, &desc) < 0) return 1;
    int inst = pmLookupInDom(desc.indom, run);
    if (inst < 0) { fprintf(stderr, "no run %s: %s\n", run, pmErrStr(inst)); return 1; }
    pmDelProfile(desc.indom, 0, NULL);
    pmAddProfile(desc.indom, 1, &inst);
    long records = 0, lines = 0, missed = 0;
    int end = 0, idle = 0;
    if (delay > 0) {
        /* From here on this context is a reader that follows the run. */
        pmResult *result;
        int sts = pmFetch(1, &records_id, &result);
        if (sts < 0) { fprintf(stderr, "fetch: %s\n", pmErrStr(sts)); return 1; }
        walk(result->vset[0], line_id, &records, &lines, &missed, &end);
        pmFreeResult(result);
        sleep(delay);
    }
    while (!end && idle < 1000) {
        pmResult *result;
        int sts = pmFetch(1, &records_id, &result);
        if (sts < 0) { fprintf(stderr, "fetch: %s\n", pmErrStr(sts)); return 1; }
        long before = records;
        walk(result->vset[0], line_id, &records, &lines, &missed, &end);
        pmFreeResult(result);
        if (records == before) { idle++; usleep(10000); } else idle = 0;
    }
    printf("records=%ld lines=%ld missed=%ld end=%d\n", records, lines, missed, end);
    return 0;
}

static int noread(const char *instance, const char *params, int seconds)
{
    if (connect_and_lookup() < 0) return 1;
    int sts = store(instance_of(instance), params, strlen(params));
    printf("store=%d\n", sts);
    fflush(stdout);
    sleep(seconds);
    return 0;
}

static int refusals(const char *instance, int count, int bytes)
{
    if (connect_and_lookup() < 0) return 1;
    int inst = instance_of(instance);
    char *params = malloc(bytes + 1);
    memset(params, '!', bytes);
    params[bytes] = '\0';
    int refused = 0;
    for (int i = 0; i < count; i++) {
        if (store(inst, params, bytes) < 0) refused++;
    }
    printf("refused=%d\n", refused);
    return 0;
}

static int contexts(const char *instance, const char *params, int count, int seconds)
{
    int started = 0, refused = 0;
    for (int i = 0; i < count; i++) {
        if (connect_and_lookup() < 0) return 1;
        if (store(instance_of(instance), params, strlen(params)) < 0) refused++; else started++;
    }
    printf("started=%d refused=%d\n", started, refused);
    fflush(stdout);
    sleep(seconds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "dupfetch") == 0) return dupfetch(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "noread") == 0) return noread(argv[2], argv[3], atoi(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "refusals") == 0) return refusals(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "readrun") == 0) return readrun(argv[2], atoi(argv[3]));
    if (argc >= 6 && strcmp(argv[1], "contexts") == 0) return contexts(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: hostile-client dupfetch|noread|refusals|contexts ...\n");
    return 1;
}
