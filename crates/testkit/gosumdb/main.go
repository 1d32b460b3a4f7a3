// testkit-sumdb: an independent checksum database for modgate's tests, built on the code the
// public database runs on (golang.org/x/mod/sumdb: NewServer, NewTestServer, tlog, note).
//
// It logs the go.sum lines of a file (-sums, lines "module version h1:..." and
// "module version/go.mod h1:...") as they are looked up, signs tree heads with the key given
// (-key, a note signer key; -genkey NAME prints a new pair and exits), and serves the
// protocol on loopback. It prints "listening ADDR" once ready.
//
// Test helpers, outside the protocol:
//   - GET /-/requests: every request path served so far, one per line;
//   - -corrupt-tiles: flips one bit in every hash tile it serves (proofs fail);
//   - -preload: logs every record of the file at start, in file order;
//   - -latency D: waits D before answering each request (benchmarks).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	key := flag.String("key", "", "note signer key (PRIVATE+KEY+name+hash+data)")
	genkey := flag.String("genkey", "", "print a new signer and verifier key for this name, and exit")
	sumsFile := flag.String("sums", "", "go.sum lines to serve")
	corrupt := flag.Bool("corrupt-tiles", false, "flip a bit in every hash tile served")
	preload := flag.Bool("preload", false, "log every record of -sums at start")
	latency := flag.Duration("latency", 0, "wait this long before answering each request")
	flag.Parse()

	if *genkey != "" {
		skey, vkey, err := note.GenerateKey(rand.Reader, *genkey)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
		return
	}
	sums, order, err := readSums(*sumsFile)
	if err != nil {
		log.Fatal(err)
	}
	ops := sumdb.NewTestServer(*key, func(path, vers string) ([]byte, error) {
		lines, ok := sums[path+" "+vers]
		if !ok {
			// os.IsNotExist (which the server's 404 uses) sees through a PathError only.
			return nil, &fs.PathError{Op: "lookup", Path: path + "@" + vers, Err: fs.ErrNotExist}
		}
		return []byte(lines), nil
	})
	if *preload {
		for _, mv := range order {
			path, vers, _ := strings.Cut(mv, " ")
			if _, err := ops.Lookup(context.Background(), module.Version{Path: path, Version: vers}); err != nil {
				log.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	var seen []string
	db := sumdb.NewServer(ops)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/requests" {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range seen {
				fmt.Fprintln(w, p)
			}
			return
		}
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		time.Sleep(*latency)
		if *corrupt && strings.HasPrefix(r.URL.Path, "/tile/") && !strings.Contains(r.URL.Path, "/data/") {
			rec := &flipper{ResponseWriter: w}
			db.ServeHTTP(rec, r)
			return
		}
		db.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, handler))
}

// flipper flips the lowest bit of the first byte of a body.
type flipper struct {
	http.ResponseWriter
	done bool
}

func (f *flipper) Write(b []byte) (int, error) {
	if !f.done && len(b) > 0 {
		c := append([]byte(nil), b...)
		c[0] ^= 1
		f.done = true
		return f.ResponseWriter.Write(c)
	}
	return f.ResponseWriter.Write(b)
}

// readSums groups go.sum lines by "module version", keeping the file's order.
func readSums(file string) (map[string]string, []string, error) {
	sums := map[string]string{}
	var order []string
	if file == "" {
		return sums, order, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		key := fields[0] + " " + strings.TrimSuffix(fields[1], "/go.mod")
		if _, ok := sums[key]; !ok {
			order = append(order, key)
		}
		sums[key] += fields[0] + " " + fields[1] + " " + fields[2] + "\n"
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(sums) == 0 && file != "" {
		return nil, nil, errors.New("no go.sum lines in " + file)
	}
	return sums, order, nil
}
