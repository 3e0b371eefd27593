//! Integration tests: the real binary against loopback servers.
