import CPCP
import PipeCore
import PipeSystem

// The C boundary. libpcp_pmda calls these non-capturing functions from
// __pmdaMainPDU; each finds the agent, converts C values to Swift ones,
// calls Swift and returns a PCP code. Everything runs on the main thread.

/// The one agent of this process (C callbacks cannot capture it).
nonisolated(unsafe) var currentAgent: Agent?

/// pmcd's fetch: a new PDU for the event-array pool, then pmdaFetch walks
/// the metrics and instances; an ended stream's "no values" becomes
/// PM_ERR_NOTCONN here, where pmval and pmevent look for it (pmdaFetch logs
/// every negative callback status as an error).
let fetchTrampoline:
    @convention(c) (
        Int32, UnsafeMutablePointer<pmID>?, UnsafeMutablePointer<UnsafeMutablePointer<pmResult>?>?,
        UnsafeMutablePointer<pmdaExt>?
    ) -> Int32 = { count, pmidList, result, ext in
        guard let agent = currentAgent else { return pmdaFetch(count, pmidList, result, ext) }
        agent.copiesInPDU = 1
        if let pmidList, count > 1 {
            var copies: [pmID: Int] = [:]
            for index in 0..<Int(count) { copies[pmidList[index], default: 0] += 1 }
            agent.copiesInPDU = copies.values.max() ?? 1
        }
        if agent.copiesInPDU > BatchLimits.maxRepeats { return cpcp_ERR_TOOBIG }
        if let ext { _ = agent.clients.context(ext.pointee.e_context) }
        agent.arrays.beginPDU()
        agent.endedStreamsInPDU = []
        let status = pmdaFetch(count, pmidList, result, ext)
        if status >= 0, let ext { agent.noteStreamsEndedOnRemovedInstances(context: ext.pointee.e_context) }
        if status >= 0, !agent.endedStreamsInPDU.isEmpty, let resultPointer = result?.pointee {
            agent.markEndedStreams(resultPointer)
        }
        return status
    }

/// pmdaFetch's per-value callback.
let fetchValueCallback:
    @convention(c) (
        UnsafeMutablePointer<pmdaMetric>?, UInt32, UnsafeMutablePointer<pmAtomValue>?
    ) -> Int32 = { metricPointer, instance, atom in
        guard let agent = currentAgent, let metricPointer, let atom else { return cpcp_ERR_GENERIC }
        let pmid = metricPointer.pointee.m_desc.pmid
        guard let metric = Metric.lookup(cluster: pmID_cluster(pmid), item: pmID_item(pmid)) else {
            return cpcp_ERR_PMID
        }
        let value = agent.value(of: metric, instance: Int32(bitPattern: instance), context: pmdaGetContext())
        return agent.answer(value, metric: metric, instance: Int32(bitPattern: instance), atom: atom)
    }

/// pmStore: one string value per value set (pipe.firehose, pipe.control.*).
let storeTrampoline:
    @convention(c) (
        UnsafeMutablePointer<pmResult>?, UnsafeMutablePointer<pmdaExt>?
    ) -> Int32 = { result, ext in
        guard let agent = currentAgent, let result, let ext else { return cpcp_ERR_GENERIC }
        return agent.store(result, context: ext.pointee.e_context)
    }

/// Client credentials, sent by pmcd once per context (needs PMDA_FLAG_AUTHORIZE).
let attributeTrampoline:
    @convention(c) (
        Int32, Int32, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<pmdaExt>?
    ) -> Int32 = { context, attribute, value, length, ext in
        let status = pmdaAttribute(context, attribute, value, length, ext)
        guard status >= 0 else { return status }
        if let value, length > 0 {
            let raw = UnsafeRawBufferPointer(start: value, count: Int(length))
            let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            currentAgent?.clients.attribute(context: context, attribute: attribute, value: text)
        }
        return 0
    }

/// A client context closed: stop whatever it started.
let endContextCallback: @convention(c) (Int32) -> Void = { context in
    currentAgent?.endContext(context)
}

