//! TODO: owned by a helper; see proto/mod.rs.
