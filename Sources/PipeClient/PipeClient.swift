// PipeClient: the client side of the pipe agent, used by pmpipe.
//
//   StoreRequest      the parameters, checked against pmcd's 64 KiB limit
//   PipeConnection    connect, check the agent, list commands, start a run
//   PipeRun           fetch a run's event records
//   (PipeCore's EventArrayDecoder reads the fetched pmEventArrays in place)
//   RecordPrinter     records -> the command's stdout/stderr bytes
//   OutputBuffer      big write(2) buffer that reports EPIPE
//   TerminationSignals  SIGINT/TERM/HUP recorded, SIGPIPE ignored
//   HeapTuning        malloc thresholds that keep libpcp's fetch buffers mapped
//   Pmpipe            the whole pmpipe run, returning its exit status
//
// All libpcp calls are in PCPContext and PipeConnection. The C library is
// reached only through PipeSystem's typed wrappers (FileDescriptor, Errno,
// SignalRecorder, Clock, Memory): this module imports no Glibc.
