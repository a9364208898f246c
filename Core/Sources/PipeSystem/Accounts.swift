#if canImport(Glibc)
    import Glibc
#endif

/// A local account as the password database describes it.
public struct UserAccount: Sendable, Equatable {
    public let name: String
    public let uid: UInt32
    public let gid: UInt32
    public let home: String

    public init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }
}

/// Users and groups through NSS (the reentrant *_r calls, so nothing is
/// shared with other callers of getpwnam).
public enum Accounts {
    /// The corresponding C call is getpwnam_r(3).
    public static func user(named name: String) -> UserAccount? {
        lookupUser { pwd, buffer, size, result in getpwnam_r(name, pwd, buffer, size, result) }
    }

    /// The corresponding C call is getpwuid_r(3).
    public static func user(id: UInt32) -> UserAccount? {
        lookupUser { pwd, buffer, size, result in getpwuid_r(uid_t(id), pwd, buffer, size, result) }
    }

    /// The corresponding C call is getgrgid_r(3).
    public static func groupName(id: UInt32) -> String? {
        lookupGroup { grp, buffer, size, result in getgrgid_r(gid_t(id), grp, buffer, size, result) }?.name
    }

    /// The corresponding C call is getgrnam_r(3).
    public static func groupID(named name: String) -> UInt32? {
        lookupGroup { grp, buffer, size, result in getgrnam_r(name, grp, buffer, size, result) }?.gid
    }

    /// The corresponding C call is getgrnam_r(3).
    public static func groupExists(named name: String) -> Bool {
        groupID(named: name) != nil
    }

    /// All groups of a user (primary + supplementary), via getgrouplist,
    /// primary first, each with its name when it has one.
    /// The corresponding C call is getgrouplist(3).
    public static func groups(of user: UserAccount) -> [(gid: UInt32, name: String?)] {
        var count: Int32 = 32
        while true {
            var gids = [gid_t](repeating: 0, count: Int(count))
            var found = count
            let rc = getgrouplist(user.name, gid_t(user.gid), &gids, &found)
            if rc >= 0 {
                var ordered: [UInt32] = [user.gid]
                for gid in gids.prefix(Int(found)) where !ordered.contains(UInt32(gid)) { ordered.append(UInt32(gid)) }
                return ordered.map { ($0, groupName(id: $0)) }
            }
            // -1: `found` now holds the number needed.
            count = max(found, count * 2)
            if count > 65536 { return [(user.gid, groupName(id: user.gid))] }
        }
    }

    // MARK: - The *_r buffer dance

    private static func lookupUser(
        _ call: (
            UnsafeMutablePointer<passwd>, UnsafeMutablePointer<CChar>, Int,
            UnsafeMutablePointer<UnsafeMutablePointer<passwd>?>
        ) -> Int32
    ) -> UserAccount? {
        lookup(call, largest: 1 << 20) { entry in
            UserAccount(
                name: String(cString: entry.pw_name), uid: UInt32(entry.pw_uid),
                gid: UInt32(entry.pw_gid), home: String(cString: entry.pw_dir))
        }
    }

    private static func lookupGroup(
        _ call: (
            UnsafeMutablePointer<group>, UnsafeMutablePointer<CChar>, Int,
            UnsafeMutablePointer<UnsafeMutablePointer<group>?>
        ) -> Int32
    ) -> (name: String, gid: UInt32)? {
        // A group's member list can be long: allow a bigger buffer than for users.
        lookup(call, largest: 1 << 22) { entry in (String(cString: entry.gr_name), UInt32(entry.gr_gid)) }
    }

    /// One getpwnam_r-style call (getpwnam_r(3), getgrgid_r(3)): starts with
    /// 1 KiB of string space and grows it fourfold while the call says ERANGE,
    /// up to `largest` bytes; nil when there is no such entry or on any other error.
    private static func lookup<Entry, Value>(
        _ call: (
            UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int,
            UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>
        ) -> Int32,
        largest: Int,
        _ convert: (Entry) -> Value
    ) -> Value? {
        var size = 1024
        while size <= largest {
            let entry = UnsafeMutablePointer<Entry>.allocate(capacity: 1)
            defer { entry.deallocate() }
            var result: UnsafeMutablePointer<Entry>? = nil
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let rc = call(entry, buffer, size, &result)
            if rc == ERANGE {
                size *= 4
                continue
            }
            guard rc == 0, result != nil else { return nil }
            return convert(entry.pointee)
        }
        return nil
    }
}
