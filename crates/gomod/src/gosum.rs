//! What a build needs, read from the files a project carries: `go.sum` (and `go.work.sum`)
//! lines, a `go.mod`'s requirements, and a `go.work`'s versioned replacements. Used to warm a
//! cache and to choose what an air-gapped bundle carries.

use crate::path;

/// One `go.sum` line: `<module> <version>[/go.mod] <hash>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumLine {
    pub path: String,
    pub version: String,
    /// The line hashes the version's `go.mod` only (`/go.mod` after the version).
    pub go_mod: bool,
    /// `h1:...` (or another algorithm the go command may add one day; kept as written).
    pub hash: String,
}

impl SumLine {
    /// The line as the go command writes it.
    pub fn line(&self) -> String {
        let suffix = if self.go_mod { "/go.mod" } else { "" };
        format!("{} {}{suffix} {}", self.path, self.version, self.hash)
    }
}

/// Why a file was refused: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct SumError {
    pub line: usize,
    pub msg: String,
}

/// The lines of a `go.sum`, in file order. Blank lines are skipped; a malformed line, a path or
/// version that is not canonical together, is refused with its line number (the go command
/// refuses such a file too).
pub fn parse_sum(text: &str) -> Result<Vec<SumLine>, SumError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |msg: String| SumError { line: i + 1, msg };
        let fields: Vec<&str> = raw.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [module, version, hash] => {
                let (version, go_mod) = match version.strip_suffix("/go.mod") {
                    Some(v) => (v, true),
                    None => (*version, false),
                };
                path::check_canonical(module, version).map_err(|e| err(e.to_string()))?;
                if !hash.contains(':') {
                    return Err(err(format!("{module} {version}: malformed hash {hash:?}")));
                }
                out.push(SumLine {
                    path: module.to_string(),
                    version: version.to_string(),
                    go_mod,
                    hash: hash.to_string(),
                });
            }
            _ => return Err(err(format!("want <module> <version>[/go.mod] <hash>, have {:?}", raw.trim()))),
        }
    }
    Ok(out)
}

/// One module version a build needs, and whether it needs the zip or only the `go.mod`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Needed {
    pub path: String,
    pub version: String,
    pub zip: bool,
}

/// What kind of file a text is, by its name when given, else by its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sum,
    Mod,
    Work,
}

impl Kind {
    /// `go.sum`/`go.work.sum` → `Sum`, `go.mod` → `Mod`, `go.work` → `Work`; otherwise the text
    /// decides: a `module` line makes a go.mod, a `use` line a go.work, anything else a go.sum.
    pub fn of(name: Option<&str>, text: &str) -> Kind {
        let base = name.map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n));
        match base {
            Some(n) if n.ends_with(".sum") => return Kind::Sum,
            Some("go.mod") => return Kind::Mod,
            Some("go.work") => return Kind::Work,
            _ => {}
        }
        let first_word = |w: &str| text.lines().any(|l| l.split_whitespace().next() == Some(w));
        if first_word("module") {
            Kind::Mod
        } else if first_word("use") || first_word("use(") {
            Kind::Work
        } else {
            Kind::Sum
        }
    }
}

/// The module versions a file says a build needs, sorted, each once (a zip need covers the
/// `go.mod` need of the same version):
/// - a go.sum: each line (a `/go.mod` line needs the `go.mod` only);
/// - a go.mod: each requirement, zip and `go.mod`;
/// - a go.work: each replacement by a module version (its `use` lines name local directories,
///   which no proxy serves).
pub fn needed(kind: Kind, text: &str) -> Result<Vec<Needed>, SumError> {
    let mut all: Vec<Needed> = match kind {
        Kind::Sum => {
            parse_sum(text)?.into_iter().map(|l| Needed { path: l.path, version: l.version, zip: !l.go_mod }).collect()
        }
        Kind::Mod => {
            let f = crate::modfile::parse_lax(text.as_bytes()).map_err(|e| SumError { line: e.line, msg: e.msg })?;
            f.require.into_iter().map(|r| Needed { path: r.path, version: r.version, zip: true }).collect()
        }
        Kind::Work => work_replacements(text)?,
    };
    all.sort_by(|a, b| (&a.path, &a.version, !a.zip).cmp(&(&b.path, &b.version, !b.zip)));
    all.dedup_by(|later, first| later.path == first.path && later.version == first.version);
    Ok(all)
}