extension Agent {
    /// Puts a value where pmdaFetch wants it: the atom, and a PMDA_FETCH_*
    /// code (or PCP error).
    func answer(
        _ value: MetricValue, metric: Metric, instance: Int32,
        atom: UnsafeMutablePointer<pmAtomValue>
    ) -> Int32 {
        switch value {
        case .u32(let number): atom.pointee.ul = number
        case .u64(let number): atom.pointee.ull = UInt(number)
        case .i32(let number): atom.pointee.l = number
        case .string(let text):
            // libpcp frees it after sending (PMDA_FETCH_DYNAMIC).
            atom.pointee.cp = strdup(text)
            return cpcp_FETCH_DYNAMIC
        case .events(let array):
            // Sent as it is (PMDA_FETCH_STATIC); the pool keeps it untouched
            // until the PDU has gone out.
            atom.pointee.vbp = UnsafeMutableRawPointer(mutating: array.baseAddress!)
                .assumingMemoryBound(to: pmValueBlock.self)
        case .none:
            return cpcp_FETCH_NOVALUES
        case .streamEnded:
            endedStreamsInPDU.insert(table.pmid(of: metric))
            return cpcp_FETCH_NOVALUES
        }
        return cpcp_FETCH_STATIC
    }

    /// A stream whose end record was fetched after a reload removed its
    /// command: the instance has left the instance domain, so pmdaFetch no
    /// longer asks for it and the value set would stay empty for ever (pmval
    /// and pmevent, waiting for PM_ERR_NOTCONN, never exited). Its end is
    /// said here instead.
    func noteStreamsEndedOnRemovedInstances(context: Int32) {
        guard let client = clients.existing(context) else { return }
        for (instance, stream) in client.streams where commands.nameByNumber[instance] == nil {
            if case .ended = stream { endedStreamsInPDU.insert(table.pmid(of: .firehose)) }
        }
    }

    /// Sets PM_ERR_NOTCONN on the value sets of ended streams with no values.
    func markEndedStreams(_ result: UnsafeMutablePointer<pmResult>) {
        for index in 0..<Int(result.pointee.numpmid) {
            guard let valueSet = cpcp_result_valueset(result, Int32(index)),
                endedStreamsInPDU.contains(valueSet.pointee.pmid), valueSet.pointee.numval == 0
            else { continue }
            valueSet.pointee.numval = cpcp_ERR_NOTCONN
        }
    }

    /// A store PDU: every value set must name a storable metric with one
    /// string value. Stores are refused as a whole before anything starts
    /// when one value set is malformed.
    func store(_ result: UnsafeMutablePointer<pmResult>, context: Int32) -> Int32 {
        var requests: [(metric: Metric, instance: Int32, bytes: [UInt8])] = []
        for index in 0..<Int(result.pointee.numpmid) {
            guard let valueSet = cpcp_result_valueset(result, Int32(index)) else { return cpcp_ERR_BADSTORE }
            let pmid = valueSet.pointee.pmid
            guard let metric = Metric.lookup(cluster: pmID_cluster(pmid), item: pmID_item(pmid)),
                Self.storable.contains(metric)
            else { return cpcp_ERR_PERMISSION }
            guard valueSet.pointee.numval == 1,
                valueSet.pointee.valfmt == PM_VAL_DPTR || valueSet.pointee.valfmt == PM_VAL_SPTR,
                let value = cpcp_valueset_value(valueSet, 0), let block = value.pointee.value.pval
            else {
                return cpcp_ERR_BADSTORE
            }
            let length = Int(cpcp_valueblock_vlen(block)) - Int(PM_VAL_HDR_SIZE)
            guard length >= 0 else { return cpcp_ERR_BADSTORE }
            let bytes = [UInt8](UnsafeRawBufferPointer(start: cpcp_valueblock_bytes(block), count: length))
            requests.append((metric, value.pointee.inst, bytes))
        }
        for request in requests {
            let status: Int32
            switch request.metric {
            case .firehose:
                status = storeFirehose(context: context, instance: request.instance, parameterBytes: request.bytes)
            case .controlExplain:
                status = storeExplain(context: context, instance: request.instance, parameterBytes: request.bytes)
            case .controlStart:
                status = storeControlStart(context: context, instance: request.instance, parameterBytes: request.bytes)
            case .controlStop: status = storeControlStop(context: context, parameterBytes: request.bytes)
            case .controlLaunch: status = storeControlLaunch(context: context, requestBytes: request.bytes)
            default: status = cpcp_ERR_PERMISSION
            }
            if status < 0 { return status }
        }
        return 0
    }

    /// Metrics a client may store into (as in PCP's agent, everything else
    /// is read-only).
    static let storable: Set<Metric> = [.firehose, .controlExplain, .controlStart, .controlStop, .controlLaunch]
}
