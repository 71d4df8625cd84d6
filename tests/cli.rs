//! Integration tests for cli (filled in by its owner).