/// A walk of the module graph, one go.mod at a time: every version met is read once. Its build
/// list covers what the go command selects whichever way it loads the graph: the highest
/// version of each module over the whole graph (a main module before Go 1.17), and over the
/// pruned graph of a Go 1.17+ main module (a module whose go.mod says go 1.17 or later brings
/// its own requirements, not theirs; an older one brings all of its requirements' requirements).
/// A module version: path and version.
type ModVersion = (String, String);

#[derive(Debug, Default)]
pub struct GraphWalk {
    roots: Vec<ModVersion>,
    /// Each version read: its requirements, and whether its go.mod prunes (go ≥ 1.17).
    read: std::collections::HashMap<ModVersion, (Vec<ModVersion>, bool)>,
    met: std::collections::HashSet<(String, String)>,
    queue: std::collections::VecDeque<(String, String)>,
}

impl GraphWalk {
    /// A walk from the versions a build asks for.
    pub fn from_roots(roots: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut w = Self::default();
        for key in roots {
            w.roots.push(key.clone());
            w.meet(key);
        }
        w
    }

    fn meet(&mut self, key: (String, String)) {
        if self.met.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    /// The next version whose go.mod is to be read.
    pub fn next_version(&mut self) -> Option<(String, String)> {
        self.queue.front().cloned()
    }

    /// The go.mod of the version `next_version` gave.
    pub fn read(&mut self, go_mod: &[u8]) {
        let Some(from) = self.queue.pop_front() else { return };
        let (reqs, prunes) = match crate::modfile::parse_lax(go_mod) {
            Ok(f) => (f.require.iter().map(|r| (r.path.clone(), r.version.clone())).collect(), f.go_at_least("1.17")),
            Err(_) => (Vec::new(), false),
        };
        for r in &reqs {
            self.meet(r.clone());
        }
        self.read.insert(from, (reqs, prunes));
    }

    /// Skips the version `next_version` gave (its go.mod could not be read).
    pub fn skip(&mut self) {
        self.queue.pop_front();
    }

    /// Every version met: each needs its go.mod.
    pub fn versions(&self) -> impl Iterator<Item = &(String, String)> {
        self.met.iter()
    }

    /// The versions whose zips a build needs, sorted: the highest of each module over the whole
    /// graph, and over the pruned graph.
    pub fn build_list(&self) -> Vec<(String, String)> {
        // The pruned graph: the roots are loaded; a loaded module's requirements are in it, and
        // loaded too when its go.mod does not prune.
        let mut nodes: std::collections::HashSet<&(String, String)> = self.roots.iter().collect();
        let mut loaded: std::collections::HashSet<&(String, String)> = self.roots.iter().collect();
        let mut todo: Vec<&(String, String)> = self.roots.iter().collect();
        while let Some(n) = todo.pop() {
            let Some((reqs, prunes)) = self.read.get(n) else { continue };
            for q in reqs {
                nodes.insert(q);
                if !prunes && loaded.insert(q) {
                    todo.push(q);
                }
            }
        }
        let mut list = highest(self.met.iter());
        list.extend(highest(nodes.into_iter()));
        list.sort();
        list.dedup();
        list
    }
}

/// The highest version of each module among `versions`.
fn highest<'a>(versions: impl Iterator<Item = &'a (String, String)>) -> Vec<(String, String)> {
    let mut best: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (p, v) in versions {
        if best.get(p.as_str()).is_none_or(|b| crate::semver::compare(v, b).is_gt()) {
            best.insert(p, v);
        }
    }
    best.into_iter().map(|(p, v)| (p.to_string(), v.to_string())).collect()
}

