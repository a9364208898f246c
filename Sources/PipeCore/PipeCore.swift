// PipeCore: the agent's pure logic. No syscalls, no libpcp, no Foundation.
