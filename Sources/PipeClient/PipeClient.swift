// PipeClient: the client side of the pipe agent, used by pmpipe.
//
//   PmpipeArguments   which mode pmpipe's options select (pure, tested alone)
//   StoreRequest      the parameters, checked against pmcd's 64 KiB limit
//   PipeConnection    connect, check the agent, list commands, explain, start a run
//   PipeConnection+SharedRuns  start, stop, list and follow shared runs
//   ArchiveReplay     a run's records read back from a pmlogger archive (-S/-T)
//   PipeRun           fetch a run's event records (private or shared)
//   (PipeCore's EventArrayDecoder reads the fetched pmEventArrays in place)
//   RecordPrinter     records -> the command's stdout/stderr bytes
//   RecordWindow      which records to print, by time (--attach, -S/-T)
//   CommandListing, RunTable, ControlReply, Explanation, HostSpec
//                     --list and --runs layouts, the agent's control replies,
//                     the explain verdict, advice about credentials over TCP
//   OutputBuffer      big write(2) buffer that reports EPIPE
//   TerminationSignals  SIGINT/TERM/HUP recorded, SIGPIPE ignored
//   HeapTuning        malloc thresholds that keep libpcp's fetch buffers mapped
//   Pmpipe            each mode of pmpipe, returning its exit status
//
// All libpcp calls are in PCPContext, PipeConnection and ArchiveReplay. The C
// library is reached only through PipeSystem's typed wrappers (FileDescriptor,
// Errno, SignalRecorder, Clock, Memory): this module imports no Glibc.
