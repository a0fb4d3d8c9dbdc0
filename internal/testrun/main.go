// Command testrun runs the test suite the way CI does: "go test -json" with
// the arguments it is given, printed as go test would print it (the output
// of failing tests and one line per package), with every skipped test
// checked against the allow-list .ci/allowed-skips. A skip that is not on
// the list fails the run, because a test that skips in CI is a test that
// does not run: a missing tool must be installed by .ci/run instead. The
// run ends with one plain line, "N passed, N failed, N skipped", that CI
// can count.
//
//	go run ./internal/testrun -race -timeout 45m ./...
//
// Exit status: 0 when go test passed and no test skipped unexpectedly,
// 1 otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// allowListFile is the allow-list of skips, relative to the module root.
const allowListFile = ".ci/allowed-skips"

func main() {
	rules, err := readAllowList(allowListFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testrun:", err)
		os.Exit(1)
	}
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testrun:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testrun:", err)
		os.Exit(1)
	}
	res := summarize(stdout, rules, os.Stdout)
	goErr := cmd.Wait()
	code := res.report(os.Stdout)
	if goErr != nil && code == 0 {
		fmt.Fprintf(os.Stdout, "go test: %v\n", goErr)
		code = 1
	}
	os.Exit(code)
}

// rule is one allow-list entry: a package (module-relative, "./test/faults") and
// a test name pattern (path.Match syntax, "TestSoak" or "TestX/*").
type rule struct {
	pkg, test string
}

// readAllowList reads the allow-list: one "PACKAGE TEST  # why" per line;
// blank lines and lines starting with # are ignored. Every entry must say
// why.
func readAllowList(name string) ([]rule, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var rules []rule
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, _ := strings.Cut(line, "#")
		f := strings.Fields(entry)
		if len(f) != 2 || strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("%s:%d: want \"./package TestName  # why\"", name, i+1)
		}
		if _, err := path.Match(f[1], ""); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
		}
		rules = append(rules, rule{pkg: f[0], test: f[1]})
	}
	return rules, nil
}

// event is one line of "go test -json" (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type testKey struct{ pkg, test string }

type result struct {
	passed, failed, skipped int
	allowed                 int
	unexpected              []string // "pkg Test: reason"
	failedPkgs              []string
}

// report prints the unexpected skips and the closing count line and returns
// the exit status the run deserves (go test's own failure aside).
func (r *result) report(w io.Writer) int {
	code := 0
	if len(r.unexpected) > 0 {
		fmt.Fprintf(w, "\n%d test(s) skipped without an entry in %s (a skipped test is a test that did not run: install what it needs in .ci/run):\n", len(r.unexpected), allowListFile)
		for _, u := range r.unexpected {
			fmt.Fprintln(w, "  "+u)
		}
		code = 1
	}
	if r.failed > 0 || len(r.failedPkgs) > 0 {
		code = 1
	}
	if len(r.failedPkgs) > 0 {
		fmt.Fprintf(w, "\nfailed packages: %s\n", strings.Join(r.failedPkgs, " "))
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return code
}

// modulePrefix is removed from package paths to match the allow-list.
const modulePrefix = "github.com/foliohealth/folio"

func relPkg(p string) string {
	if p == modulePrefix {
		return "."
	}
	return "./" + strings.TrimPrefix(p, modulePrefix+"/")
}

// summarize reads go test -json events from r, prints what go test would
// (package lines, the output of failing and skipped tests, output that is
// not an event, such as build errors) to w, and counts tests.
func summarize(r io.Reader, rules []rule, w io.Writer) *result {
	res := &result{}
	outputs := map[testKey][]string{}
	pkgOut := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(w, string(line)) // build output and the like
			continue
		}
		k := testKey{e.Package, e.Test}
		switch e.Action {
		case "output", "build-output":
			if e.Test != "" {
				outputs[k] = append(outputs[k], e.Output)
			} else {
				pkgOut[e.Package] = append(pkgOut[e.Package], e.Output)
			}
		case "pass":
			if e.Test != "" {
				res.passed++
				delete(outputs, k)
			} else {
				fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
				delete(pkgOut, e.Package)
			}
		case "fail", "build-fail":
			if e.Test != "" {
				res.failed++
				fmt.Fprint(w, strings.Join(outputs[k], ""))
				delete(outputs, k)
			} else {
				fmt.Fprint(w, strings.Join(pkgOut[e.Package], ""))
				fmt.Fprintf(w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
				res.failedPkgs = append(res.failedPkgs, e.Package)
				delete(pkgOut, e.Package)
			}
		case "skip":
			if e.Test == "" {
				fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
				continue
			}
			res.skipped++
			reason := skipReason(outputs[k])
			delete(outputs, k)
			if allowedSkip(rules, relPkg(e.Package), e.Test) {
				res.allowed++
				continue
			}
			res.unexpected = append(res.unexpected, fmt.Sprintf("%s %s: %s", relPkg(e.Package), e.Test, reason))
		}
	}
	sort.Strings(res.unexpected)
	return res
}

// skipReason picks the skip message out of a test's output.
func skipReason(lines []string) string {
	var msgs []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msgs = append(msgs, t)
	}
	if len(msgs) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msgs, " / ")
}

func allowedSkip(rules []rule, pkg, test string) bool {
	for _, r := range rules {
		if r.pkg != pkg {
			continue
		}
		if ok, _ := path.Match(r.test, test); ok {
			return true
		}
	}
	return false
}
