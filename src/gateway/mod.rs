//! TODO: owned by a helper.
