//! Just enough of the go.mod grammar to read `require` directives (for prefetching): single-line
//! and block forms, quoted or bare paths, comments. Anything unparseable is skipped, never fatal.

/// The `(module path, version)` pairs a go.mod requires, in file order.
pub fn requires(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    // The verb of the block we are in, if any.
    let mut block: Option<String> = None;
    for raw in text.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(verb) = &block {
            if line == ")" {
                block = None;
                continue;
            }
            if verb == "require" {
                push(&mut out, &tokens(line));
            }
            continue;
        }
        let t = tokens(line);
        let Some(verb) = t.first() else { continue };
        if (t.len() >= 2 && t[1] == "(") || (line.ends_with('(') && t.len() == 1) {
            let v = verb.trim_end_matches('(').to_string();
            block = Some(v);
            continue;
        }
        if verb == "require" {
            push(&mut out, &t[1..]);
        }
    }
    out
}

/// The module path a go.mod declares (its `module` directive), if any.
pub fn module_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    for raw in text.lines() {
        let t = tokens(strip_comment(raw).trim());
        if t.len() >= 2 && t[0] == "module" {
            return Some(t[1].clone());
        }
    }
    None
}

fn push(out: &mut Vec<(String, String)>, t: &[String]) {
    if t.len() >= 2 {
        out.push((t[0].clone(), t[1].clone()));
    }
}

fn strip_comment(line: &str) -> &str {
    // `//` starts a comment outside quotes; go.mod strings never contain `//` in practice.
    let mut in_quote = false;
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => in_quote = !in_quote,
            b'\\' if in_quote => i += 1,
            b'/' if !in_quote && b.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            out.push(q[..end].replace("\\\"", "\""));
            rest = q.get(end + 1..).unwrap_or("").trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            out.push("(".into());
            rest = r.trim_start();
        } else {
            let end = rest.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(rest.len());
            let end = if end == 0 { 1 } else { end };
            out.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requires() {
        let gm = b"// leading comment\nmodule example.com/m\n\ngo 1.21\n\nrequire example.com/a v1.0.0\nrequire (\n\texample.com/b v1.2.0 // indirect\n\t\"example.com/c\" v0.0.0-20240101000000-abcdefabcdef\n\n)\nreplace (\n\texample.com/a => ../a\n)\nexclude example.com/d v1.0.0\nrequire(\n\texample.com/E v2.0.0+incompatible\n)\n";
        assert_eq!(
            requires(gm),
            vec![
                ("example.com/a".into(), "v1.0.0".into()),
                ("example.com/b".into(), "v1.2.0".into()),
                ("example.com/c".into(), "v0.0.0-20240101000000-abcdefabcdef".into()),
                ("example.com/E".into(), "v2.0.0+incompatible".into()),
            ]
        );
        assert_eq!(
            requires(b"module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n"),
            vec![("rsc.io/sampler".into(), "v1.3.0".into())]
        );
        assert!(requires(b"module x\n").is_empty());
        assert_eq!(module_path(b"// c\nmodule \"rsc.io/quote\"\n").as_deref(), Some("rsc.io/quote"));
        assert_eq!(module_path(b"module example.com/m // comment\ngo 1.21\n").as_deref(), Some("example.com/m"));
        assert_eq!(module_path(b"go 1.21\n"), None);
        assert!(requires(b"\xff\xfe garbage ((( ))) require").is_empty());
    }
}
