//! The wasmtime side: one engine (pooling allocator, fuel, epoch deadlines
//! driven by a ticker thread), one linker whose only import is `host.log`,
//! and the per-call sandbox: a fresh store and instance with fuel, a
//! deadline, a memory cap and bounded log capture.
//!
//! Architecture invariant: an instance serves exactly one call and is
//! dropped with its store, so nothing a plugin does survives into the next
//! call, and a trapped instance is never re-entered.

use std::time::{Duration, Instant};

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, UpdateDeadline,
};

use super::abi::{self, NotPrepared};
use super::answer::{FailureKind, Level, LogLine, PluginAnswer, PluginError};
use super::hooks::HookSpec;
use super::load::LoadedPlugin;
use super::manifest::{Limits, MAX_MEMORY_BYTES};

/// How often the ticker advances the engine's epoch: the resolution of
/// `limits.timeout_ms`.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// The most plugin instances alive at once (one per call in flight); a call
/// beyond it fails as `unavailable` instead of allocating more.
pub const MAX_CONCURRENT_INSTANCES: u32 = 128;
/// A component made by `wit-component` holds a few core instances (the
/// module, its adapter shims) and tables; these bounds leave room.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MAX_TABLES_PER_COMPONENT: u32 = 4;
/// Per instance slot, how many dirtied bytes are reset in place rather than
/// released (a Rust guest's call dirties its stack top, data and a little
/// heap: a few dozen KiB).
const KEEP_RESIDENT_BYTES: usize = 1024 * 1024;
/// The largest table a plugin may grow (funcref tables of Rust guests hold
/// a few hundred entries).
const MAX_TABLE_ELEMENTS: usize = 20_000;
/// Log capture per call: at most this many lines of at most this many bytes;
/// further lines are counted, not kept.
pub const MAX_LOG_LINES: usize = 64;
pub const MAX_LOG_LINE_BYTES: usize = 1024;
/// A call's wall-clock bound is this many times its CPU-time bound
/// (`limits.timeout_ms`), and at least `MIN_WALL_CLOCK_GRACE` more: a call
/// waiting for a core on a loaded machine still finishes, but no call
/// holds its thread for long, however the OS schedules it.
const WALL_CLOCK_PER_CPU_TIME: u32 = 4;
const MIN_WALL_CLOCK_GRACE: Duration = Duration::from_millis(250);
/// How wasmtime says a call's data would overrun its hostcall fuel, which
/// we set to `limits.max_output_bytes` (its error type is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// The store of one call.
pub type CallStore = Store<CallState>;

