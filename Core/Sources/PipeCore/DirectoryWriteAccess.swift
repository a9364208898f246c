// Whether a client could change a directory on the way to a `path under
// DIR` parameter between the agent's check and the command's open: if it
// can, it swaps a component for a symbolic link to /etc and the command,
// perhaps running as root, reads /etc/shadow for it. Mode bits alone do not
// answer that: the owner of a 0555 directory may chmod it back, and a POSIX
// ACL may grant what the mode bits hide.

/// What the path check knows of one directory on the way to a path
/// parameter: from the root of the file system down to the directory the
/// parameter names, or to the parent of the file it names.
public struct DirectoryFacts: Sendable, Equatable {
    public var path: String
    public var owner: UInt32
    public var group: UInt32
    /// The permission bits, the sticky bit (0o1000) included.
    public var mode: UInt32
    /// Whether the directory carries an access ACL (the extended attribute
    /// `system.posix_acl_access`). Its entries are not read: any ACL may
    /// grant the client write access, so it counts as if it did.
    public var hasAccessACL: Bool
    /// The owner of the entry inside this directory that the path goes
    /// through next, or nil for the last directory of the path (whose
    /// entries the command may read, so a sticky bit does not protect them).
    public var nextEntryOwner: UInt32?

    public init(
        path: String, owner: UInt32, group: UInt32, mode: UInt32, hasAccessACL: Bool = false,
        nextEntryOwner: UInt32? = nil
    ) {
        self.path = path
        self.owner = owner
        self.group = group
        self.mode = mode
        self.hasAccessACL = hasAccessACL
        self.nextEntryOwner = nextEntryOwner
    }
}

/// Why a client may be able to write to a directory.
public enum DirectoryWriteAccess: Sendable, Equatable {
    /// The client owns it: whatever its mode, the client may chmod it.
    case owner
    /// Its mode bits let the client write (others, or a group of the client's).
    case modeBits
    /// It carries a POSIX ACL, which may let the client write.
    case accessControlList

    /// Why `client` may write to `directory` so as to swap the entry the
    /// path goes through next, or nil when it may not. A sticky directory
    /// that the client may write but does not own protects an entry the
    /// client does not own (it may neither rename nor remove it).
    public static func of(_ directory: DirectoryFacts, for client: ClientIdentity) -> DirectoryWriteAccess? {
        guard let uid = client.uid else { return .modeBits }
        if uid == 0 { return nil }
        if directory.owner == uid { return .owner }
        let groups = Set(client.groupIDs + (client.gid.map { [$0] } ?? []))
        let access: DirectoryWriteAccess
        if directory.mode & 0o002 != 0 || directory.mode & 0o020 != 0 && groups.contains(directory.group) {
            access = .modeBits
        } else if directory.hasAccessACL {
            access = .accessControlList
        } else {
            return nil
        }
        if directory.mode & 0o1000 != 0, let next = directory.nextEntryOwner, next != uid { return nil }
        return access
    }

    /// The first directory of `chain` (from the root down) that `client`
    /// may write to, as a refusal that follows "parameter N ('value') ", or
    /// nil when it may write to none.
    public static func refusal(for chain: [DirectoryFacts], client: ClientIdentity) -> String? {
        for directory in chain {
            guard let access = of(directory, for: client) else { continue }
            let why: String
            switch access {
            case .owner: why = "which you own, and so may make writable whatever its mode"
            case .modeBits: why = "which you may write to"
            case .accessControlList:
                why = "which carries a POSIX ACL that may let you write to it (any ACL counts)"
            }
            return
                "lies under \(directory.path), \(why), so it could change between the check and the command's use of it"
        }
        return nil
    }
}
