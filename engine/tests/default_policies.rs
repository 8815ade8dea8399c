//! The default policies validate and pass their own test cases
//! (`policies/tests`), the same run as `warden policy test policies`, and
//! the cases ask about every action of the schema.

use std::path::Path;

use warden::authz::policy_tests;
use warden::policy;

#[test]
fn default_policies_pass_their_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let snapshot =
        policy::build(&dir, 1).unwrap_or_else(|e| panic!("default policies invalid:\n{e}"));
    let outcomes = policy_tests::run(&dir, &snapshot).expect("policy tests readable");
    assert!(
        outcomes.len() > 600,
        "the role matrix has {} cases",
        outcomes.len()
    );
    let report = policy_tests::report(&outcomes);
    assert!(outcomes.iter().all(|o| o.passed), "{report}");
    assert_eq!(
        policy_tests::untested_actions(&snapshot, &outcomes),
        Vec::<String>::new(),
        "actions no policy test asks about"
    );
}
