//! The only code that formats a [`Report`](super::Report): [`human`] for a
//! terminal, [`json`] for machines. Both render the same report.

pub mod human;
pub mod json;
