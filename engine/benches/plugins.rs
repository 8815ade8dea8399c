//! Plugin call cost: one auto-join and one seat charge through the whole
//! host path (validation, fresh store + instance, the guest, output checks,
//! guards, the answer record), with the default plugins in `plugins/`.
//! Criterion reports the mean; a second pass prints p50/p99 of single
//! calls (goal: p50 ≤ 25 µs).

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
    let host = PluginHost::open(&plugins, data, HookPins::new()).expect("plugin host");
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
    let mut samples: Vec<Duration> = (0..PERCENTILE_CALLS)
        .map(|_| {
            let started = Instant::now();
            call();
            started.elapsed()
        })
        .collect();
    samples.sort_unstable();
    let at = |p: usize| samples[samples.len() * p / 100].as_secs_f64() * 1e6;
    println!(
        "{name}: p50 {:.1} µs, p99 {:.1} µs over {PERCENTILE_CALLS} calls",
        at(50),
        at(99)
    );
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
}

criterion_group!(benches, plugin_calls);
criterion_main!(benches);
