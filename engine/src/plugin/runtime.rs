//! The wasmtime side: one engine (pooling allocator, fuel, epoch deadlines
//! driven by a ticker thread), one linker whose only import is `host.log`,
//! and the per-call sandbox: a fresh store and instance with fuel, a
//! deadline, a memory cap and bounded log capture.
//!
//! Architecture invariant: an instance serves exactly one call and is
//! dropped with its store, so nothing a plugin does survives into the next
//! call, and a trapped instance is never re-entered.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

use super::abi::{self, NotPrepared, Prepared};
use super::answer::{FailureKind, PluginAnswer, PluginError};
use super::epoch::EpochTicker;
use super::hooks::HookSpec;
use super::manifest::{Limits, Manifest, MAX_MEMORY_BYTES};
use super::sandbox::{
    past_deadline, start_deadline, wall_clock_limit, CallState, MemoryCapExceeded,
    MIN_WALL_CLOCK_GRACE, WALL_CLOCK_PER_CPU_TIME,
};

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
/// How wasmtime says a call's data would overrun its hostcall fuel, which
/// we set to `limits.max_output_bytes` (its error type is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// A plugin ready to serve calls.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub sha256: String,
    pub fingerprint: String,
    /// The `[config]` table as JSON (for answer records) and as the JSON
    /// text every call passes; converted once, at load.
    pub config: serde_json::Value,
    pub config_text: String,
    pub prepared: Prepared,
    pub loaded_at: OffsetDateTime,
}

/// The engine and linker shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    ticker: EpochTicker,
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker (which ticks while a
    /// call runs and stops with the runtime).
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
        let ticker = EpochTicker::start(&engine)?;
        Ok(Runtime {
            engine,
            linker,
            ticker,
        })
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
        let _ticking = self.ticker.ticking();
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
