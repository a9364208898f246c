// pmdapipe: the pipe agent. pmcd starts it (see pmdas/pipe/Install); run it
// by hand only with -C (check the configuration) or --help.
import Glibc
import PipeAgent

exit(PipeAgentMain.run(arguments: CommandLine.arguments))
