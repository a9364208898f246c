// PipeSystem: processes, descriptors, poll, accounts and files over Glibc.
