//! `golang.org/x/mod/modfile`: `ModulePath` and `ParseLax` (module, go and its language
//! version, require, retract, ignore, deprecation) over edited go.mod files.

use super::{Case, Family};
use crate::gen::{mutate, pick};
use crate::oracle::Request;
use gomod::{gover, modfile};
use rand::rngs::SmallRng;
use rand::Rng;

const SAMPLES: &[&str] = &[
    "module example.com/m\n\ngo 1.21\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.2.0 // indirect\n)\n",
    "// Deprecated: use example.com/n\nmodule example.com/m\n",
    "module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n",
    "module `rsc.io/quote`\ngo 1.24\n",
    "module m\nrequire ()\ngo 1.21\n",
    "module example.com/m\ngo 1.22rc1\ntoolchain go1.22.0\nrequire example.com/x v1.3\n",
    "module example.com/m\nretract v1.0.0 // bad\nretract [v1.1.0, v1.2.0]\nretract (\n\t// broken\n\tv0.9.0\n)\n",
    "module example.com/m\nreplace example.com/a => ../a\nexclude example.com/b v1.0.0\nignore ./node_modules\n",
    "\u{feff}module example.com/m\ngo 1.24\n",
    "module example.com/m\ngo 2\n",
    "module example.com/m\ngo 01.24\n",
    "module example.com/m\ngo 1.24.0\ngodebug default=go1.21\ntool example.com/t\n",
    "module example.com/m/v2\nrequire example.com/x/v3 v3.0.0\nrequire gopkg.in/yaml.v2 v2.4.0\n",
    "module example.com/m\r\ngo 1.21\r\nrequire example.com/a v1.0.0 // indirect\r\n",
    "module example.com/m // comment\ngo 1.23.4 // comment\n",
    "module (\n\texample.com/m\n)\n",
    "module example.com/m\nrequire example.com/a v2.0.0+incompatible\nrequire example.com/b/v2 v1.0.0\n",
    "module example.com/m\ngo v1.21.x\n",
];

const LINES: &[&str] = &[
    "module example.com/x",
    "module \"a\\x41b\"",
    "module `a\rb`",
    "go 1.21",
    "go 1.24",
    "go 1.25rc1",
    "go 1.2.3.4",
    "require example.com/y v1.0.0",
    "require (",
    ")",
    "require example.com/z v1.0.0 // indirect",
    "retract v1.0.0",
    "retract [v1.0.0, v1.1.0] // why",
    "// Deprecated: gone",
    "// indirect",
    "ignore vendor",
    "exclude example.com/z v1.0.0",
    "unknownverb x y",
    "toolchain go1.23",
    "",
    "\t",
    "/* block */",
];

const ALPHABET: &[char] = &['(', ')', '"', '`', '/', ' ', '\n', '\t', '\r', 'v', '1', '.', 'm', '\\', '[', ']', ','];

fn text(rng: &mut SmallRng) -> String {
    let sample = pick(rng, SAMPLES);
    let mut lines: Vec<String> = sample.split('\n').map(str::to_string).collect();
    for _ in 0..rng.random_range(0..3) {
        let at = rng.random_range(0..=lines.len());
        match rng.random_range(0..4) {
            0 => lines.insert(at, pick(rng, LINES).to_string()),
            1 if at < lines.len() => {
                lines.remove(at);
            }
            2 if at < lines.len() => lines[at] = mutate(rng, &lines[at], ALPHABET),
            _ => lines.push(pick(rng, LINES).to_string()),
        }
    }
    let mut t = lines.join("\n");
    if rng.random_bool(0.1) {
        t = mutate(rng, &t, ALPHABET);
    }
    t
}

fn ours(data: &[u8]) -> String {
    let mut parts = vec![format!("modpath {}", modfile::module_path(data).unwrap_or_default())];
    let f = match modfile::parse_lax(data) {
        Ok(f) => f,
        Err(_) => {
            parts.push("lax err".into());
            return parts.join("\n");
        }
    };
    parts.push("lax ok".into());
    if let Some(m) = &f.module {
        parts.push(format!("module {}", m.path));
        parts.push(format!("deprecated {}", m.deprecated));
    }
    if let Some(g) = &f.go {
        parts.push(format!("go {g}"));
        parts.push(format!("lang {}", gover::lang(&format!("go{g}"))));
    }
    for r in &f.require {
        parts.push(format!("require {} {} {}", r.path, r.version, r.indirect));
    }
    for r in &f.retract {
        parts.push(format!("retract {} {} {}", r.low, r.high, r.rationale));
    }
    for i in &f.ignore {
        parts.push(format!("ignore {i}"));
    }
    parts.join("\n")
}

fn modfile_case(rng: &mut SmallRng, _i: u64) -> Case {
    let t = text(rng);
    Case { req: Request::new("modfile", &[t.as_bytes()]), ours: ours(t.as_bytes()).into_bytes() }
}

pub const MODFILE: Family = Family {
    name: "modfile",
    what: "ModulePath, ParseLax (module, deprecation, go and its language version, require, retract, ignore)",
    case: modfile_case,
    cost: 1,
    at_least: 0,
    known: None,
};
