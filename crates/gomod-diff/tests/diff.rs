//! Every family of the differential harness at a small scale (the large runs are
//! `cargo run --release -p gomod-diff`): gomod and golang.org/x/mod must give the same answer
//! to every generated input. Needs the oracle (`scripts/oracle.sh`; `scripts/test.sh` builds it).

use gomod_diff::families::ALL;
use gomod_diff::oracle::{default_path, Oracle};

/// Cases per family; directory cases cost ten times as much and run a tenth as many, and the
/// Unicode tables are compared for every scalar value.
const COUNT: u64 = 20_000;

#[test]
fn gomod_agrees_with_go() {
    let path = default_path();
    let mut oracle = Oracle::start(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let mut failures = Vec::new();
    for f in ALL {
        let r = gomod_diff::run(&mut oracle, f, f.cases(COUNT), 7, &mut |_| {}).expect("run");
        assert_eq!(r.compared, f.cases(COUNT), "{}", f.name);
        if r.disagreements > 0 {
            let examples: Vec<String> = r.examples.iter().take(5).map(|d| d.to_string()).collect();
            failures.push(format!("{}: {} disagreements\n{}", f.name, r.disagreements, examples.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_harness_sees_a_difference() {
    // A family whose gomod side is wrong on purpose must be reported.
    fn wrong(rng: &mut rand::rngs::SmallRng, i: u64) -> gomod_diff::families::Case {
        let mut c = (ALL[0].case)(rng, i);
        c.ours = b"not what go says".to_vec();
        c
    }
    let f = gomod_diff::families::Family { name: "wrong", what: "", case: wrong, cost: 1, at_least: 0, known: None };
    let mut oracle = Oracle::start(&default_path()).unwrap_or_else(|e| panic!("{e:#}"));
    let r = gomod_diff::run(&mut oracle, &f, 100, 1, &mut |_| {}).expect("run");
    assert_eq!(r.disagreements, 100);
    assert_eq!(r.examples.len(), 20);
}
