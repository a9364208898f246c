import CPCP
import PipeSystem

/// One PMAPI context to pmcd: the only type in pmpipe that calls libpcp
/// for connections, names, descriptors, instances, stores and fetches.
///
/// pmpipe is single-threaded and holds one context, so libpcp's "current
/// context" is always this one while it is open.
final class PCPContext {
    let host: String
    private var handle: Int32

    /// The corresponding C call is pmNewContext(PM_CONTEXT_HOST, host).
    ///
    /// Over the unix socket a refused connect is retried briefly: when many
    /// clients connect at once pmcd's listen queue can overflow, and failing
    /// (or, with "local:", silently falling back to TCP, which carries no
    /// credentials) would refuse a client that is entitled to run.
    init(host: String) throws(PipeClientError) {
        self.host = host
        var sts = host.withCString { pmNewContext(PM_CONTEXT_HOST, $0) }
        var attempt = 0
        while sts < 0 && host.hasPrefix("unix:") && attempt < 20 {
            attempt += 1
            _ = Clock.sleep(for: .milliseconds(10 * min(attempt, 10)))
            sts = host.withCString { pmNewContext(PM_CONTEXT_HOST, $0) }
        }
        guard sts >= 0 else { throw .cannotConnect(host: host, reason: pcpErrorText(sts)) }
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
    /// The corresponding C call is pmLookupInDom.
    func instance(named name: String, in indom: pmInDom) throws(PipeClientError) -> Int32? {
        let sts = name.withCString { pmLookupInDom(indom, $0) }
        if sts == cpcp_ERR_INST { return nil }
        guard sts >= 0 else { throw .pcp(operation: "looking up instance '\(name)'", reason: pcpErrorText(sts)) }
        return sts
    }

    /// Every instance of `indom`, in the agent's order.
    /// The corresponding C call is pmGetInDom.
    func instances(of indom: pmInDom) throws(PipeClientError) -> [(id: Int32, name: String)] {
        var ids: UnsafeMutablePointer<Int32>?
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = pmGetInDom(indom, &ids, &names)
        guard n >= 0 else { throw .pcp(operation: "listing the configured commands", reason: pcpErrorText(n)) }
        defer { cpcp_client_free_instances(ids, names) }
        var result: [(id: Int32, name: String)] = []
        for i in 0..<Int(n) {
            guard let ids, let names, let cname = names[i] else { continue }
            result.append((ids[i], String(cString: cname)))
        }
        return result
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
        var list = [pmid]
        var result: UnsafeMutablePointer<pmResult>?
        let sts = pmFetch(1, &list, &result)
        guard sts >= 0, let result else {
            throw PipeClientError.pcp(operation: "fetching from pmcd on \(host)", reason: pcpErrorText(sts))
        }
        defer { pmFreeResult(result) }
        guard result.pointee.numpmid >= 1, let vset = cpcp_result_valueset(result, 0) else {
            throw PipeClientError.pcp(operation: "fetching from pmcd on \(host)", reason: "empty result")
        }
        return try body(vset)
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

    private func stringValue(_ vset: UnsafeMutablePointer<pmValueSet>, _ value: UnsafeMutablePointer<pmValue>) -> String? {
        let valfmt = vset.pointee.valfmt
        guard valfmt == PM_VAL_DPTR || valfmt == PM_VAL_SPTR, let block = value.pointee.value.pval else { return nil }
        let length = Int(cpcp_valueblock_vlen(block)) - Int(PM_VAL_HDR_SIZE)
        guard length >= 0, let bytes = cpcp_valueblock_bytes(block) else { return nil }
        var raw = UnsafeRawBufferPointer(start: bytes, count: length)
        while let last = raw.last, last == 0 { raw = UnsafeRawBufferPointer(rebasing: raw.dropLast()) }
        return String(decoding: raw, as: UTF8.self)
    }
}

/// pmErrStr_r's text for a PCP or -errno code.
func pcpErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PM_MAXERRMSGLEN))
    let count = buffer.count
    return buffer.withUnsafeMutableBufferPointer { String(cString: pmErrStr_r(code, $0.baseAddress, Int32(count))) }
}
