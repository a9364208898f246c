import Testing

@testable import PipeCore

/// The client bob (uid 1000, groups 1000 and 2000) asks for a path; each row
/// is one directory on its way and whether bob could swap what lies in it
/// between the agent's check and the command's open.
@Test(
    arguments: [
        // Root's 0755: safe.
        (DirectoryFacts(path: "/d", owner: 0, group: 0, mode: 0o755), nil),
        // The attack: bob's own 0555 directory. He may chmod it back and swap a subdirectory for a link to /etc.
        (DirectoryFacts(path: "/d", owner: 1000, group: 1000, mode: 0o555), .owner),
        (DirectoryFacts(path: "/d", owner: 1000, group: 1000, mode: 0o000), .owner),
        (DirectoryFacts(path: "/d", owner: 1000, group: 1000, mode: 0o1755, nextEntryOwner: 0), .owner),
        (DirectoryFacts(path: "/d", owner: 0, group: 0, mode: 0o757), .modeBits),
        (DirectoryFacts(path: "/d", owner: 0, group: 2000, mode: 0o775), .modeBits),
        (DirectoryFacts(path: "/d", owner: 0, group: 3000, mode: 0o775), nil),
        (DirectoryFacts(path: "/d", owner: 0, group: 0, mode: 0o755, hasAccessACL: true), .accessControlList),
        (DirectoryFacts(path: "/d", owner: 0, group: 0, mode: 0o555, hasAccessACL: true), .accessControlList),
        // A sticky /tmp protects an entry bob does not own, not one he owns, not the last directory.
        (DirectoryFacts(path: "/tmp", owner: 0, group: 0, mode: 0o1777, nextEntryOwner: 0), nil),
        (DirectoryFacts(path: "/tmp", owner: 0, group: 0, mode: 0o1777, nextEntryOwner: 1000), .modeBits),
        (DirectoryFacts(path: "/tmp", owner: 0, group: 0, mode: 0o1777), .modeBits),
        (DirectoryFacts(path: "/tmp", owner: 0, group: 0, mode: 0o1755, hasAccessACL: true, nextEntryOwner: 0), nil),
    ] as [(DirectoryFacts, DirectoryWriteAccess?)])
func aDirectoryIsWritableByItsOwnerByItsModeOrPerhapsByAnACL(
    _ directory: DirectoryFacts, _ access: DirectoryWriteAccess?
) {
    #expect(DirectoryWriteAccess.of(directory, for: bobClient) == access, "\(directory)")
    #expect(DirectoryWriteAccess.of(directory, for: rootClient) == nil)
}

@Test func theRefusalNamesTheFirstDirectoryAndWhy() {
    let safe = DirectoryFacts(path: "/", owner: 0, group: 0, mode: 0o755, nextEntryOwner: 0)
    let owned = DirectoryFacts(path: "/srv/bob", owner: 1000, group: 1000, mode: 0o555, nextEntryOwner: 1000)
    let acl = DirectoryFacts(path: "/srv/acl", owner: 0, group: 0, mode: 0o755, hasAccessACL: true)
    let open = DirectoryFacts(path: "/srv/open", owner: 0, group: 0, mode: 0o777)
    let tail = ", so it could change between the check and the command's use of it"
    #expect(DirectoryWriteAccess.refusal(for: [safe], client: bobClient) == nil)
    #expect(
        DirectoryWriteAccess.refusal(for: [safe, owned, open], client: bobClient)
            == "lies under /srv/bob, which you own, and so may make writable whatever its mode" + tail)
    #expect(
        DirectoryWriteAccess.refusal(for: [safe, acl], client: bobClient)
            == "lies under /srv/acl, which carries a POSIX ACL that may let you write to it (any ACL counts)" + tail)
    #expect(
        DirectoryWriteAccess.refusal(for: [safe, open], client: bobClient)
            == "lies under /srv/open, which you may write to" + tail)
    #expect(DirectoryWriteAccess.refusal(for: [safe, owned, acl, open], client: rootClient) == nil)
    #expect(DirectoryWriteAccess.refusal(for: [safe], client: ClientIdentity()) != nil)
}
