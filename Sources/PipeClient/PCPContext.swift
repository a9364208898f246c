import CPCP
import PipeCore
import PipeSystem

/// One PMAPI context to pmcd: the only type in pmpipe that calls libpcp
/// for connections, names, descriptors, instances, stores and fetches.
///
/// pmpipe is single-threaded and holds one context, so libpcp's "current
/// context" is always this one while it is open.
final class PCPContext {
    /// The host specification, or the archive's path.
    let host: String
    /// A pmlogger archive rather than a live pmcd.
    let isArchive: Bool
    private var handle: Int32

    /// The corresponding C call is pmNewContext(PM_CONTEXT_HOST, host).
    ///
    /// Over the unix socket a failed connection is tried again while pmcd's
    /// socket is there, for as long as libpcp gives any connection to
    /// complete (PMCD_CONNECT_TIMEOUT, 5 s by default): pmcd queues only 5
    /// pending connections and libpcp's connect does not wait for room, so
    /// clients started together find the queue full and fail at once
    /// (ConnectPatience tells the whole story). `local:` is connected as
    /// `unix:` while the socket is there: libpcp would fall back to TCP,
    /// which carries no credentials, whenever the queue is full. With no
    /// socket there is no pmcd to wait for: it fails at once (or, for
    /// `local:`, goes over TCP as libpcp means it to).
    init(host: String) throws(PipeClientError) {
        self.host = host
        isArchive = false
        let socket = ConnectPatience.unixSocketPath(of: host, defaultPath: Self.defaultSocketPath)
        let spec = ConnectPatience.connectionSpec(for: host, socketExists: socket.map(LocalSocket.exists(at:)) ?? false)
        var sts = spec.withCString { pmNewContext(PM_CONTEXT_HOST, $0) }
        if sts < 0, spec.hasPrefix("unix:"), let socket {
            let patience = ConnectPatience(connectTimeoutSeconds: __pmConnectTimeout())
            let start = Clock.monotonic()
            var failures = 1
            while sts < 0, LocalSocket.exists(at: socket),
                let pause = patience.pause(
                    afterFailures: failures, elapsed: Clock.monotonic().since(start),
                    spread: Double.random(in: 0..<1))
            {
                _ = Clock.sleep(for: pause)
                sts = spec.withCString { pmNewContext(PM_CONTEXT_HOST, $0) }
                failures += 1
            }
            if sts < 0, LocalSocket.exists(at: socket) {
                throw .pmcdQueueFull(
                    host: host, socket: socket, waited: Clock.monotonic().since(start),
                    reason: pcpErrorText(sts))
            }
        }
        guard sts >= 0 else {
            // libpcp reports a name it cannot resolve as EHOSTUNREACH
            // (__pmHostEntGetByName failing in connect.c), the same as an
            // unreachable host: tell them apart for the user.
            if sts == -EHOSTUNREACH, let name = HostSpec(host).resolvableName, Self.isUnknown(name) {
                throw .unknownHost(host: host, name: name)
            }
            throw .cannotConnect(
                host: host, reason: pcpErrorText(sts), pmcdMayBeDown: PipeClientError.pmcdMayBeDown(code: sts))
        }
        handle = sts
    }

