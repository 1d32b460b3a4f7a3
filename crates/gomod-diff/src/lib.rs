//! Differential testing of `gomod` against Go's own `golang.org/x/mod`: generated inputs are
//! fed to both, every answer compared (validity, canonical and escaped forms, orders, zip file
//! plans, `h1:` hashes). Error text is not compared. See `crates/gomod-diff/README.md`.

pub mod families;
pub mod gen;
pub mod oracle;
pub mod rawzip;

use anyhow::Result;
use families::Family;
use oracle::{Oracle, Request};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// One disagreement: the request and both answers.
#[derive(Debug, Clone)]
pub struct Disagreement {
    pub req: Request,
    pub go: String,
    pub ours: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args: Vec<String> = self.req.args.iter().map(|a| format!("{:?}", String::from_utf8_lossy(a))).collect();
        write!(f, "{}({})\n  go:     {:?}\n  gomod:  {:?}", self.req.op, args.join(", "), self.go, self.ours)
    }
}

/// What one family's run found.
#[derive(Debug, Default)]
pub struct Report {
    pub compared: u64,
    pub disagreements: u64,
    /// Disagreements that are documented intentional differences, by reason.
    pub documented: std::collections::BTreeMap<&'static str, u64>,
    /// The first few, to read.
    pub examples: Vec<Disagreement>,
}

const BATCH: u64 = 2048;
const KEEP: usize = 20;

/// Runs `count` cases of `family` (seeded, so a run can be repeated), calling `progress` with
/// the cases done so far after each batch.
pub fn run(
    oracle: &mut Oracle,
    family: &Family,
    count: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Report> {
    let mut rng = SmallRng::seed_from_u64(seed ^ fxhash(family.name));
    let mut report = Report::default();
    let mut i = 0;
    while i < count {
        let n = BATCH.min(count - i);
        let cases: Vec<families::Case> = (i..i + n).map(|k| (family.case)(&mut rng, k)).collect();
        let reqs: Vec<Request> = cases.iter().map(|c| c.req.clone()).collect();
        let answers = oracle.ask(&reqs)?;
        for (case, go) in cases.into_iter().zip(answers) {
            report.compared += 1;
            if go != case.ours {
                if let Some(reason) = family.known.and_then(|k| k(&go, &case.ours)) {
                    *report.documented.entry(reason).or_default() += 1;
                    continue;
                }
                report.disagreements += 1;
                if report.examples.len() < KEEP {
                    report.examples.push(Disagreement {
                        req: case.req,
                        go: String::from_utf8_lossy(&go).into_owned(),
                        ours: String::from_utf8_lossy(&case.ours).into_owned(),
                    });
                }
            }
        }
        let _ = std::fs::remove_dir_all(families::zips_scratch());
        i += n;
        progress(i);
    }
    Ok(report)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}
