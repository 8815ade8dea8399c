//! The engine's epoch clock, which ticks only while a call runs: epoch
//! deadlines bound calls, and between calls nothing needs bounding, so an
//! idle server spends no CPU on the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use wasmtime::{Engine, EngineWeak};

use super::sandbox::EPOCH_TICK;

/// Owns the ticker thread; dropping it stops the thread.
pub(super) struct EpochTicker {
    shared: Arc<Shared>,
}

/// Keeps the clock ticking while a call holds it.
pub(super) struct Ticking<'a> {
    shared: &'a Shared,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Ticks so far (the engine's epoch cannot be read back).
    ticks: AtomicU64,
}

struct State {
    calls_running: usize,
    stopped: bool,
}

impl EpochTicker {
    /// Starts the thread that advances `engine`'s epoch every
    /// [`EPOCH_TICK`] while a call runs.
    pub(super) fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                calls_running: 0,
                stopped: false,
            }),
            wake: Condvar::new(),
            ticks: AtomicU64::new(0),
        });
        let engine = engine.weak();
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || tick_while_calls_run(&thread_shared, &engine))?;
        Ok(EpochTicker { shared })
    }

    /// Marks a call as running until the guard is dropped.
    pub(super) fn ticking(&self) -> Ticking<'_> {
        let mut state = self.shared.lock();
        state.calls_running += 1;
        if state.calls_running == 1 {
            self.shared.wake.notify_one();
        }
        Ticking {
            shared: &self.shared,
        }
    }

    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        assert!(state.calls_running > 0, "a call ended that never started");
        state.calls_running -= 1;
    }
}

impl Shared {
    /// The state is two plain fields, consistent after any panic.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn tick_while_calls_run(shared: &Shared, engine: &EngineWeak) {
    loop {
        {
            let mut state = shared.lock();
            while state.calls_running == 0 && !state.stopped {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stopped {
                return;
            }
        }
        std::thread::sleep(EPOCH_TICK);
        match engine.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => return,
        }
        shared.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_epoch_advances_only_while_a_call_runs() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let ticker = EpochTicker::start(&engine).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(ticker.ticks(), 0, "ticked with no call running");

        let call = ticker.ticking();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ticker.ticks() < 5 {
            assert!(Instant::now() < deadline, "no ticks while a call runs");
            std::thread::sleep(EPOCH_TICK);
        }
        drop(call);
        // The tick in progress may land; then the clock stands still.
        std::thread::sleep(Duration::from_millis(10));
        let after = ticker.ticks();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(ticker.ticks(), after, "ticked after the last call ended");
    }
}
