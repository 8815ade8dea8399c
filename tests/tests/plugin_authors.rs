//! Plugin authors work outside the repository: plugins/README.md's tutorial
//! end to end. `warden plugin new` makes a crate in a directory outside the
//! checkout, the author edits it, `warden plugin build` and `warden plugin
//! test` work on it there, and dropped into a server's plugin directory it
//! decides a sign-up.
//!
//! The wasm build takes minutes the first time (Debian's toolchain builds
//! std). The plugins are made at the same path on every run and built into
//! one target directory under the repository's `target/`, so later runs are
//! incremental. Without a wasm32 toolchain the tests fail, with what to
//! install: they never skip.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use warden_e2e::{repo_root, warden_bin, Server};

/// The tutorial's plugin.
const PLUGIN: &str = "acme-autojoin";
/// How long the watcher may take to notice a dropped-in plugin.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// A directory outside the checkout, the same on every run of this
/// checkout's tests: a plugin's path is part of its build flags, so a new
/// path every run would rebuild std every run.
fn workbench() -> PathBuf {
    let mut hasher = DefaultHasher::new();
    repo_root()
        .canonicalize()
        .expect("repository root")
        .hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!("warden-plugin-authors-{:016x}", hasher.finish()));
    std::fs::create_dir_all(&dir).expect("create the workbench");
    dir
}

/// A fresh start for the plugin `name` on the workbench; its path.
fn fresh(name: &str) -> PathBuf {
    let dir = workbench().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the last run's plugin");
    }
    dir
}

/// Runs `warden` in `cwd`, building guests into a target directory that
/// outlives the test (incremental builds).
fn warden(cwd: &Path, args: &[&str]) -> Output {
    Command::new(warden_bin())
        .args(args)
        .current_dir(cwd)
        .env(
            "CARGO_TARGET_DIR",
            repo_root().join("target/plugin-authors-e2e"),
        )
        .output()
        .expect("warden runs")
}

