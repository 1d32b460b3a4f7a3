#!/usr/bin/env python3
"""The shape rules of crates/modgate/src, checked on every test run.

- no source file over 500 lines (in any crate's src/; generated tables marked DO NOT EDIT aside);
- no function over 80 lines outside test modules, in product code (crates/modgate, crates/gomod;
  crates/testkit is test infrastructure);
- no import cycle among the files of crates/modgate/src (a file names another through
  `crate::...` or `super::...` paths; `mod` declarations are not arrows).

`--report` prints the numbers (files, largest file, longest functions, arrows) as well.
Exit status 1 when a rule is broken.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FILE = 500
MAX_FN = 80

FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(\w+)")
TEST_MOD_RE = re.compile(r"^\s*#\[cfg\(test\)\]")


def strip_line(line, state):
    """The code of one line with strings, chars and comments blanked; `state` carries block
    comments and multi-line strings across lines."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if state["block"]:
            j = line.find("*/", i)
            if j < 0:
                return "".join(out)
            state["block"] = False
            i = j + 2
            continue
        if state["string"]:
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if state["raw"] is not None:
                end = '"' + "#" * state["raw"]
                if line.startswith(end, i):
                    state["string"] = False
                    state["raw"] = None
                    i += len(end)
                    continue
                i += 1
                continue
            if c == '"':
                state["string"] = False
            i += 1
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        m = re.match(r'(?:b)?r(#*)"', line[i:])
        if m and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            state["string"] = True
            state["raw"] = len(m.group(1))
            i += len(m.group(0))
            continue
        if c == '"':
            state["string"] = True
            state["raw"] = None
            i += 1
            continue
        if c == "'":
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", line[i:])
            if m:
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def code_lines(text):
    state = {"block": False, "string": False, "raw": None}
    return [strip_line(l, state) for l in text.split("\n")]


def functions(path):
    """(name, first line, length) of each function outside `#[cfg(test)]` items."""
    lines = code_lines(open(path, encoding="utf-8").read())
    found = []
    skip_until_depth = None
    depth = 0
    pending_test = False
    open_fns = []  # (name, start line, depth at which its body opened)
    fn_waiting = None
    for no, code in enumerate(lines, 1):
        if skip_until_depth is None and TEST_MOD_RE.match(code):
            pending_test = True
        m = FN_RE.match(code)
        if m and skip_until_depth is None and not pending_test:
            fn_waiting = (m.group(1), no)
        for ch in code:
            if ch == "{":
                depth += 1
                if pending_test and skip_until_depth is None:
                    skip_until_depth = depth - 1
                    pending_test = False
                elif fn_waiting is not None:
                    open_fns.append((fn_waiting[0], fn_waiting[1], depth))
                    fn_waiting = None
            elif ch == "}":
                if open_fns and open_fns[-1][2] == depth:
                    name, start, _ = open_fns.pop()
                    found.append((name, start, no - start + 1))
                depth -= 1
                if skip_until_depth is not None and depth == skip_until_depth:
                    skip_until_depth = None
            elif ch == ";":
                if fn_waiting is not None:  # a declaration without a body (trait method)
                    fn_waiting = None
                if pending_test and skip_until_depth is None:
                    pending_test = False  # `#[cfg(test)] use ...;` or `mod tests;`
    return found


def module_files(src):
    """Module path (tuple) -> file, for a crate's src/ (lib.rs is the crate root)."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if rel and rel[0] == "bin":
                continue
            mods[tuple(rel)] = full
    return mods


PATH_RE = re.compile(r"\b(crate|super)((?:::\w+)+|::\{)")
USE_RE = re.compile(r"\buse\s+(crate|super)::([^;]*);", re.S)


def arrows(src):
    mods = module_files(src)
    edges = {m: set() for m in mods}
    for mod, path in mods.items():
        text = "\n".join(code_lines(open(path, encoding="utf-8").read()))
        # Test modules do not count.
        cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{", text)
        if cut:
            text = text[: cut.start()]
        def resolve(head, segs):
            # `super` of a module (a mod.rs or a plain file alike) is its parent module.
            base = () if head == "crate" else mod[:-1]
            full = tuple(base) + tuple(segs)
            for k in range(len(full), 0, -1):
                if full[:k] in mods:
                    return full[:k]
            return None

        targets = []
        for m in USE_RE.finditer(text):
            head, body = m.group(1), re.sub(r"\s+", "", m.group(2))
            for item in expand_use(body):
                segs = [s for s in item.split("::") if s and s not in ("self", "*")]
                targets.append((head, segs))
        for m in PATH_RE.finditer(text):
            segs = [s for s in m.group(2).split("::") if s and s != "{"]
            targets.append((m.group(1), segs))
        for head, segs in targets:
            t = resolve(head, segs)
            if t is not None and t != mod and t != ():
                edges[mod].add(t)
    return mods, edges


def expand_use(body):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    i = body.find("{")
    if i < 0:
        return [re.sub(r"\bas\w+$", "", body.split(" as ")[0])]
    prefix = body[:i]
    inner = body[i + 1 : body.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in expand_use(p):
            out.append(prefix + e if e not in ("self", "") else prefix.rstrip(":"))
    return out


def cycles(edges):
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return comps


def main():
    report = "--report" in sys.argv
    problems = []
    all_files = []
    for crate in sorted(os.listdir(os.path.join(ROOT, "crates"))):
        src = os.path.join(ROOT, "crates", crate, "src")
        for dirpath, _, files in os.walk(src):
            for f in sorted(files):
                if f.endswith(".rs"):
                    all_files.append(os.path.join(dirpath, f))
    longest = []
    for path in all_files:
        rel = os.path.relpath(path, ROOT)
        text = open(path, encoding="utf-8").read()
        n = text.count("\n")
        # Generated tables (first line says "DO NOT EDIT") are data, not code to read.
        generated = "DO NOT EDIT" in text.split("\n", 1)[0]
        if n > MAX_FILE and not generated:
            problems.append(f"{rel}: {n} lines (at most {MAX_FILE})")
        is_test_file = os.path.basename(path) == "tests.rs" or f"{os.sep}tests{os.sep}" in path
        if is_test_file or f"crates{os.sep}testkit{os.sep}" in path:
            continue
        for name, start, length in functions(path):
            longest.append((length, f"{rel}:{start} {name}"))
            if length > MAX_FN:
                problems.append(f"{rel}:{start}: fn {name} is {length} lines (at most {MAX_FN})")
    src = os.path.join(ROOT, "crates", "modgate", "src")
    mods, edges = arrows(src)
    for comp in cycles(edges):
        names = sorted("::".join(c) or "crate" for c in comp)
        problems.append("import cycle among crates/modgate/src modules: " + ", ".join(names))
    if report:
        sizes = sorted(
            ((open(p, encoding="utf-8").read().count("\n"), os.path.relpath(p, ROOT)) for p in mods.values()),
            reverse=True,
        )
        print(f"crates/modgate/src: {len(mods)} files, {sum(len(e) for e in edges.values())} arrows")
        print("largest files: " + ", ".join(f"{r} ({n})" for n, r in sizes[:5]))
        longest.sort(reverse=True)
        print("longest functions: " + ", ".join(f"{w} ({n})" for n, w in longest[:5]))
        print(f"cycles: {len(cycles(edges))}")
    for p in problems:
        print("shape: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
