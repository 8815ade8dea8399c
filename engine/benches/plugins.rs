//! Plugin call cost: one auto-join and one seat charge through the whole
//! host path (validation, fresh store + instance, the guest, output checks,
//! guards, the answer record), with the default plugins in `plugins/`.
//! Criterion reports the mean; a second pass prints p50/p99 of single
//! calls (goal: p50 ≤ 25 µs), in wall-clock time and in the thread's CPU
//! time (which other processes on a shared machine do not inflate).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use time::OffsetDateTime;
use uuid::Uuid;
use warden::plugin::types::{CandidateOrg, SeatEvent, Signup};
use warden::plugin::{HookPins, PluginHost};
use warden::store::{OrgRole, Plan};

/// Calls timed one by one for the percentiles, after as many to warm up.
const PERCENTILE_CALLS: usize = 20_000;

fn host(data: &Path) -> PluginHost {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let host =
        PluginHost::open(&plugins, data, Box::new(|| Ok(HookPins::new()))).expect("plugin host");
    let status = host.status();
    for hook in &status.hooks {
        assert_ne!(hook.served_by.as_deref(), Some("builtin"), "{hook:?}");
    }
    host
}

fn signup() -> Signup {
    Signup {
        email: "ann@acme.com".into(),
        candidates: vec![CandidateOrg {
            org_id: Uuid::from_u128(1),
            plan: Plan::Pro,
            verified_domains: vec!["acme.com".into()],
            default_workspace: Some(Uuid::from_u128(2)),
            seats_used: 3,
            seat_limit: 10,
            autojoin_role: OrgRole::Member,
        }],
    }
}

fn seat_event() -> SeatEvent {
    let start = OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap();
    SeatEvent {
        org_id: Uuid::from_u128(1),
        plan: Plan::Pro,
        seat_limit: 10,
        seats_used: 10,
        role: OrgRole::Member,
        seat_price_cents: 1000,
        period_start: start,
        period_end: start + Duration::from_secs(30 * 86_400),
        event_time: start + Duration::from_secs(10 * 86_400),
    }
}

fn percentiles(name: &str, mut call: impl FnMut()) {
    for _ in 0..PERCENTILE_CALLS {
        call();
    }
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..PERCENTILE_CALLS)
        .map(|_| {
            let (started, cpu_started) = (Instant::now(), thread_cpu_time());
            call();
            (started.elapsed(), thread_cpu_time() - cpu_started)
        })
        .unzip();
    let summary = |samples: &mut Vec<Duration>| {
        samples.sort_unstable();
        let at = |p: usize| samples[samples.len() * p / 100].as_secs_f64() * 1e6;
        format!("p50 {:.1} µs, p99 {:.1} µs", at(50), at(99))
    };
    println!(
        "{name}: wall {}; CPU {} ({PERCENTILE_CALLS} calls)",
        summary(&mut wall),
        summary(&mut cpu)
    );
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn plugin_calls(c: &mut Criterion) {
    let data = tempfile::tempdir().expect("temp dir");
    let host = host(data.path());
    let (signup, event) = (signup(), seat_event());
    c.bench_function("autojoin, fresh instance", |b| {
        b.iter(|| host.autojoin(black_box(&signup)).unwrap())
    });
    c.bench_function("seat_charge, fresh instance", |b| {
        b.iter(|| host.seat_charge(black_box(&event)).unwrap())
    });
    percentiles("autojoin, fresh instance", || {
        black_box(host.autojoin(&signup).unwrap());
    });
    percentiles("seat_charge, fresh instance", || {
        black_box(host.seat_charge(&event).unwrap());
    });
    // The same path without any plugin: what validation, guards and the
    // answer record cost on their own.
    let builtin = PluginHost::builtin().expect("built-in host");
    percentiles("autojoin, built-in rule", || {
        black_box(builtin.autojoin(&signup).unwrap());
    });
}

criterion_group!(benches, plugin_calls);
criterion_main!(benches);
