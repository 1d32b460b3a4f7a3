// Command oracle answers questions about Go module rules with golang.org/x/mod, for the
// differential harness in crates/gomod-diff. One request per line on stdin:
//
//	op <TAB> hex(arg1) <TAB> hex(arg2) ...
//
// and one answer per line on stdout: hex(answer). The Rust driver builds the same answer
// text from gomod and compares them. Answers say "ok ..." or "err" (error text is not
// compared: only whether there was one, and every value).
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"go/version"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"modgate.invalid/gomodoracle/fold"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	scratch, err := os.MkdirTemp("", "gomod-oracle-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(scratch)
	for {
		line, err := in.ReadString('\n')
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		args := make([]string, len(fields)-1)
		for i, f := range fields[1:] {
			b, err := hex.DecodeString(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bad hex:", err)
				os.Exit(1)
			}
			args[i] = string(b)
		}
		ans := answer(fields[0], args, scratch)
		out.WriteString(hex.EncodeToString([]byte(ans)))
		out.WriteByte('\n')
		if in.Buffered() == 0 {
			out.Flush()
		}
	}
}

func okErr(err error) string {
	if err != nil {
		return "err"
	}
	return "ok"
}

func valErr(v string, err error) string {
	if err != nil {
		return "err"
	}
	return "ok " + v
}

func b(x bool) string {
	if x {
		return "true"
	}
	return "false"
}

func answer(op string, a []string, scratch string) string {
	switch op {
	case "semver":
		v := a[0]
		return strings.Join([]string{b(semver.IsValid(v)), semver.Canonical(v), semver.Major(v),
			semver.MajorMinor(v), semver.Prerelease(v), semver.Build(v)}, "\n")
	case "semver.cmp":
		return fmt.Sprint(semver.Compare(a[0], a[1]))
	case "semver.sort":
		l := append([]string(nil), a...)
		semver.Sort(l)
		return strings.Join(l, "\n")
	case "path":
		p := a[0]
		prefix, major, ok := module.SplitPathVersion(p)
		esc, escErr := module.EscapePath(p)
		unesc, unescErr := module.UnescapePath(p)
		escv, escvErr := module.EscapeVersion(p)
		unescv, unescvErr := module.UnescapeVersion(p)
		return strings.Join([]string{okErr(module.CheckPath(p)), okErr(module.CheckImportPath(p)),
			okErr(module.CheckFilePath(p)), prefix, major, b(ok), valErr(esc, escErr), valErr(unesc, unescErr),
			valErr(escv, escvErr), valErr(unescv, unescvErr)}, "\n")
	case "pathmajor":
		return okErr(module.CheckPathMajor(a[0], a[1])) + " " + b(module.MatchPathMajor(a[0], a[1]))
	case "check":
		return okErr(module.Check(a[0], a[1])) + " " + module.CanonicalVersion(a[1])
	case "glob":
		return b(module.MatchPrefixPatterns(a[0], a[1]))
	case "pseudo":
		v := a[0]
		base, baseErr := module.PseudoVersionBase(v)
		rev, revErr := module.PseudoVersionRev(v)
		t, tErr := module.PseudoVersionTime(v)
		ts := ""
		if tErr == nil {
			ts = t.UTC().Format("20060102150405")
		}
		return strings.Join([]string{b(module.IsPseudoVersion(v)), b(module.IsZeroPseudoVersion(v)),
			valErr(base, baseErr), valErr(rev, revErr), valErr(ts, tErr)}, "\n")
	case "pseudo.make":
		t, err := time.Parse("20060102150405", a[2])
		if err != nil {
			return "badtime"
		}
		return module.PseudoVersion(a[0], a[1], t, a[3])
	case "modfile":
		return modfileAnswer([]byte(a[0]))
	case "rune":
		return runeAnswer(a[0])
	case "hash1":
		return hash1Answer(a)
	case "zip":
		return zipAnswer(a[0], a[1], []byte(a[2]), scratch)
	case "files":
		return filesAnswer(a)
	case "dir":
		return dirAnswer(a[0], a[1], a[2], scratch)
	}
	fmt.Fprintln(os.Stderr, "unknown op", op)
	os.Exit(1)
	return ""
}

// modfileAnswer: ModulePath, then ParseLax's module, go version (and its language version
// as the zip rules see it), requirements and retractions.
func modfileAnswer(data []byte) string {
	parts := []string{"modpath " + modfile.ModulePath(data)}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return strings.Join(append(parts, "lax err"), "\n")
	}
	parts = append(parts, "lax ok")
	if f.Module != nil {
		parts = append(parts, "module "+f.Module.Mod.Path, "deprecated "+f.Module.Deprecated)
	}
	if f.Go != nil {
		parts = append(parts, "go "+f.Go.Version, "lang "+version.Lang("go"+f.Go.Version))
	}
	for _, r := range f.Require {
		parts = append(parts, fmt.Sprintf("require %s %s %v", r.Mod.Path, r.Mod.Version, r.Indirect))
	}
	for _, r := range f.Retract {
		parts = append(parts, fmt.Sprintf("retract %s %s %s", r.Low, r.High, r.Rationale))
	}
	for _, r := range f.Ignore {
		parts = append(parts, "ignore "+r.Path)
	}
	return strings.Join(parts, "\n")
}

