/// The store that starts a run, checked against the size pmcd accepts from
/// a client, before pmpipe connects.
///
/// pmcd refuses every PDU from a client longer than 64 KiB (its `-L`
/// option, 65536 bytes by default, against denial of service; it logs "bad
/// PDU len ... exceeds maximum client PDU size"), and closes the connection:
/// the client sees only "IPC protocol failure". So pmpipe computes the size
/// of the PDU its store becomes and refuses with a sentence that names the
/// limit instead.
///
/// The store is one pmResult with one value set holding one string value
/// (cpcp_client_store_string in cpcp.h: a pmValueBlock of the bytes plus a
/// NUL, PM_VAL_DPTR). libpcp encodes it (p_result.c) as
///
///     header                      24  length, type, sender; timestamp; numpmid
///     value set                   20  pmid, numval, valfmt; instance, offset
///     value block   4 + n + 1, padded to a multiple of 4
///
/// pmStore sends this PDU_RESULT (measured against pmcd on the test machine:
/// 65487 bytes of parameters pass, 65488 fail). The header counted here is
/// the 32 bytes of PDU_HIGHRES_RESULT, the larger one, in case a newer
/// libpcp sends that: the estimate errs by at most 8 bytes, on the side of
/// refusing.
public struct StoreRequest: Sendable, Equatable {
    /// pmcd's default limit on a PDU from a client (`pmcd -L`).
    public static let pmcdLimit = 65536

    /// The larger of the two result headers (PDU_RESULT: 24).
    static let headerBytes = 32
    /// pmid, numval, valfmt, then one instance and value offset.
    static let valueSetBytes = 20
    /// The value block's length/type word, and the NUL after the string.
    static let valueBlockOverhead = 4 + 1

    public let parameters: String
    /// The size of the PDU that carries the store.
    public let pduBytes: Int

    /// Refuses parameters whose store would exceed pmcd's limit.
    public init(parameters: String) throws(PipeClientError) {
        let bytes = parameters.utf8.count
        let size = Self.pduBytes(parameterBytes: bytes)
        guard size <= Self.pmcdLimit else {
            throw .requestTooLarge(parameterBytes: bytes, pduBytes: size, limit: Self.pmcdLimit)
        }
        self.parameters = parameters
        pduBytes = size
    }

    /// The size of the store PDU for `parameterBytes` bytes of parameters.
    public static func pduBytes(parameterBytes: Int) -> Int {
        headerBytes + valueSetBytes + (parameterBytes + valueBlockOverhead + 3) / 4 * 4
    }
}
