//! One authorization check, in process, against databases of 10, 10k and 1M
//! users: the cost must not grow with the number of users (goal: 1M costs
//! at most 1.2× of 10). `check/built` reads and builds the entities every
//! time (what any new question costs; the goal applies to it);
//! `check/cached` repeats one question, whose entities the entity cache
//! keeps while nothing they came from changes. `check/uniform` and
//! `check/zipf` are real traffic: each iteration asks the next of 100 000
//! questions drawn over the whole population (as `benches/mix.lua` draws
//! them: 65 % a member running their org's flow, 30 % another org's flow,
//! 5 % viewing their org or workspace), through the entity cache, whose
//! 16 MiB (some 4 000 pairs) they overflow.
//!
//! `cargo bench -p warden --bench check`; the 1M-user database is seeded
//! once into `target/bench-data` (a few minutes) and reused.
//! `WARDEN_BENCH_USERS=10,10000` picks other sizes.

#[path = "population.rs"]
mod population;

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use warden::authz::{self, CheckRequest};

/// The `warden` binary's allocator: what a check allocates costs here
/// what it costs in the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// How many questions a random mix cycles through.
const MIX_SIZE: usize = 100_000;

/// A deterministic xorshift: every run asks the same questions.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A uniform draw in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A draw in `0..n` with probability ~ 1/rank, ranks spread over `0..n`.
    fn zipf(&mut self, n: usize) -> usize {
        let unit = self.next() as f64 / u64::MAX as f64;
        let rank = (n as f64).powf(unit) as usize;
        rank * 7919 % n
    }
}

/// `MIX_SIZE` questions over the orgs listed in `data`'s `population.tsv`.
fn mix(data: &Path, zipf: bool) -> Vec<CheckRequest> {
    let text = std::fs::read_to_string(data.join(population::TENANTS)).expect("population.tsv");
    let orgs: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut draws = Draws(0x9E37_79B9_7F4A_7C15);
    let org = |draws: &mut Draws| {
        let at = if zipf {
            draws.zipf(orgs.len())
        } else {
            draws.below(orgs.len())
        };
        &orgs[at]
    };
    (0..MIX_SIZE)
        .map(|_| {
            let own = org(&mut draws);
            let member = own[3 + draws.below(own.len() - 3)];
            let (action, kind, id) = match draws.below(200) {
                0..130 => ("RunResource", "Flow", own[2]),
                130..190 => ("RunResource", "Flow", org(&mut draws)[2]),
                190..195 => ("ViewOrg", "Org", own[0]),
                _ => ("ViewWorkspace", "Workspace", own[1]),
            };
            serde_json::from_value(serde_json::json!({
                "principal": {"type": "User", "id": member},
                "action": {"type": "Action", "id": action},
                "resource": {"type": kind, "id": id},
            }))
            .expect("valid request")
        })
        .collect()
}

fn random_checks(c: &mut Criterion) {
    for (name, zipf) in [("check/uniform", false), ("check/zipf", true)] {
        let mut group = c.benchmark_group(name);
        for users in sizes() {
            let data = bench_data(users);
            let (app, _) = population::open_or_seed(&data, users).expect("seeded database");
            let requests = mix(&data, zipf);
            let mut next = requests.iter().cycle();
            group.bench_function(BenchmarkId::from_parameter(users), |b| {
                b.iter(|| {
                    app.check(next.next().expect("cycles"))
                        .expect("check answers")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, one_check, random_checks);
criterion_main!(benches);
