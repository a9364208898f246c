import Testing

@testable import PipeClient

/// The rules that decide which mode pmpipe's options select, without a
/// command line (the binary's own usage errors are in HelpTests).
@Suite struct PmpipeModeTests {
    private func arguments(_ build: (inout PmpipeArguments) -> Void) -> PmpipeArguments {
        var arguments = PmpipeArguments()
        build(&arguments)
        return arguments
    }

    private func refusal(_ build: (inout PmpipeArguments) -> Void) -> String? {
        do {
            _ = try arguments(build).mode()
            return nil
        } catch {
            return error.description
        }
    }

    @Test func anInstanceAloneIsAPrivateRunWithEmptyParameters() throws {
        #expect(try arguments { $0.instance = "count" }.mode() == .run(instance: "count", parameters: ""))
        #expect(
            try arguments {
                $0.instance = "count"
                $0.parameters = "5"
            }.mode()
                == .run(instance: "count", parameters: "5"))
    }

    @Test func eachModeFlagSelectsItsMode() throws {
        #expect(try arguments { $0.list = true }.mode() == .list)
        #expect(try arguments { $0.runs = true }.mode() == .runs)
        #expect(
            try arguments {
                $0.explain = true
                $0.instance = "c"
                $0.parameters = "1 2"
            }.mode()
                == .explain(instance: "c", parameters: "1 2"))
        #expect(
            try arguments {
                $0.shared = true
                $0.instance = "c"
            }.mode() == .shared(instance: "c", parameters: ""))
        #expect(try arguments { $0.attach = "c.3" }.mode() == .attach(run: "c.3", from: .now))
        #expect(
            try arguments {
                $0.attach = "c.3"
                $0.from = .start
            }.mode() == .attach(run: "c.3", from: .start))
        #expect(try arguments { $0.stop = " c.3 " }.mode() == .stop(run: "c.3"))
        #expect(
            try arguments {
                $0.archive = "/a/b"
                $0.instance = "c.3"
                $0.start = "@10:00"
            }.mode()
                == .replay(archive: "/a/b", instance: "c.3", start: "@10:00", finish: nil))
    }

    @Test func twoModesAreRefusedNamingBoth() {
        #expect(
            refusal {
                $0.list = true
                $0.runs = true
            }
                == "--list and --runs cannot be combined: choose one of --list, --explain, --shared, --attach, --runs, --stop and -a"
        )
        #expect(
            refusal {
                $0.shared = true
                $0.attach = "x.1"
            }?.hasPrefix("--shared and --attach cannot be combined") == true)
        #expect(
            refusal {
                $0.explain = true
                $0.archive = "a"
                $0.instance = "x"
            }?.hasPrefix("--explain and -a") == true)
    }

    @Test func modesWithoutAnInstanceRefuseIAndX() {
        #expect(
            refusal {
                $0.list = true
                $0.instance = "x"
            } == "--list takes no -i or -x")
        #expect(
            refusal {
                $0.runs = true
                $0.parameters = ""
            } == "--runs takes no -i or -x")
        #expect(
            refusal {
                $0.attach = "x.1"
                $0.instance = "x"
            }
                == "--attach takes a run name like bdev_trace.3, not -i (see pmpipe --runs)")
        #expect(
            refusal {
                $0.stop = "x.1"
                $0.parameters = "5"
            }
                == "--stop takes no -x: a shared run's parameters were given when it started")
        #expect(refusal { $0.attach = "  " } == "--attach needs a run name like bdev_trace.3 (see pmpipe --runs)")
    }

    @Test func optionsOfOneModeAreRefusedWithoutIt() {
        #expect(
            refusal {
                $0.instance = "x"
                $0.from = .start
            } == "--from goes with --attach RUN")
        #expect(
            refusal {
                $0.instance = "x"
                $0.start = "@10:00"
            } == "-S and -T set the time window of -a ARCHIVE")
        #expect(
            refusal {
                $0.instance = "x"
                $0.finish = "-1m"
            } == "-S and -T set the time window of -a ARCHIVE")
    }

    @Test func anArchiveNeedsARunAndTakesNoHostOrParameters() {
        #expect(refusal { $0.archive = "a" }?.hasPrefix("missing -i <run>, the run to replay") == true)
        #expect(
            refusal {
                $0.archive = "a"
                $0.instance = "x.1"
                $0.host = "unix:"
            }
                == "-a reads an archive, not pmcd: it takes no -h")
        #expect(
            refusal {
                $0.archive = "a"
                $0.instance = "x.1"
                $0.parameters = "5"
            }
                == "-a replays what a run wrote: it takes no -x")
    }

    @Test func aRunWithoutAnInstanceSaysWhereToFindOne() {
        #expect(refusal { _ in } == "missing -i <instance>, the configured command to run (see pmpipe --list)")
        #expect(
            refusal {
                $0.explain = true
                $0.parameters = "5"
            }
                == "missing -i <instance>, the configured command to run (see pmpipe --list)")
        #expect(
            refusal { $0.shared = true } == "missing -i <instance>, the configured command to run (see pmpipe --list)")
    }
}
