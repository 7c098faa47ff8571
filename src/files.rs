//! Small file helpers shared by every door: atomic writes, append-only logs repaired after a crash, and
//! content hashes.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Whether `path` names something other than a file or folder: a device, a pipe or a socket
/// (`/dev/null`, `/dev/stdout`, a shell's `>(...)`), following symbolic links. Such a target is
/// written in place: renaming a temporary file onto it would replace the device or pipe with a plain
/// file (as root, `--output /dev/null` would replace `/dev/null` itself).
pub fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens the special file `path` ([`is_special`]) for writing, without creating or truncating it.
pub fn open_special(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename; a device or
/// pipe ([`is_special`]) is written in place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_special(path) {
        return open_special(path)?
            .write_all(bytes)
            .map_err(|e| Error::io("writing", path, e));
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
    // Temporary files are created private (0600); published files get ordinary permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o644));
    }
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("writing", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("renaming into", path, e.error))?;
    Ok(())
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens an append-only JSON Lines log (creating it and its folder), first cutting a torn last line (a crash mid-write) back to the end
/// of the last complete record.
pub fn open_log_repaired(dir: &Path, path: &Path) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    if len > 0 {
        let keep =
            complete_prefix_len(&mut file, len).map_err(|e| Error::io("reading", path, e))?;
        if keep < len {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = len - keep,
                "log ended in a torn line (a crash mid-write); cut back to the last complete record"
            );
            file.set_len(keep)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("repairing", path, e))?;
        }
    }
    sync_dir(dir);
    Ok(file)
}

/// Length of the longest prefix that ends with a newline (0 when there is none).
fn complete_prefix_len(file: &mut File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(pos) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// A named pipe `name` in `dir` and a thread reading it to the end (for the tests of writers that
/// must write a pipe in place).
#[cfg(all(test, unix))]
pub(crate) fn fifo_with_reader(
    dir: &Path,
    name: &str,
) -> (std::path::PathBuf, std::thread::JoinHandle<String>) {
    let fifo = dir.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let path = fifo.clone();
    let reader = std::thread::spawn(move || fs::read_to_string(path).unwrap());
    (fifo, reader)
}

/// Makes a rename or creation in `dir` durable (best effort: not every filesystem supports it).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_writes_a_pipe_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let (fifo, reader) = fifo_with_reader(dir.path(), "report.fifo");
        assert!(is_special(&fifo));
        write_atomic(&fifo, b"{}\n").unwrap();
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), "{}\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Files, folders and missing paths are not special.
        let file = dir.path().join("plain");
        write_atomic(&file, b"x").unwrap();
        assert!(!is_special(&file) && !is_special(dir.path()));
        assert!(!is_special(&dir.path().join("missing")));
    }
}
