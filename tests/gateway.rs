//! Integration tests for gateway (filled in by its owner).
