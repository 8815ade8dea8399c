//! One authorization check, in process, against databases of 10, 10k and 1M
//! users: the cost must not grow with the number of users (goal: 1M costs
//! at most 1.2× of 10). `check/built` reads and builds the entities every
//! time (what any new question costs; the goal applies to it);
//! `check/cached` repeats one question, whose entities the entity cache
//! keeps while nothing they came from changes.
//!
//! `cargo bench -p warden --bench check`; the 1M-user database is seeded
//! once into `target/bench-data` (a few minutes) and reused.
//! `WARDEN_BENCH_USERS=10,10000` picks other sizes.

#[path = "population.rs"]
mod population;

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use warden::authz::{self, CheckRequest};

fn sizes() -> Vec<usize> {
    std::env::var("WARDEN_BENCH_USERS")
        .unwrap_or_else(|_| "10,10000,1000000".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("WARDEN_BENCH_USERS is a comma-separated list of counts")
        })
        .collect()
}

fn bench_data(users: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| population::policies_dir().join("../target"));
    target.join("bench-data").join(format!("users-{users}"))
}

fn one_check(c: &mut Criterion) {
    let databases: Vec<_> = sizes()
        .into_iter()
        .map(|users| {
            let (app, population) =
                population::open_or_seed(&bench_data(users), users).expect("seeded database");
            let request: CheckRequest =
                serde_json::from_value(population.check_request()).expect("valid request");
            assert!(
                app.check(&request).expect("check answers").allowed(),
                "the sample check is allowed"
            );
            (users, app, request)
        })
        .collect();
    let mut built = c.benchmark_group("check/built");
    for (users, app, request) in &databases {
        let snapshot = app.policies.current();
        built.bench_with_input(BenchmarkId::from_parameter(users), request, |b, request| {
            b.iter(|| {
                authz::authorize(&app.store, &snapshot, request, None).expect("check answers")
            })
        });
    }
    built.finish();
    let mut cached = c.benchmark_group("check/cached");
    for (users, app, request) in &databases {
        cached.bench_with_input(BenchmarkId::from_parameter(users), request, |b, request| {
            b.iter(|| app.check(request).expect("check answers"))
        });
    }
    cached.finish();
}

criterion_group!(benches, one_check);
criterion_main!(benches);
