//! Synthetic module graphs: N modules with versions and a dependency DAG, plus the cases that
//! break naive proxies — uppercase paths, `/vN` majors, `+incompatible` without go.mod,
//! pre-releases and pseudo-versions reached through a branch query.

use anyhow::{Context, Result};
use gomod::dirhash::{hash_go_mod, Hash1};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One version of one module, with all the bytes a proxy serves for it.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: String,
    pub time: String,
    pub go_mod: Vec<u8>,
    /// (file path inside the module, content)
    pub files: Vec<(String, Vec<u8>)>,
    /// Listed in `@v/list` (pseudo-versions are not).
    pub tagged: bool,
}

#[derive(Debug, Clone)]
pub struct Module {
    pub path: String,
    pub versions: Vec<Version>,
    /// Extra `.info` answers for queries (branch names) → the version they resolve to.
    pub queries: BTreeMap<String, String>,
    pub kind: &'static str,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub modules: Vec<Module>,
}

/// A small deterministic generator (xorshift), so graphs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

impl Version {
    /// The module zip, built the way the go command builds one (no directory entries).
    pub fn zip_bytes(&self, module: &str) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            for (name, data) in &self.files {
                // Writing to memory cannot fail for these small, valid names.
                w.start_file(format!("{module}@{}/{name}", self.version), o).expect("zip entry");
                w.write_all(data).expect("zip write");
            }
            w.finish().expect("zip finish");
        }
        buf.into_inner()
    }

    /// The `h1:` hash of the zip, computed from the file set (not through a zip reader).
    pub fn zip_hash(&self, module: &str) -> String {
        let mut h = Hash1::new();
        for (name, data) in &self.files {
            h.add_bytes(format!("{module}@{}/{name}", self.version), data).expect("name without newline");
        }
        h.finish()
    }

    pub fn mod_hash(&self) -> String {
        hash_go_mod(&self.go_mod)
    }

    pub fn info(&self) -> String {
        format!("{{\"Version\":\"{}\",\"Time\":\"{}\"}}\n", self.version, self.time)
    }
}

fn time_for(i: usize, j: usize) -> (String, String) {
    // (RFC 3339, pseudo-version timestamp)
    let day = 1 + (i % 28);
    let hour = j % 24;
    (format!("2024-03-{day:02}T{hour:02}:00:00Z"), format!("202403{day:02}{hour:02}0000"))
}

fn go_mod(path: &str, go: &str, reqs: &[(String, String)]) -> Vec<u8> {
    let mut s = format!("module {path}\n\ngo {go}\n");
    if !reqs.is_empty() {
        s.push_str("\nrequire (\n");
        for (p, v) in reqs {
            s.push_str(&format!("\t{p} {v}\n"));
        }
        s.push_str(")\n");
    }
    s.into_bytes()
}

fn package_name(path: &str) -> String {
    let last =
        path.rsplit('/').find(|e| !(e.starts_with('v') && e[1..].bytes().all(|b| b.is_ascii_digit()))).unwrap_or("m");
    let mut name: String = last.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        name.insert(0, 'p');
    }
    name
}

fn files(path: &str, version: &str, go_mod: Option<&[u8]>) -> Vec<(String, Vec<u8>)> {
    let pkg = package_name(path);
    let mut f = vec![
        (format!("{pkg}.go"), format!("// Package {pkg} is synthetic.\npackage {pkg}\n\n// Version is the module version.\nconst Version = \"{version}\"\n").into_bytes()),
        ("LICENSE".to_string(), b"Synthetic test module; no rights reserved.\n".to_vec()),
        ("internal/util/util.go".to_string(), b"package util\n\nfunc Add(a, b int) int { return a + b }\n".to_vec()),
    ];
    if let Some(m) = go_mod {
        f.push(("go.mod".to_string(), m.to_vec()));
    }
    f
}

