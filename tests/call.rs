//! Integration tests for call (filled in by its owner).
