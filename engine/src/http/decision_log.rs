//! Decision logs: one JSON line per decided check (as OPA's decision logs),
//! to stdout or to a size-bounded rotating file; off unless configured.
//!
//! A check never waits for the log: its line is queued (at most
//! [`QUEUE_LINES`]) and a thread of the log's own writes it; when the
//! queue is full the line is dropped and counted, so a slow disk costs
//! lines, never latency. Sampling is systematic (every 1/rate-th
//! decision), so a rate is kept exactly over any stretch of traffic.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::authz::{CheckRequest, Decision, EntityRef};
use crate::policy::PolicySnapshot;

/// Lines waiting for the writer; beyond it lines are dropped (and counted).
pub const QUEUE_LINES: usize = 65_536;
/// Default size at which the file is rotated.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Default number of rotated files kept (`decisions.log.1` …).
pub const DEFAULT_KEPT_FILES: usize = 5;
/// The most rotated files that may be kept.
pub const MAX_KEPT_FILES: usize = 100;
/// The smallest rotation size accepted: a few lines.
pub const MIN_MAX_FILE_BYTES: u64 = 4096;

/// Where the lines go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// The server's standard output, next to nothing else (logs go to stderr).
    Stdout,
    /// A file, appended to.
    File {
        /// The file; relative to the server's working directory.
        path: PathBuf,
        /// The size at which it is renamed `<path>.1` and started anew.
        max_bytes: u64,
        /// Rotated files kept: `<path>.1` (the newest) … `<path>.<kept>`.
        kept: usize,
    },
}

/// What the decision log writes, and how much of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Where the lines go.
    pub target: Target,
    /// The share of decisions logged, in (0, 1].
    pub sample_rate: f64,
}

/// One decision as logged.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    request_id: Option<String>,
    principal: &'a EntityRef,
    action: &'a str,
    resource: &'a EntityRef,
    decision: &'a str,
    policies: &'a [String],
    errors: &'a [String],
    policy_digest: &'a str,
    policy_revision: u64,
    latency_us: u64,
}

/// A running decision log.
#[derive(Debug)]
pub struct DecisionLog {
    sample_rate: f64,
    decided: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    /// `None` only while dropping.
    sender: Option<SyncSender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
}