// runeAnswer: the Unicode facts gomod keeps in tables of its own, for one rune.
func runeAnswer(s string) string {
	r := []rune(s)[0]
	return fmt.Sprintf("%v %v %v %d", unicode.IsLetter(r), unicode.IsPrint(r), unicode.IsSpace(r), fold.Rune(r))
}

func hash1Answer(a []string) string {
	names := []string{}
	data := map[string]string{}
	for i := 0; i+1 < len(a); i += 2 {
		names = append(names, a[i])
		data[a[i]] = a[i+1]
	}
	h, err := dirhash.Hash1(names, func(n string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(data[n])), nil
	})
	return valErr(h, err)
}

// zipAnswer checks a zip as the go command does before using it: CheckZip, the h1: of
// HashZip, and every entry read to its end (sizes and CRCs).
func zipAnswer(mod, vers string, data []byte, scratch string) string {
	p := filepath.Join(scratch, "z.zip")
	if err := os.WriteFile(p, data, 0o666); err != nil {
		panic(err)
	}
	m := module.Version{Path: mod, Version: vers}
	if _, err := modzip.CheckZip(m, p); err != nil {
		return "err"
	}
	h, err := dirhash.HashZip(p, dirhash.Hash1)
	if err != nil {
		return "err"
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "err"
	}
	files := 0
	var goMod []byte
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // Unzip makes directories without reading them; HashZip read them above.
		}
		rc, err := f.Open()
		if err != nil {
			return "err"
		}
		body, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		rc.Close()
		if err != nil || uint64(len(body)) != f.UncompressedSize64 {
			return "err"
		}
		if !strings.HasSuffix(f.Name, "/") {
			files++
		}
		if f.Name == mod+"@"+vers+"/go.mod" {
			goMod = body
		}
	}
	return fmt.Sprintf("ok %s %d %x", h, files, goMod)
}

type fakeFile struct {
	path string
	mode fs.FileMode
	data []byte
	size int64
}

func (f fakeFile) Path() string                 { return f.path }
func (f fakeFile) Lstat() (os.FileInfo, error)  { return fakeInfo{f}, nil }
func (f fakeFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type fakeInfo struct{ f fakeFile }

func (fi fakeInfo) Name() string       { return path.Base(fi.f.path) }
func (fi fakeInfo) Size() int64        { return fi.f.size }
func (fi fakeInfo) Mode() os.FileMode  { return fi.f.mode }
func (fi fakeInfo) ModTime() time.Time { return time.Time{} }
func (fi fakeInfo) IsDir() bool        { return fi.f.mode.IsDir() }
func (fi fakeInfo) Sys() any           { return nil }

// filesAnswer plans a zip from a list of files (zip.CheckFiles). Each argument is
// kind NUL size NUL path NUL content, kind one of f (regular), l (symlink), o (other).
func filesAnswer(a []string) string {
	var files []modzip.File
	for _, e := range a {
		parts := strings.SplitN(e, "\x00", 4)
		var size int64
		fmt.Sscan(parts[1], &size)
		mode := fs.FileMode(0o644)
		switch parts[0] {
		case "l":
			mode |= fs.ModeSymlink
		case "o":
			mode |= fs.ModeNamedPipe
		}
		files = append(files, fakeFile{path: parts[2], mode: mode, size: size, data: []byte(parts[3])})
	}
	cf, err := modzip.CheckFiles(files)
	if err != nil {
		return "err"
	}
	var om []string
	for _, o := range cf.Omitted {
		om = append(om, o.Path+" "+omission(o.Err))
	}
	return "ok\n" + strings.Join(cf.Valid, "\n") + "\n--\n" + strings.Join(om, "\n")
}

func omission(err error) string {
	switch err.Error() {
	case "file is in vendor directory":
		return "vendored"
	case "file is in another module":
		return "submodule"
	case "file is inserted by 'hg archive' and is always omitted":
		return "hg"
	case "file is a symbolic link":
		return "symlink"
	case "not a regular file":
		return "notregular"
	}
	return "other: " + err.Error()
}

// dirAnswer zips a real directory with CreateFromDir and answers the h1: of the result.
func dirAnswer(mod, vers, dir, scratch string) string {
	var buf bytes.Buffer
	if err := modzip.CreateFromDir(&buf, module.Version{Path: mod, Version: vers}, dir); err != nil {
		return "err"
	}
	p := filepath.Join(scratch, "d.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o666); err != nil {
		panic(err)
	}
	h, err := dirhash.HashZip(p, dirhash.Hash1)
	return valErr(h, err)
}
