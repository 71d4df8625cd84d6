//! Telling a supervisor that `serve` is ready: systemd's `sd_notify(READY=1)`
//! (a datagram to `$NOTIFY_SOCKET`, no library needed) and `--ready-file`
//! for scripts and test fixtures.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Sends `state` (e.g. `READY=1`) to `$NOTIFY_SOCKET` when it is set; a path
/// or an abstract name (`@name`). Returns whether a message was sent.
///
/// # Errors
/// The socket could not be created or the datagram not sent.
pub fn sd_notify(state: &str) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), Path::new(&target))?;
    }
    Ok(true)
}

/// Writes `fifo=PATH\npid=PID\n` to `path` through a temporary file renamed
/// into place, so a reader polling for the file never sees it half written.
///
/// # Errors
/// Creating, writing or renaming failed.
pub fn write_ready_file(path: &Path, fifo: &Path) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    writeln!(f, "fifo={}", fifo.display())?;
    writeln!(f, "pid={}", std::process::id())?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_file_and_notify_socket() {
        let d = tempfile::tempdir().unwrap();
        let rf = d.path().join("ready");
        write_ready_file(&rf, Path::new("/x/fifo")).unwrap();
        let text = std::fs::read_to_string(&rf).unwrap();
        assert_eq!(text, format!("fifo=/x/fifo\npid={}\n", std::process::id()));
        // An existing file is replaced, no temporary file is left.
        write_ready_file(&rf, Path::new("/y")).unwrap();
        assert!(std::fs::read_to_string(&rf)
            .unwrap()
            .starts_with("fifo=/y\n"));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
