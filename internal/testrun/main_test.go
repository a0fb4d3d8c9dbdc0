package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `{"Action":"start","Package":"github.com/foliohealth/folio/fonts"}
{"Action":"run","Package":"github.com/foliohealth/folio/fonts","Test":"TestSubset"}
{"Action":"output","Package":"github.com/foliohealth/folio/fonts","Test":"TestSubset","Output":"=== RUN   TestSubset\n"}
{"Action":"output","Package":"github.com/foliohealth/folio/fonts","Test":"TestSubset","Output":"    subset_test.go:213: fc-query not installed\n"}
{"Action":"output","Package":"github.com/foliohealth/folio/fonts","Test":"TestSubset","Output":"--- SKIP: TestSubset (0.00s)\n"}
{"Action":"skip","Package":"github.com/foliohealth/folio/fonts","Test":"TestSubset","Elapsed":0}
{"Action":"run","Package":"github.com/foliohealth/folio/fonts","Test":"TestMetrics"}
{"Action":"pass","Package":"github.com/foliohealth/folio/fonts","Test":"TestMetrics","Elapsed":0.1}
{"Action":"run","Package":"github.com/foliohealth/folio/test/faults","Test":"TestSoak"}
{"Action":"output","Package":"github.com/foliohealth/folio/test/faults","Test":"TestSoak","Output":"    faults_test.go:22: soak: set FOLIO_SOAK=1\n"}
{"Action":"skip","Package":"github.com/foliohealth/folio/test/faults","Test":"TestSoak","Elapsed":0}
{"Action":"run","Package":"github.com/foliohealth/folio/test/faults","Test":"TestBroken"}
{"Action":"output","Package":"github.com/foliohealth/folio/test/faults","Test":"TestBroken","Output":"    faults_test.go:99: it broke\n"}
{"Action":"fail","Package":"github.com/foliohealth/folio/test/faults","Test":"TestBroken","Elapsed":0}
{"Action":"fail","Package":"github.com/foliohealth/folio/test/faults","Elapsed":1.5}
{"Action":"pass","Package":"github.com/foliohealth/folio/fonts","Elapsed":0.2}
`

func TestSummarize(t *testing.T) {
	var out strings.Builder
	res := summarize(strings.NewReader(sample), []rule{{"./test/faults", "TestSoak"}}, &out)
	if res.passed != 1 || res.failed != 1 || res.skipped != 2 || res.allowed != 1 {
		t.Fatalf("counts %+v", res)
	}
	if len(res.unexpected) != 1 || res.unexpected[0] != "./fonts TestSubset: subset_test.go:213: fc-query not installed" {
		t.Errorf("unexpected skips %q", res.unexpected)
	}
	if !strings.Contains(out.String(), "it broke") || !strings.Contains(out.String(), "FAIL\tgithub.com/foliohealth/folio/test/faults") {
		t.Errorf("output lacks the failure:\n%s", out.String())
	}
	var rep strings.Builder
	if code := res.report(&rep); code != 1 || !strings.HasSuffix(rep.String(), "1 passed, 1 failed, 2 skipped\n") {
		t.Errorf("report exit %d:\n%s", code, rep.String())
	}
	// Only allowed skips and passes: exit 0.
	res = summarize(strings.NewReader(sample), []rule{{"./test/faults", "TestSoak"}, {"./fonts", "TestSub*"}}, &out)
	res.failed, res.failedPkgs = 0, nil
	if code := res.report(&rep); code != 0 {
		t.Errorf("allowed skips: exit %d", code)
	}
}

func TestAllowListFormat(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "skips")
	os.WriteFile(f, []byte("# comment\n./test/faults TestSoak  # needs FOLIO_SOAK=1\n"), 0o644)
	rules, err := readAllowList(f)
	if err != nil || len(rules) != 1 || rules[0] != (rule{"./test/faults", "TestSoak"}) {
		t.Fatalf("%v, %v", rules, err)
	}
	os.WriteFile(f, []byte("./test/faults TestSoak\n"), 0o644)
	if _, err := readAllowList(f); err == nil {
		t.Errorf("an entry without a reason was accepted")
	}
	// The repository's own list parses.
	if _, err := readAllowList("../../.ci/allowed-skips"); err != nil {
		t.Errorf("the repository's allow-list: %v", err)
	}
}
