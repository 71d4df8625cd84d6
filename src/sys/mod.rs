//! The FIFO and `/proc` helpers every part of the crate shares, each once.
//!
//! - [`kind`]: [`FileKind`], the type of a file and its words for messages.
//! - [`proc`]: who holds an inode open (`/proc/*/fd`, `fdinfo`), a process's
//!   effective uid, and the fd links of one process.

pub mod kind;
pub mod proc;

pub use kind::FileKind;
