/*
 * The pipe agent's performance metrics domain: PCP's registered number for
 * "pipe" in $PCP_VAR_DIR/pmns/stdpmid, shared with PCP's C pipe agent so that
 * this agent is a drop-in replacement and archives keep their metric IDs.
 */
#define PIPE 128
