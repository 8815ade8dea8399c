//! One call's sandbox: what its store holds (the memory cap, the captured
//! log lines) and its deadlines, counted in the thread's CPU time and,
//! as a bound on waiting, in wall-clock time.

use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

use super::answer::{Level, LogLine};
use super::manifest::Limits;

/// How often the ticker advances the engine's epoch: the resolution of
/// `limits.timeout_ms`.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// The largest table a plugin may grow (funcref tables of Rust guests hold
/// a few hundred entries).
const MAX_TABLE_ELEMENTS: usize = 20_000;
/// Log capture per call: at most this many lines; further lines are
/// counted, not kept.
pub const MAX_LOG_LINES: usize = 64;
/// The longest log line kept, in bytes; a longer one is cut short (`…`).
pub const MAX_LOG_LINE_BYTES: usize = 1024;
/// A call's wall-clock bound is this many times its CPU-time bound
/// (`limits.timeout_ms`), and at least `MIN_WALL_CLOCK_GRACE` more: a call
/// waiting for a core on a loaded machine still finishes, but no call
/// holds its thread for long, however the OS schedules it.
pub(super) const WALL_CLOCK_PER_CPU_TIME: u32 = 4;
pub(super) const MIN_WALL_CLOCK_GRACE: Duration = Duration::from_millis(250);
/// The store of one call.
pub type CallStore = Store<CallState>;

/// Starts the deadline of the call (`limits.timeout_ms`). Hook calls
/// restart it after instantiation, so only the call itself counts.
pub fn start_deadline(store: &mut CallStore) {
    let ticks = store.data().deadline_ticks;
    let state = store.data_mut();
    state.cpu_at_start = thread_cpu_time();
    state.wall_clock_deadline = Instant::now() + state.wall_clock_limit;
    store.set_epoch_deadline(ticks);
}

/// Runs when the epoch deadline passes. The epoch measures wall-clock time,
/// which also counts while the OS runs other threads; on a loaded machine
/// that would fail calls that did little work. So the call is stopped once
/// its own thread has used `timeout_ms` of CPU, or once its wall-clock
/// bound (a multiple of that) has passed; until then the check repeats
/// every tick. (Fuel bounds the work too.)
pub(super) fn past_deadline(state: &mut CallState) -> UpdateDeadline {
    if thread_cpu_time().saturating_sub(state.cpu_at_start) >= state.timeout {
        UpdateDeadline::Interrupt
    } else if Instant::now() >= state.wall_clock_deadline {
        state.stopped_by_wall_clock = true;
        UpdateDeadline::Interrupt
    } else {
        UpdateDeadline::Continue(1)
    }
}

/// The wall-clock bound of a call whose CPU-time bound is `timeout`.
pub(super) fn wall_clock_limit(timeout: Duration) -> Duration {
    (timeout * WALL_CLOCK_PER_CPU_TIME).max(timeout + MIN_WALL_CLOCK_GRACE)
}

/// CPU time used by the calling thread (a plugin call runs on one thread).
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock id is a
    // constant every supported unix has.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "CLOCK_THREAD_CPUTIME_ID is available");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Elsewhere: wall-clock time since an arbitrary start.
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// The plugin asked for more memory than its manifest allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "tried to grow its memory to {desired} bytes, over the limit of {cap} (limits.memory_bytes)"
)]
pub(super) struct MemoryCapExceeded {
    desired: usize,
    cap: usize,
}

/// What one call's store holds: its memory cap and the log lines captured.
pub struct CallState {
    memory_cap: usize,
    /// `limits.timeout_ms` in epoch ticks, plus one: the current tick may be
    /// about to end.
    deadline_ticks: u64,
    timeout: Duration,
    /// The thread's CPU time when the call started.
    cpu_at_start: Duration,
    wall_clock_limit: Duration,
    wall_clock_deadline: Instant,
    /// The call was stopped by its wall-clock bound, not its CPU time.
    pub(super) stopped_by_wall_clock: bool,
    logs: Vec<LogLine>,
    dropped_lines: usize,
}

impl CallState {
    pub(super) fn new(limits: &Limits) -> CallState {
        CallState {
            memory_cap: limits.memory_bytes as usize,
            deadline_ticks: limits.timeout_ms.div_ceil(EPOCH_TICK.as_millis() as u64) + 1,
            timeout: Duration::from_millis(limits.timeout_ms),
            cpu_at_start: Duration::ZERO,
            wall_clock_limit: wall_clock_limit(Duration::from_millis(limits.timeout_ms)),
            wall_clock_deadline: Instant::now(),
            stopped_by_wall_clock: false,
            logs: Vec::new(),
            dropped_lines: 0,
        }
    }

    /// Captures one line, truncated to [`MAX_LOG_LINE_BYTES`]; lines past
    /// [`MAX_LOG_LINES`] are only counted.
    pub fn log(&mut self, level: Level, mut message: String) {
        if self.logs.len() == MAX_LOG_LINES {
            self.dropped_lines += 1;
            return;
        }
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut end = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        self.logs.push(LogLine { level, message });
    }

    pub(super) fn into_logs(mut self) -> Vec<LogLine> {
        if self.dropped_lines > 0 {
            self.logs.push(LogLine {
                level: Level::Warn,
                message: format!(
                    "(host) {} more log lines dropped: at most {MAX_LOG_LINES} per call",
                    self.dropped_lines
                ),
            });
        }
        self.logs
    }
}

impl ResourceLimiter for CallState {
    /// Traps at once, with an error naming the limit, instead of letting
    /// `memory.grow` return -1 (which a guest may turn into anything).
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                desired,
                cap: self.memory_cap,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
