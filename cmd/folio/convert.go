package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/report"
)

// runConvert implements "folio convert": print the report v1 JSON each
// input maps to, one line per report, so that an integration engineer sees
// what folio makes of an input before anything is rendered or stored.
// Warnings (and withdrawn reports, which have no report to print) go to
// stderr as "FILE: warning: ...".
func runConvert(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sitePath := addSiteFlag(fs)
	paths, code, ok := parseInputs(fs, args, stderr, "usage: folio convert [--hl7-site FILE] FILE|DIR...")
	if !ok {
		return code
	}
	files, err := expandInputs(paths)
	if err != nil {
		fmt.Fprintln(stderr, "folio convert:", err)
		return exitUsage
	}
	site, err := loadSite(*sitePath)
	if err != nil {
		fmt.Fprintln(stderr, "folio convert: --hl7-site:", err)
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	code = exitOK
	lim := report.DefaultLimits()
	for _, f := range files {
		data, err := readLimited(f, int64(lim.MaxBytes))
		var docs []input.Doc
		if err == nil {
			docs, err = input.Map(kindOf(f, data), data, input.Options{Limits: lim, HL7: site})
		}
		if err != nil {
			for _, l := range failLine(renderLine{}, err).errLines {
				fmt.Fprintf(stderr, "%s: %s\n", f, l)
			}
			code = exitFailed
			continue
		}
		for _, d := range docs {
			where := f
			if d.Source != "" {
				where += ": " + d.Source
			}
			for _, w := range d.Warnings {
				fmt.Fprintf(stderr, "%s: warning: %s\n", where, w)
			}
			if d.Withdrawn {
				fmt.Fprintf(stderr, "%s: warning: report %s withdrawn by its sender (status cancelled or entered-in-error): no report to print\n", where, d.Report.ID)
				continue
			}
			if d.PDF != nil {
				fmt.Fprintf(stderr, "%s: warning: report %s: the sender's PDF (%d bytes) is its PDF; the JSON below is what folio read\n", where, d.Report.ID, len(d.PDF))
			}
			enc.Encode(d.Report)
		}
	}
	return code
}