/// Generates a graph of `n` modules (n ≥ 10 includes every special kind at least once).
pub fn generate(n: usize, seed: u64) -> Graph {
    let mut rng = Rng(seed.max(1));
    let mut modules: Vec<Module> = Vec::with_capacity(n);
    for i in 0..n {
        // Requirements: up to three earlier modules, at one of their versions.
        let mut reqs: Vec<(String, String)> = Vec::new();
        if i > 0 {
            for _ in 0..rng.below(4) {
                let dep = &modules[rng.below(i)];
                let v = &dep.versions[rng.below(dep.versions.len())];
                if !reqs.iter().any(|(p, _)| p == &dep.path) {
                    reqs.push((dep.path.clone(), v.version.clone()));
                }
            }
        }
        reqs.sort();
        let mk = |path: &str, v: &str, j: usize, go: &str, with_go_mod: bool, tagged: bool| {
            let (time, _) = time_for(i, j);
            let gm = go_mod(path, go, &reqs);
            let mod_bytes = if with_go_mod { gm.clone() } else { format!("module {path}\n").into_bytes() };
            Version {
                version: v.to_string(),
                time,
                files: files(path, v, if with_go_mod { Some(&gm) } else { None }),
                go_mod: mod_bytes,
                tagged,
            }
        };
        let go = if i % 2 == 0 { "1.21" } else { "1.16" };
        let (kind, path, versions, queries): (&'static str, String, Vec<Version>, BTreeMap<String, String>) =
            match i % 10 {
                1 => {
                    let p = format!("example.com/Upper/M{i}");
                    (
                        "uppercase",
                        p.clone(),
                        vec![mk(&p, "v1.0.0", 0, go, true, true), mk(&p, "v1.1.0", 1, go, true, true)],
                        BTreeMap::new(),
                    )
                }
                2 => {
                    let p = format!("example.com/g/major{i}/v2");
                    (
                        "major-v2",
                        p.clone(),
                        vec![mk(&p, "v2.0.0", 0, go, true, true), mk(&p, "v2.1.0", 1, go, true, true)],
                        BTreeMap::new(),
                    )
                }
                3 => {
                    let p = format!("example.com/g/legacy{i}");
                    (
                        "incompatible",
                        p.clone(),
                        vec![mk(&p, "v1.0.0", 0, go, false, true), mk(&p, "v2.0.0+incompatible", 1, go, false, true)],
                        BTreeMap::new(),
                    )
                }
                4 => {
                    let p = format!("example.com/g/pre{i}");
                    (
                        "prerelease",
                        p.clone(),
                        vec![mk(&p, "v1.0.0", 0, go, true, true), mk(&p, "v1.1.0-rc.1", 1, go, true, true)],
                        BTreeMap::new(),
                    )
                }
                5 => {
                    let p = format!("example.com/g/pseudo{i}");
                    let (_, ts) = time_for(i, 2);
                    let rev = format!("{:012x}", 0xabcdef000000u64 + i as u64);
                    let pv = format!("v0.1.1-0.{ts}-{rev}");
                    let mut q = BTreeMap::new();
                    q.insert("main".to_string(), pv.clone());
                    // A commit-hash query resolves to the same pseudo-version.
                    q.insert(rev.clone(), pv.clone());
                    ("pseudo", p.clone(), vec![mk(&p, "v0.1.0", 0, go, true, true), mk(&p, &pv, 2, go, true, false)], q)
                }
                _ => {
                    let p = format!("example.com/g/m{i}");
                    (
                        "plain",
                        p.clone(),
                        vec![mk(&p, "v1.0.0", 0, go, true, true), mk(&p, "v1.1.0", 1, go, true, true)],
                        BTreeMap::new(),
                    )
                }
            };
        modules.push(Module { path, versions, queries, kind });
    }
    Graph { modules }
}

/// A one-version module whose zip carries `size` bytes of incompressible data: for streaming,
/// memory and crash tests.
pub fn big_module(path: &str, version: &str, size: usize, seed: u64) -> Module {
    let mut rng = Rng(seed.max(1));
    let mut blob = Vec::with_capacity(size + 8);
    while blob.len() < size {
        blob.extend_from_slice(&rng.next().to_le_bytes());
    }
    blob.truncate(size);
    let gm = format!("module {path}\n\ngo 1.21\n").into_bytes();
    let v = Version {
        version: version.to_string(),
        time: "2024-05-01T12:00:00Z".to_string(),
        files: vec![
            ("go.mod".to_string(), gm.clone()),
            ("big.go".to_string(), format!("package {}\n", package_name(path)).into_bytes()),
            ("testdata/blob.bin".to_string(), blob),
        ],
        go_mod: gm,
        tagged: true,
    };
    Module { path: path.to_string(), versions: vec![v], queries: BTreeMap::new(), kind: "big" }
}

/// Adds `n` small Go-like source files (1–16 KiB, compressible like source code) in a few
/// hundred directories: the shape of a toolchain module's zip.
pub fn add_small_files(v: &mut Version, n: usize, seed: u64) {
    let mut rng = Rng(seed.max(1));
    for i in 0..n {
        let len = 1024 + rng.below(15 * 1024);
        let mut text = format!("package p{}\n\n", i % 300);
        while text.len() < len {
            text.push_str(&format!(
                "// line {} of file {i}: {:x}\nvar v{} = {}\n",
                text.len(),
                rng.next(),
                text.len(),
                rng.below(1000)
            ));
        }
        v.files.push((format!("src/p{}/f{i}.go", i % 300), text.into_bytes()));
    }
}

impl Graph {
    /// Writes the graph in GOPROXY layout (`$mod/@v/list`, `.info`, `.mod`, `.zip`, `@latest`).
    pub fn write_proxy_dir(&self, dir: &Path) -> Result<()> {
        self.write_proxy_dir_with(dir, true)
    }

    /// Like [`Graph::write_proxy_dir`], optionally without zips (for metadata-only benchmarks).
    pub fn write_proxy_dir_with(&self, dir: &Path, zips: bool) -> Result<()> {
        for m in &self.modules {
            let esc = gomod::path::escape_path(&m.path)?;
            let vdir = dir.join(&esc).join("@v");
            std::fs::create_dir_all(&vdir).with_context(|| format!("creating {}", vdir.display()))?;
            let mut list = String::new();
            for v in &m.versions {
                let ev = gomod::path::escape_version(&v.version)?;
                std::fs::write(vdir.join(format!("{ev}.info")), v.info())?;
                std::fs::write(vdir.join(format!("{ev}.mod")), &v.go_mod)?;
                if zips {
                    std::fs::write(vdir.join(format!("{ev}.zip")), v.zip_bytes(&m.path))?;
                }
                if v.tagged {
                    list.push_str(&v.version);
                    list.push('\n');
                }
            }
            std::fs::write(vdir.join("list"), list)?;
            for (q, target) in &m.queries {
                let v = m.versions.iter().find(|v| &v.version == target).context("query target")?;
                std::fs::write(vdir.join(format!("{}.info", gomod::path::escape_version(q)?)), v.info())?;
            }
            if let Some(latest) = self.latest(m) {
                std::fs::write(dir.join(&esc).join("@latest"), latest.info())?;
            }
        }
        Ok(())
    }

    /// The highest tagged release (else pre-release), as `go` picks `latest`.
    pub fn latest<'a>(&self, m: &'a Module) -> Option<&'a Version> {
        let mut tagged: Vec<&Version> = m.versions.iter().filter(|v| v.tagged).collect();
        tagged.sort_by(|a, b| gomod::semver::compare(&a.version, &b.version));
        tagged.iter().rev().find(|v| gomod::semver::prerelease(&v.version).is_empty()).or(tagged.last()).copied()
    }

    /// The highest version of each module (tagged or not): what the root module requires.
    pub fn selected(&self) -> Vec<(&Module, &Version)> {
        self.modules
            .iter()
            .filter_map(|m| {
                m.versions.iter().max_by(|a, b| gomod::semver::compare(&a.version, &b.version)).map(|v| (m, v))
            })
            .collect()
    }

    /// Writes a main module that requires every module at its highest version.
    pub fn write_root_module(&self, dir: &Path, path: &str) -> Result<()> {
        let reqs: Vec<(String, String)> =
            self.selected().iter().map(|(m, v)| (m.path.clone(), v.version.clone())).collect();
        Self::write_main(dir, path, &reqs)
    }

    /// Writes a main module that requires only the graph's roots (modules no other module
    /// requires), so the go command must walk the graph to find the rest — as in a real project.
    pub fn write_root_module_walking(&self, dir: &Path, path: &str) -> Result<()> {
        let required: std::collections::HashSet<String> = self
            .modules
            .iter()
            .flat_map(|m| m.versions.iter().flat_map(|v| gomod::modfile::requires(&v.go_mod)))
            .map(|(p, _)| p)
            .collect();
        let reqs: Vec<(String, String)> = self
            .selected()
            .iter()
            .filter(|(m, _)| !required.contains(&m.path))
            .map(|(m, v)| (m.path.clone(), v.version.clone()))
            .collect();
        Self::write_main(dir, path, &reqs)
    }

    fn write_main(dir: &Path, path: &str, reqs: &[(String, String)]) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("go.mod"), go_mod(path, "1.21", reqs))?;
        std::fs::write(dir.join("main.go"), "package main\n\nfunc main() {}\n")?;
        Ok(())
    }

    /// The expected go.sum lines for every version of every module: (zip line, go.mod line).
    pub fn expected_sums(&self) -> BTreeMap<(String, String), (String, String)> {
        let mut out = BTreeMap::new();
        for m in &self.modules {
            for v in &m.versions {
                out.insert((m.path.clone(), v.version.clone()), (v.zip_hash(&m.path), v.mod_hash()));
            }
        }
        out
    }

    pub fn module(&self, kind: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_has_every_kind_and_valid_names() {
        let g = generate(20, 7);
        for kind in ["plain", "uppercase", "major-v2", "incompatible", "prerelease", "pseudo"] {
            assert!(g.module(kind).is_some(), "{kind}");
        }
        for m in &g.modules {
            gomod::path::check_path(&m.path).unwrap();
            for v in &m.versions {
                gomod::path::check_canonical(&m.path, &v.version).unwrap();
                let z = v.zip_bytes(&m.path);
                let c = gomod::zipcheck::check_zip(std::io::Cursor::new(z), &m.path, &v.version).unwrap();
                assert_eq!(c.h1, v.zip_hash(&m.path));
                if let Some(gm) = c.go_mod {
                    assert_eq!(gm, v.go_mod);
                }
            }
        }
        let pseudo = g.module("pseudo").unwrap();
        assert!(gomod::pseudo::is_pseudo_version(&pseudo.versions[1].version));
    }
}
