"""The benchmark behind bench/run: the Swift pipe agent against PCP's C one.

    shell    log lines, running a tool, the one error type
    config   paths, the four bench commands, the rate ladders, the plan of a run
    probes   what the bench reads off the machine (psutil): CPU times, RSS,
             processes by command line, CPU steal, load, the machine itself
    pcpapi   what it asks pmcd itself (python3-pcp): timed fetches, values
    agents   the two agents: finding them, giving them the bench's commands
             and taking them back (Setup)
    pmpipe   runs of the client, pmpipe, whose output the bench checks
    phases   the measurements, in the order bench/run calls them; each adds
             its rows to the table (the last ones, for what only our agent
             has, use bench/pcpclient.c for their stores)
    report   number formats, the results table, RESULTS.md

bench/README.md says what every number means.
"""
