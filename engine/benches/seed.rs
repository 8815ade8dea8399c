//! Seeds a data directory with a synthetic population for the load test
//! (`benches/load.sh`) and prints the sample check as JSON.
//!
//! `cargo run --release -p warden --example seed -- <data dir> <users>`

#[path = "population.rs"]
mod population;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: seed <data dir> <users>";
    let data = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let users = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let (_app, population) = population::open_or_seed(data.as_ref(), users)?;
    println!("{}", population.check_request());
    Ok(())
}