/// The `replace ... => <module> <version>` targets of a go.work (single lines and blocks).
fn work_replacements(text: &str) -> Result<Vec<Needed>, SumError> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        let body = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("replace") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let Some((_, target)) = body.split_once("=>") else { continue };
        if let [module, version] = target.split_whitespace().collect::<Vec<_>>().as_slice() {
            path::check_canonical(module, version).map_err(|e| SumError { line: i + 1, msg: e.to_string() })?;
            out.push(Needed { path: module.to_string(), version: version.to_string(), zip: true });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n\
                       golang.org/x/text v0.3.0/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\n\
                       \n\
                       rsc.io/quote v1.5.2/go.mod h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0=\n";

    #[test]
    fn go_sum_lines_are_read_and_written_back() {
        let lines = parse_sum(SUM).unwrap();
        assert_eq!(lines.len(), 3);
        assert!(!lines[0].go_mod && lines[1].go_mod);
        assert_eq!(lines[1].line(), SUM.lines().nth(1).unwrap());
        let needed = needed(Kind::Sum, SUM).unwrap();
        let want = [("golang.org/x/text", "v0.3.0", true), ("rsc.io/quote", "v1.5.2", false)];
        let got: Vec<_> = needed.iter().map(|n| (n.path.as_str(), n.version.as_str(), n.zip)).collect();
        assert_eq!(got, want, "a zip line covers its go.mod line; a go.mod-only line needs no zip");
    }

    #[test]
    fn bad_go_sum_lines_are_refused_with_their_number() {
        assert_eq!(parse_sum("a.example/m v1.0.0\n").unwrap_err().line, 1);
        assert_eq!(parse_sum("\na.example/m v1.0 h1:x\n").unwrap_err().line, 2, "not canonical");
        assert_eq!(parse_sum("a.example/m/v2 v1.0.0 h1:x\n").unwrap_err().line, 1, "major version mismatch");
        assert_eq!(parse_sum("a.example/m v1.0.0 nohash\n").unwrap_err().line, 1);
        assert!(parse_sum("a.example/m v2.0.0+incompatible h1:x\n").is_ok());
    }

    #[test]
    fn a_graph_walk_reads_each_version_once_and_selects_the_highest() {
        let mods: std::collections::HashMap<(&str, &str), &str> = [
            (
                ("a.example/a", "v1.0.0"),
                "module a.example/a\ngo 1.21\nrequire (\n\tb.example/b v1.1.0\n\tc.example/c v1.0.0\n)\n",
            ),
            (("b.example/b", "v1.1.0"), "module b.example/b\ngo 1.21\nrequire c.example/c v1.2.0\n"),
            (("c.example/c", "v1.0.0"), "module c.example/c\nrequire b.example/b v1.0.0\n"),
            (("c.example/c", "v1.2.0"), "module c.example/c\n"),
            (("b.example/b", "v1.0.0"), "module b.example/b\nrequire c.example/c v1.0.0\n"),
        ]
        .into_iter()
        .collect();
        let mut w = GraphWalk::from_roots([("a.example/a".to_string(), "v1.0.0".to_string())]);
        let mut read = 0;
        while let Some((p, v)) = w.next_version() {
            w.read(mods[&(p.as_str(), v.as_str())].as_bytes());
            read += 1;
        }
        assert_eq!(read, 5, "every version met, once (a cycle through c and b included)");
        let list: Vec<_> = w.build_list().into_iter().map(|(p, v)| format!("{p}@{v}")).collect();
        // c v1.2.0 is the highest anywhere; the pruned graph (a loaded, b and c in it, b's own
        // requirements not) selects c v1.0.0: both are zipped.
        assert_eq!(list, ["a.example/a@v1.0.0", "b.example/b@v1.1.0", "c.example/c@v1.0.0", "c.example/c@v1.2.0"]);
        assert_eq!(w.versions().count(), 5);
    }

    #[test]
    fn go_mod_and_go_work_name_what_they_need() {
        let gomod = "module corp.example/app\n\ngo 1.22\n\nrequire (\n\trsc.io/quote v1.5.2\n\tgolang.org/x/text v0.3.0 // indirect\n)\n";
        assert_eq!(Kind::of(None, gomod), Kind::Mod);
        let n = needed(Kind::Mod, gomod).unwrap();
        assert_eq!(n.len(), 2);
        assert!(n.iter().all(|x| x.zip));
        let work = "go 1.22\n\nuse ./a\nuse (\n\t./b\n)\n\nreplace corp.example/x => corp.example/y v1.2.0\nreplace (\n\tcorp.example/z v1.0.0 => ../z\n\tcorp.example/w => corp.example/w2 v0.1.0 // pinned\n)\n";
        assert_eq!(Kind::of(None, work), Kind::Work);
        assert_eq!(Kind::of(Some("dir/go.work.sum"), work), Kind::Sum);
        let n = needed(Kind::Work, work).unwrap();
        let got: Vec<_> = n.iter().map(|x| (x.path.as_str(), x.version.as_str())).collect();
        assert_eq!(got, [("corp.example/w2", "v0.1.0"), ("corp.example/y", "v1.2.0")]);
        assert_eq!(Kind::of(None, SUM), Kind::Sum);
    }
}