/// The engine and linker shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker (which stops when the
    /// engine is dropped).
    pub fn new() -> anyhow::Result<Runtime> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
            .total_core_instances(MAX_CONCURRENT_INSTANCES * MAX_CORE_INSTANCES_PER_COMPONENT)
            .total_memories(MAX_CONCURRENT_INSTANCES)
            .total_tables(MAX_CONCURRENT_INSTANCES * MAX_TABLES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(1)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            // Reset only the pages a call dirtied, in place (Linux ≥ 6.7's
            // PAGEMAP_SCAN), instead of unmapping them: the next call in the
            // slot takes no page faults on them. Without the ioctl, keeping
            // memory resident would memset the whole range every call.
            .pagemap_scan(Enabled::Auto);
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
                .table_keep_resident(KEEP_RESIDENT_BYTES);
        }
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            // Guests are stripped: frames would have no names, only cost.
            .wasm_backtrace_max_frames(None)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        abi::add_imports(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        start_ticker(&engine)?;
        Ok(Runtime { engine, linker })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Resolves the component's imports; anything but `host.log` (e.g. WASI)
    /// fails here, at load time.
    pub fn link(&self, component: &Component) -> Result<InstancePre<CallState>, String> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| format!("the component's imports cannot be satisfied (plugins may import only {}/host@{}): {e:#}", abi::PACKAGE, abi::ABI_VERSION))
    }

    /// Runs one hook call in a fresh sandbox and checks what comes back:
    /// output size first, then conversion, then the host guards.
    pub fn call<H: HookSpec>(
        &self,
        plugin: &LoadedPlugin,
        input: &H::Input,
    ) -> Result<PluginAnswer<H::Output>, PluginError> {
        let limits = plugin.manifest.limits;
        let mut store = Store::new(&self.engine, CallState::new(&limits));
        store.limiter(|state| state as &mut dyn ResourceLimiter);
        store.epoch_deadline_callback(|mut store| Ok(past_deadline(store.data_mut())));
        store.set_fuel(limits.fuel).expect("fuel is enabled");
        // Bounds every copy out of the guest (the answer's strings, a log
        // line) while it is made, not after: a plugin cannot make the host
        // allocate more than its output limit.
        store.set_hostcall_fuel(usize::try_from(limits.max_output_bytes).unwrap_or(usize::MAX));
        // Instantiation runs no guest code for our components, but bound it
        // anyway; `start_deadline` restarts the clock for the call itself.
        start_deadline(&mut store);
        let started = Instant::now();
        let result = H::invoke(&plugin.prepared, &mut store, input, &plugin.config_text);
        let elapsed = started.elapsed();
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let stopped_by_wall_clock = store.data().stopped_by_wall_clock;
        let logs = store.into_data().into_logs();
        let fail = |kind, message: String, logs| PluginError {
            plugin: plugin.manifest.name.clone(),
            hook: H::HOOK.name().to_string(),
            kind,
            message,
            logs,
        };
        let returned = match result {
            Ok(returned) => returned,
            Err(error) => {
                let (kind, message) = classify(&error, &limits, stopped_by_wall_clock);
                return Err(fail(kind, message, logs));
            }
        };
        if returned.bytes as u64 > limits.max_output_bytes {
            let message = format!(
                "returned {} bytes of strings, over the limit of {} (limits.max_output_bytes)",
                returned.bytes, limits.max_output_bytes
            );
            return Err(fail(FailureKind::OutputTooLarge, message, logs));
        }
        let checked = returned
            .value
            .and_then(|output| H::check(input, &output).map(|()| output));
        let output = match checked {
            Ok(output) => output,
            Err(message) => return Err(fail(FailureKind::InvalidOutput, message, logs)),
        };
        Ok(PluginAnswer {
            plugin: plugin.manifest.name.clone(),
            version: plugin.manifest.version.clone(),
            sha256: plugin.sha256.clone(),
            hook: H::HOOK,
            config: plugin.config.clone(),
            input: serde_json::to_value(input).expect("hook inputs serialise"),
            output,
            fuel_used,
            elapsed_us: elapsed.as_micros() as u64,
            logs,
        })
    }
}

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
fn past_deadline(state: &mut CallState) -> UpdateDeadline {
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
fn wall_clock_limit(timeout: Duration) -> Duration {
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

/// Names what stopped a call, in the terms of the manifest's limits.
fn classify(
    error: &wasmtime::Error,
    limits: &Limits,
    stopped_by_wall_clock: bool,
) -> (FailureKind, String) {
    if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
        return (FailureKind::Memory, cap.to_string());
    }
    if error
        .chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
    {
        let message = format!(
            "returned more than {} bytes of strings (limits.max_output_bytes); stopped while copying them out",
            limits.max_output_bytes
        );
        return (FailureKind::OutputTooLarge, message);
    }
    if let Some(not_prepared) = error.downcast_ref::<NotPrepared>() {
        return (FailureKind::Abi, not_prepared.to_string());
    }
    if error.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        let message =
            format!("all {MAX_CONCURRENT_INSTANCES} plugin instance slots are busy: {error:#}");
        return (FailureKind::Unavailable, message);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => (
            FailureKind::OutOfFuel,
            format!(
                "used all {} fuel (limits.fuel) without returning",
                limits.fuel
            ),
        ),
        Some(Trap::Interrupt) if stopped_by_wall_clock => (
            FailureKind::Timeout,
            format!(
                "ran {} ms of wall-clock time without returning ({WALL_CLOCK_PER_CPU_TIME} × limits.timeout_ms, at least {} ms more than it)",
                wall_clock_limit(Duration::from_millis(limits.timeout_ms)).as_millis(),
                MIN_WALL_CLOCK_GRACE.as_millis()
            ),
        ),
        Some(Trap::Interrupt) => (
            FailureKind::Timeout,
            format!(
                "used {} ms of CPU time without returning (limits.timeout_ms)",
                limits.timeout_ms
            ),
        ),
        Some(trap) => (FailureKind::Trap, trap.to_string()),
        None => (FailureKind::Trap, format!("{error:#}")),
    }
}

/// The plugin asked for more memory than its manifest allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "tried to grow its memory to {desired} bytes, over the limit of {cap} (limits.memory_bytes)"
)]
struct MemoryCapExceeded {
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
    stopped_by_wall_clock: bool,
    logs: Vec<LogLine>,
    dropped_lines: usize,
}

impl CallState {
    fn new(limits: &Limits) -> CallState {
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

    fn into_logs(mut self) -> Vec<LogLine> {
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

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })?;
    Ok(())
}
