//! A log file that rotates by size: `worker.log` beside the configuration, moved to `worker.1.log` (and
//! `worker.1.log` to `worker.2.log`, ...) when it would grow past its limit, the oldest dropped. The
//! Windows service writes here (a service has no console); a person running the worker by hand reads the
//! console instead.
//!
//! Each log event arrives as one `write` (tracing's formatter writes a whole line at once), so a file is
//! only ever rotated between lines. When a rotation fails (another program holds the file open without
//! sharing it), the worker keeps writing to the current file and tries again at the next line past the
//! limit: a log is never dropped for the sake of rotating it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The default size at which the file is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The default number of rotated files kept besides the current one.
pub const DEFAULT_KEEP: usize = 5;

/// A size-rotated log file.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: usize,
}

/// The log file of a worker whose configuration is `config`: `worker.log` in the same folder.
pub fn beside(config: &Path) -> PathBuf {
    config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("worker.log")
}

/// The name of the `n`th rotated file of `path` (`worker.log` -> `worker.1.log`), kept with the `.log`
/// ending so that a double click opens it.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "worker".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    path.with_file_name(name)
}

impl RotatingFile {
    /// Opens (appends to) `path`, creating its folder, rotating past `max_bytes`, keeping `keep` old files.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_path_buf(), file, size, max_bytes: max_bytes.max(1), keep })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves `worker.log` to `worker.1.log` (shifting the older ones, dropping the oldest) and starts a
    /// new `worker.log`.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            // Nothing kept: start the file again.
            self.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(rotated(&self.path, self.keep));
        for n in (1..self.keep).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        // On Windows an open file can be renamed only if it was opened with delete sharing, which std's
        // OpenOptions asks for; a program that opened it without sharing makes this fail (kept writing).
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            // Kept writing to the current file when the rotation fails (see the module's comment).
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_sits_beside_the_configuration() {
        assert_eq!(beside(Path::new("/opt/printcore/worker.toml")), PathBuf::from("/opt/printcore/worker.log"));
        assert_eq!(beside(Path::new("worker.toml")), PathBuf::from("./worker.log"));
        assert_eq!(rotated(Path::new("/x/worker.log"), 2), PathBuf::from("/x/worker.2.log"));
    }

    #[test]
    fn rotates_between_lines_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("worker.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        let line = |i: usize| format!("line {i:03} {}\n", "x".repeat(30));
        for i in 0..12 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        // 40-byte lines, 100-byte files: two lines per file; the newest three files are kept.
        assert_eq!(read(path.clone()), format!("{}{}", line(10), line(11)));
        assert_eq!(read(rotated(&path, 1)), format!("{}{}", line(8), line(9)));
        assert_eq!(read(rotated(&path, 2)), format!("{}{}", line(6), line(7)));
        assert!(!rotated(&path, 3).exists(), "only `keep` old files");
        // Reopening appends and counts what is there.
        drop(f);
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        f.write_all(line(12).as_bytes()).unwrap();
        assert_eq!(read(path.clone()), line(12));
        assert_eq!(read(rotated(&path, 1)), format!("{}{}", line(10), line(11)));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.log");
        let mut f = RotatingFile::open(&path, 10, 1).unwrap();
        f.write_all(b"a much longer line than ten bytes\n").unwrap();
        f.write_all(b"next\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "next\n");
        assert_eq!(std::fs::read_to_string(rotated(&path, 1)).unwrap(), "a much longer line than ten bytes\n");
    }
}
