//! Integration tests for serve (filled in by its owner).
