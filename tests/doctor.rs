//! Integration tests for doctor (filled in by its owner).
