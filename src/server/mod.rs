//! TODO: owned by a helper.

pub mod forward;
