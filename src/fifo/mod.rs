//! Creating, opening and cleaning up FIFOs.
//!
//! - [`acl`]: POSIX ACL xattr (`system.posix_acl_access`) encoder/parser and `--acl` entries.
//! - [`guard`]: [`FifoGuard`], which unlinks a FIFO it created when dropped.
//! - [`create`]: the server's MI FIFO (stale check, mkfifo, chmod, chown, ACL, reader + keep-alive writer, all under a temporary name, then renamed into place).
//! - [`reply`]: opening a reply FIFO the way OpenSIPS does and verifying it is safe to write.

pub mod acl;
pub mod create;
pub mod guard;
pub mod reply;

pub use guard::FifoGuard;
