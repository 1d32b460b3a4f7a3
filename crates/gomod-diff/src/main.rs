//! `gomod-diff`: compare gomod with Go's golang.org/x/mod on generated inputs.
//!
//! ```text
//! gomod-diff [--count N] [--seed S] [--family NAME]... [--oracle PATH]
//! ```
//! Prints one line per family (cases compared, disagreements) and the first disagreements;
//! exits 1 when there is any. Progress goes to a terminal only.

use anyhow::{bail, Context, Result};
use gomod_diff::families::ALL;
use gomod_diff::oracle::{default_path, Oracle};
use std::io::IsTerminal;
use std::time::Instant;

fn main() -> Result<()> {
    let mut count: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut only: Vec<String> = Vec::new();
    let mut oracle_path = default_path();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--count" => count = val()?.parse().context("--count")?,
            "--seed" => seed = val()?.parse().context("--seed")?,
            "--family" => only.push(val()?),
            "--oracle" => oracle_path = val()?.into(),
            "--list" => {
                for f in ALL {
                    println!("{:16} {}", f.name, f.what);
                }
                return Ok(());
            }
            _ => bail!("unknown argument {a} (try --list, --count, --seed, --family, --oracle)"),
        }
    }
    let tty = std::io::stderr().is_terminal();
    let mut oracle = Oracle::start(&oracle_path)?;
    let mut total = 0;
    for f in ALL.iter().filter(|f| only.is_empty() || only.iter().any(|o| o == f.name)) {
        let n = f.cases(count);
        let started = Instant::now();
        let mut progress = |done: u64| {
            if tty {
                eprint!("\r{:16} {done}/{n}", f.name);
            }
        };
        let r = gomod_diff::run(&mut oracle, f, n, seed, &mut progress)?;
        if tty {
            eprint!("\r\x1b[K");
        }
        println!(
            "{:16} {:>9} compared  {:>6} disagreements  {:>6.1}s  ({})",
            f.name,
            r.compared,
            r.disagreements,
            started.elapsed().as_secs_f64(),
            f.what
        );
        for (reason, n) in &r.documented {
            println!("  {n} documented differences: {reason}");
        }
        for d in &r.examples {
            println!("  {d}");
        }
        total += r.disagreements;
    }
    if total > 0 {
        std::process::exit(1);
    }
    Ok(())
}