    /// Whether getaddrinfo(3) says there is no such name (not merely that
    /// it could not look it up now, see HostSpec.nameIsUnknown).
    static func isUnknown(_ name: String) -> Bool {
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, nil, &result)
        if status == 0 { freeaddrinfo(result) }
        return HostSpec.nameIsUnknown(getaddrinfoStatus: status)
    }

    /// pmcd's socket when `unix:` names none, as libpcp finds it
    /// (auxconnect.c: PMCD_SOCKET from the environment, else
    /// $PCP_RUN_DIR/pmcd.socket; pmGetOptionalConfig looks in the
    /// environment first).
    static var defaultSocketPath: String {
        if let path = pmGetOptionalConfig("PMCD_SOCKET") { return String(cString: path) }
        let directory = pmGetOptionalConfig("PCP_RUN_DIR").map { String(cString: $0) } ?? "/run/pcp"
        return directory + "/pmcd.socket"
    }

    /// The corresponding C call is pmNewContext(PM_CONTEXT_ARCHIVE, path):
    /// a pmlogger archive (a path, its base name, or a directory of them).
    init(archive path: String) throws(PipeClientError) {
        host = path
        isArchive = true
        let sts = path.withCString { pmNewContext(PM_CONTEXT_ARCHIVE, $0) }
        guard sts >= 0 else { throw .cannotOpenArchive(path: path, reason: pcpErrorText(sts)) }
        handle = sts
    }

    /// Whether this is the local unix socket, over which pmcd passes the
    /// client's uid and gid to the agent.
    var isUnixSocket: Bool { host.hasPrefix("local:") || host.hasPrefix("unix:") }

    /// Disconnects. pmcd then tells the agent the context ended, and the
    /// agent stops the command. Idempotent.
    /// The corresponding C call is pmDestroyContext.
    func close() {
        guard handle >= 0 else { return }
        _ = pmDestroyContext(handle)
        handle = -1
    }

    deinit { close() }

    // MARK: - Names and descriptors

    /// The PMID of `name`, or nil when pmcd does not know the name.
    /// The corresponding C call is pmLookupName.
    func lookup(_ name: String) throws(PipeClientError) -> pmID? {
        var pmid = pmID(0)
        let sts = name.withCString { cname -> Int32 in
            var names: [UnsafePointer<CChar>?] = [cname]
            return names.withUnsafeMutableBufferPointer { pmLookupName(1, $0.baseAddress, &pmid) }
        }
        if sts == cpcp_ERR_NAME || sts == cpcp_ERR_PMID || sts == cpcp_ERR_NOAGENT { return nil }
        guard sts >= 0 else { throw .pcp(operation: "looking up \(name)", reason: pcpErrorText(sts)) }
        return pmid
    }

    /// The corresponding C call is pmLookupDesc.
    func descriptor(_ pmid: pmID, name: String) throws(PipeClientError) -> pmDesc {
        var desc = pmDesc()
        let sts = pmLookupDesc(pmid, &desc)
        guard sts >= 0 else { throw .pcp(operation: "reading the descriptor of \(name)", reason: pcpErrorText(sts)) }
        return desc
    }

    // MARK: - Instances

    /// The instance number of `name` in `indom`, or nil if there is none.
    /// The corresponding C call is pmLookupInDom, or for an archive
    /// pmLookupInDomArchive (every instance the archive ever saw, not only
    /// those at its current time).
    func instance(named name: String, in indom: pmInDom) throws(PipeClientError) -> Int32? {
        let sts = name.withCString { isArchive ? pmLookupInDomArchive(indom, $0) : pmLookupInDom(indom, $0) }
        if sts == cpcp_ERR_INST || sts == cpcp_ERR_INST_LOG || sts == cpcp_ERR_INDOM_LOG { return nil }
        guard sts >= 0 else { throw .pcp(operation: "looking up instance '\(name)'", reason: pcpErrorText(sts)) }
        return sts
    }

    /// Every instance of `indom`, in the agent's order (none: an empty list).
    /// The corresponding C call is pmGetInDom, or pmGetInDomArchive.
    func instances(of indom: pmInDom, purpose: String = "listing the configured commands")
        throws(PipeClientError) -> [(id: Int32, name: String)]
    {
        var ids: UnsafeMutablePointer<Int32>?
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = isArchive ? pmGetInDomArchive(indom, &ids, &names) : pmGetInDom(indom, &ids, &names)
        if n == cpcp_ERR_INDOM || n == cpcp_ERR_INST || n == cpcp_ERR_INDOM_LOG { return [] }
        guard n >= 0 else { throw .pcp(operation: purpose, reason: pcpErrorText(n)) }
        defer { cpcp_client_free_instances(ids, names) }
        var result: [(id: Int32, name: String)] = []
        for i in 0..<Int(n) {
            guard let ids, let names, let cname = names[i] else { continue }
            result.append((ids[i], String(cString: cname)))
        }
        return result
    }

    /// Lets fetches of metrics in `indom` cover every instance again.
    /// The corresponding C call is pmAddProfile with no instances.
    func widenProfile(_ indom: pmInDom) throws(PipeClientError) {
        let sts = pmAddProfile(indom, 0, nil)
        guard sts >= 0 else { throw .pcp(operation: "setting the instance profile", reason: pcpErrorText(sts)) }
    }

    /// Restricts fetches of metrics in `indom` to one instance.
    /// The corresponding C calls are pmDelProfile and pmAddProfile.
    func restrictProfile(_ indom: pmInDom, to instance: Int32) throws(PipeClientError) {
        var sts = pmDelProfile(indom, 0, nil)
        if sts >= 0 {
            var inst = instance
            sts = pmAddProfile(indom, 1, &inst)
        }
        guard sts >= 0 else { throw .pcp(operation: "setting the instance profile", reason: pcpErrorText(sts)) }
    }

    // MARK: - Store and fetch

    /// Stores one string into `pmid[instance]`; returns pmStore's status
    /// (callers map agent errors to sentences).
    func storeString(_ pmid: pmID, instance: Int32, _ value: String) -> Int32 {
        var bytes = Array(value.utf8)
        let count = bytes.count
        return bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(count, 1)) {
                cpcp_client_store_string(pmid, instance, $0, count)
            }
        }
    }

    /// Fetches one metric and hands its value set to `body` while the
    /// pmResult is alive (it is freed afterwards, so nothing may escape).
    /// The corresponding C calls are pmFetch and pmFreeResult.
    func fetch<T>(_ pmid: pmID, _ body: (UnsafeMutablePointer<pmValueSet>) throws -> T) throws -> T {
        try fetch(pmid) { vset, _ in try body(vset) }
    }

    /// Like `fetch(_:_:)`, with the result's timestamp: the time pmcd took
    /// the values (on the agent's host), or the archive record's time.
    /// Throws `PipeClientError.pcp` for a failed fetch; an archive's end is
    /// `ArchiveEnd`.
    func fetch<T>(_ pmid: pmID, _ body: (UnsafeMutablePointer<pmValueSet>, Timestamp) throws -> T) throws -> T {
        var list = [pmid]
        var result: UnsafeMutablePointer<pmResult>?
        let sts = pmFetch(1, &list, &result)
        if (sts == cpcp_ERR_EOL || sts == cpcp_ERR_EOF) && isArchive { throw ArchiveEnd() }
        let source = isArchive ? "the archive \(host)" : "pmcd on \(host)"
        guard sts >= 0, let result else {
            throw PipeClientError.pcp(operation: "fetching from \(source)", reason: pcpErrorText(sts))
        }
        defer { pmFreeResult(result) }
        guard result.pointee.numpmid >= 1, let vset = cpcp_result_valueset(result, 0) else {
            throw PipeClientError.pcp(operation: "fetching from \(source)", reason: "empty result")
        }
        let stamp = result.pointee.timestamp
        return try body(vset, Timestamp(seconds: Int64(stamp.tv_sec), microseconds: Int32(stamp.tv_usec)))
    }

    /// Fetches an integer metric for every instance (64-bit, whatever its
    /// PCP type). The corresponding C call is pmExtractValue.
    func fetchIntegers(_ pmid: pmID, type: Int32) throws -> [Int32: Int64] {
        try fetch(pmid) { vset -> [Int32: Int64] in
            var out: [Int32: Int64] = [:]
            let valfmt = vset.pointee.valfmt
            for i in 0..<Int(max(vset.pointee.numval, 0)) {
                let value = cpcp_valueset_value(vset, Int32(i))!
                var atom = pmAtomValue()
                guard pmExtractValue(valfmt, value, type, &atom, PM_TYPE_64) >= 0 else { continue }
                out[value.pointee.inst] = Int64(atom.ll)
            }
            return out
        }
    }

    /// Fetches a STRING metric for one instance (nil when it has no value).
    func fetchString(_ pmid: pmID, instance: Int32?) throws -> String? {
        try fetch(pmid) { vset -> String? in
            let numval = vset.pointee.numval
            guard numval > 0 else { return nil }
            for i in 0..<Int(numval) {
                let value = cpcp_valueset_value(vset, Int32(i))!
                if let instance, value.pointee.inst != instance { continue }
                return stringValue(vset, value)
            }
            return nil
        }
    }

    /// Fetches a STRING metric for every instance.
    func fetchStrings(_ pmid: pmID) throws -> [Int32: String] {
        try fetch(pmid) { vset -> [Int32: String] in
            var out: [Int32: String] = [:]
            for i in 0..<Int(max(vset.pointee.numval, 0)) {
                let value = cpcp_valueset_value(vset, Int32(i))!
                if let text = stringValue(vset, value) { out[value.pointee.inst] = text }
            }
            return out
        }
    }

    /// The first value's string in a fetched value set (`instance` nil: any).
    func stringValue(in vset: UnsafeMutablePointer<pmValueSet>, instance: Int32?) -> String? {
        for i in 0..<Int(max(vset.pointee.numval, 0)) {
            let value = cpcp_valueset_value(vset, Int32(i))!
            if let instance, value.pointee.inst != instance { continue }
            return stringValue(vset, value)
        }
        return nil
    }

    private func stringValue(_ vset: UnsafeMutablePointer<pmValueSet>, _ value: UnsafeMutablePointer<pmValue>)
        -> String?
    {
        let valfmt = vset.pointee.valfmt
        guard valfmt == PM_VAL_DPTR || valfmt == PM_VAL_SPTR, let block = value.pointee.value.pval else { return nil }
        let length = Int(cpcp_valueblock_vlen(block)) - Int(PM_VAL_HDR_SIZE)
        guard length >= 0, let bytes = cpcp_valueblock_bytes(block) else { return nil }
        var raw = UnsafeRawBufferPointer(start: bytes, count: length)
        while let last = raw.last, last == 0 { raw = UnsafeRawBufferPointer(rebasing: raw.dropLast()) }
        return String(decoding: raw, as: UTF8.self)
    }
}

/// The archive has no more records (PM_ERR_EOL from pmFetch).
struct ArchiveEnd: Error {}

/// pmErrStr_r's text for a PCP or -errno code.
func pcpErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PM_MAXERRMSGLEN))
    let count = buffer.count
    return buffer.withUnsafeMutableBufferPointer { String(cString: pmErrStr_r(code, $0.baseAddress, Int32(count))) }
}