impl DecisionLog {
    /// Opens the target (creating or appending to the file) and starts the
    /// writer.
    pub fn open(settings: &Settings) -> std::io::Result<DecisionLog> {
        let sink = Sink::open(&settings.target)?;
        let (sender, lines) = sync_channel(QUEUE_LINES);
        let writer = std::thread::Builder::new()
            .name("warden-decision-log".into())
            .spawn(move || write_lines(sink, lines))?;
        Ok(DecisionLog {
            sample_rate: settings.sample_rate,
            decided: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    /// Logs `decision` on `request` (if sampled), which took `took`.
    pub fn record(
        &self,
        snapshot: &PolicySnapshot,
        request: &CheckRequest,
        decision: &Decision,
        took: Duration,
        request_id: Option<String>,
    ) {
        if !self.sampled() {
            return;
        }
        let line = Line {
            time: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .expect("now formats as RFC 3339"),
            request_id,
            principal: &request.principal,
            action: &request.action.id,
            resource: &request.resource,
            decision: &decision.decision,
            policies: &decision.diagnostics.reason,
            errors: &decision.diagnostics.errors,
            policy_digest: &snapshot.digest,
            policy_revision: decision.policy_revision,
            latency_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        };
        let mut text = serde_json::to_vec(&line).expect("a decision line serialises");
        text.push(b'\n');
        self.send(text);
    }

    /// Whether the next decision is logged: the `n`-th is when
    /// `⌊n·rate⌋` steps up.
    fn sampled(&self) -> bool {
        let n = self.decided.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.sample_rate).floor() > (n * self.sample_rate).floor()
    }

    fn send(&self, line: Vec<u8>) {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.try_send(line).is_ok());
        let count = if sent { &self.queued } else { &self.dropped };
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Lines queued for writing, and lines dropped (queue full), since the
    /// start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.queued.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for DecisionLog {
    /// Writes out what is queued before the server exits.
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has written it out.
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer's end: stdout, or a file it rotates.
enum Sink {
    Stdout,
    File {
        path: PathBuf,
        out: BufWriter<File>,
        size: u64,
        max_bytes: u64,
        kept: usize,
    },
}

impl Sink {
    fn open(target: &Target) -> std::io::Result<Sink> {
        Ok(match target {
            Target::Stdout => Sink::Stdout,
            Target::File {
                path,
                max_bytes,
                kept,
            } => {
                let file = append(path)?;
                Sink::File {
                    size: file.metadata()?.len(),
                    out: BufWriter::new(file),
                    path: path.clone(),
                    max_bytes: *max_bytes,
                    kept: *kept,
                }
            }
        })
    }

    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().lock().write_all(line),
            Sink::File {
                path,
                out,
                size,
                max_bytes,
                kept,
            } => {
                if *size > 0 && *size + line.len() as u64 > *max_bytes {
                    out.flush()?;
                    rotate(path, *kept)?;
                    *out = BufWriter::new(append(path)?);
                    *size = 0;
                }
                out.write_all(line)?;
                *size += line.len() as u64;
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().lock().flush(),
            Sink::File { out, .. } => out.flush(),
        }
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Shifts `path` to `path.1`, `path.1` to `path.2` …, dropping the one past
/// `kept` (or `path` itself when none are kept).
fn rotate(path: &Path, kept: usize) -> std::io::Result<()> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    if kept == 0 {
        return std::fs::remove_file(path);
    }
    for n in (1..kept).rev() {
        if numbered(n).exists() {
            std::fs::rename(numbered(n), numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

/// The writer thread: writes what arrives, flushing whenever the queue is
/// empty, until the log is closed.
fn write_lines(mut sink: Sink, lines: Receiver<Vec<u8>>) {
    while let Ok(line) = lines.recv() {
        let mut result = sink.write(&line);
        while let (Ok(()), Ok(line)) = (&result, lines.try_recv()) {
            result = sink.write(&line);
        }
        if let Err(e) = result.and_then(|()| sink.flush()) {
            tracing::error!("cannot write the decision log: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_to(dir: &Path, max_bytes: u64, kept: usize, sample_rate: f64) -> DecisionLog {
        let target = Target::File {
            path: dir.join("decisions.log"),
            max_bytes,
            kept,
        };
        DecisionLog::open(&Settings {
            target,
            sample_rate,
        })
        .unwrap()
    }

    #[test]
    fn a_sample_rate_is_kept_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_to(dir.path(), DEFAULT_MAX_FILE_BYTES, 1, 0.25);
        let sampled = (0..1000).filter(|_| log.sampled()).count();
        assert_eq!(sampled, 250);
    }

    #[test]
    fn a_full_file_is_rotated_and_the_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_to(dir.path(), MIN_MAX_FILE_BYTES, 2, 1.0);
        let line = |i: usize| format!("{i:0>99}\n").into_bytes();
        for i in 0..200 {
            log.send(line(i));
        }
        drop(log);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let [current, first, second] =
            ["decisions.log", "decisions.log.1", "decisions.log.2"].map(read);
        assert!(!dir.path().join("decisions.log.3").exists());
        for file in [&current, &first, &second] {
            assert!(file.len() as u64 <= MIN_MAX_FILE_BYTES, "{}", file.len());
        }
        // The newest lines are kept, in order, with none lost in between.
        let kept: Vec<&str> = [&second, &first, &current]
            .iter()
            .flat_map(|f| f.lines())
            .collect();
        let last = kept.len();
        assert!(last > 100);
        for (i, line) in kept.iter().enumerate() {
            assert_eq!(*line, format!("{:0>99}", 200 - last + i));
        }
    }
}
