package pdf

import (
	"os"
	"testing"
)

func TestDbgWrite(t *testing.T) {
	data, err := Paint(append(reportPages(2), scriptPage()), testInfo)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/pdfa-dbg.pdf", data, 0o644)
}