/// The output of a run that must succeed; fails the test with its stderr
/// (which names the toolchain to install, when none is found).
#[track_caller]
fn succeeded(args: &[&str], output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "warden {}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `warden args` in `cwd` and expects success; its stdout.
#[track_caller]
fn run_ok(cwd: &Path, args: &[&str]) -> String {
    succeeded(args, warden(cwd, args))
}

/// Builds the plugin crate in `dir` (the tutorial's step 3, from inside it).
#[track_caller]
fn build(dir: &Path) {
    let started = Instant::now();
    run_ok(dir, &["plugin", "build"]);
    eprintln!(
        "warden plugin build {}: {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
}

/// The tutorial's edit: orgs on the free plan take nobody in.
fn skip_free_orgs(dir: &Path) {
    let lib_rs = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib_rs).unwrap();
    let edits = [
        (
            "use warden_plugin_sdk::{info, Config};",
            "use warden_plugin_sdk::{info, Config, Plan};",
        ),
        (
            "    org.seat_limit == 0 || org.seats_used < org.seat_limit\n",
            "    org.plan != Plan::Free && (org.seat_limit == 0 || org.seats_used < org.seat_limit)\n",
        ),
    ];
    let mut edited = text.clone();
    for (from, to) in edits {
        assert!(
            edited.contains(from),
            "the example no longer has {from:?}:\n{text}"
        );
        edited = edited.replace(from, to);
    }
    std::fs::write(&lib_rs, edited).unwrap();
}

fn served_by(status: &Value, hook: &str) -> Value {
    let hooks = status["hooks"].as_array().unwrap();
    hooks.iter().find(|h| h["hook"] == hook).unwrap()["served_by"].clone()
}

#[test]
fn a_plugin_made_outside_the_checkout_decides_sign_ups_on_a_server() {
    let bench = workbench();
    let dir = fresh(PLUGIN);

    // 1. Create it; a second time the directory is taken.
    let new = ["plugin", "new", PLUGIN, "--hook", "autojoin"];
    let created = run_ok(&bench, &new);
    assert!(created.contains("warden plugin build"), "{created}");
    for file in [
        "Cargo.toml",
        "plugin.toml",
        "src/lib.rs",
        "input.json",
        "sdk/Cargo.toml",
        "wit/warden.wit",
    ] {
        assert!(dir.join(file).is_file(), "no {file} in {}", dir.display());
    }
    let again = warden(&bench, &new);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{again:?}"
    );

    // 2. Edit it, 3. build it.
    skip_free_orgs(&dir);
    build(&dir);
    assert!(dir.join(format!("{PLUGIN}.wasm")).is_file());

    // 4. Test it on the sample input, and with a free-plan org.
    let input = format!("{PLUGIN}/input.json");
    let test = [
        "plugin", "test", PLUGIN, "--hook", "autojoin", "--input", &input,
    ];
    let answer = run_ok(&bench, &test);
    assert!(answer.contains(&format!("{PLUGIN} 0.1.0")), "{answer}");
    assert!(answer.contains("which has a seat left"), "{answer}");
    let sample: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("input.json")).unwrap()).unwrap();
    let mut free = sample.clone();
    free["candidates"][0]["plan"] = json!("free");
    std::fs::write(dir.join("free.json"), free.to_string()).unwrap();
    let free_input = format!("{PLUGIN}/free.json");
    let answer = run_ok(
        &bench,
        &[
            "plugin",
            "test",
            PLUGIN,
            "--hook",
            "autojoin",
            "--input",
            &free_input,
        ],
    );
    assert!(
        answer.contains("\"join\": null"),
        "the edit is not in: {answer}"
    );

    // A hook it does not declare is named as such, not as bad input.
    let wrong = warden(
        &bench,
        &[
            "plugin",
            "test",
            PLUGIN,
            "--hook",
            "seat-billing",
            "--input",
            &input,
        ],
    );
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(&format!(
            "plugin {PLUGIN} declares hooks [autojoin], not seat-billing"
        )),
        "{stderr}"
    );

    // 5. Drop it into a running server, 6. a sign-up it decides.
    let server = Server::start_configured(&[], &[], None);
    server.drop_in_plugin(dir.to_str().unwrap());
    let serving = server.wait_for(RELOAD_TIMEOUT, |s| {
        served_by(&s.get("/v1/plugins").body, "autojoin") == PLUGIN
    });
    assert!(serving, "{}", server.get("/v1/plugins").body);
    let root = server.user("root@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "verified_domains": ["acme.com"], "admin": root}),
        )
        .expect(201);
    let ann = server
        .post("/v1/signup", json!({"email": "ann@acme.com"}))
        .expect(201);
    assert_eq!(ann["decided_by"], PLUGIN, "{ann}");
    assert_eq!(
        ann["joined"],
        json!({"org": org["id"], "role": "member", "workspaces": [org["default_workspace"]]})
    );
    assert!(
        ann["reason"]
            .as_str()
            .unwrap()
            .contains("which has a seat left"),
        "{ann}"
    );
    let audit = server
        .get(&format!("/v1/orgs/{}/audit", org["id"].as_str().unwrap()))
        .expect(200);
    let recorded = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|record| record.get("plugins"))
        .expect("the sign-up's record keeps the plugin's answer");
    assert_eq!(recorded[0]["plugin"], PLUGIN, "{recorded}");
}

#[test]
fn every_hooks_example_builds_and_answers_its_sample_input() {
    let bench = workbench();
    for (name, hook) in [
        ("example-seat-billing", "seat-billing"),
        ("example-usage-pricing", "usage-pricing"),
    ] {
        let dir = fresh(name);
        run_ok(
            &bench,
            &[
                "plugin",
                "new",
                name,
                "--hook",
                hook,
                "--dir",
                bench.to_str().unwrap(),
            ],
        );
        build(&dir);
        let input = dir.join("input.json");
        let answer = run_ok(
            &bench,
            &[
                "plugin",
                "test",
                dir.to_str().unwrap(),
                "--hook",
                hook,
                "--input",
                input.to_str().unwrap(),
            ],
        );
        assert!(answer.contains(&format!("{name} 0.1.0")), "{answer}");
    }
}
