// Package hl7input maps HL7 v2 ORU^R01 result messages to folio reports
// (contract v1): a pure function from a parsed message to one validated
// report per ORDER_OBSERVATION group (OBR), with every refusal naming its
// HL7 location (PID^1^3) and the rule. docs/hl7v2.md is its field table.
package hl7input

import (
	"errors"
	"fmt"
	"strings"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/report"
)

// WithdrawReason says why a report with result status X or W is withdrawn
// (the reason its entered-in-error document carries); "" for any other
// status.
func WithdrawReason(resultStatus string) string {
	switch resultStatus {
	case "X":
		return "HL7 v2 result status X: cancelled by the sender"
	case "W":
		return "HL7 v2 result status W: wrong patient, entered in error by the sender"
	}
	return ""
}

// Mapped is one report a message maps to.
type Mapped struct {
	// Report is the validated report. Its Version is 1: HL7 v2 has no
	// document version, so the pipeline derives it (same content, same
	// version; changed content, the next one).
	Report *report.Report
	// ResultStatus is the HL7 result status the report's status came from
	// (OBR-25, or OBX-11 when OBR-25 is empty).
	ResultStatus string
	// Withdraw is set for result status X (cancelled) or W (wrong patient,
	// entered in error): the report's current document is to be marked
	// entered-in-error. Report then carries the identifying fields only and
	// is not a renderable report.
	Withdraw bool
	// PDF is the sender's own rendering (an OBX of type ED holding
	// application/pdf), stored as this report's PDF exactly as sent instead
	// of one folio renders. Nil when the message carries none.
	PDF []byte
	// Warnings are things a person should know (a field left out, a PDF
	// not rendered by folio); no patient data.
	Warnings []string
	// OBR is the location of the report's OBR segment.
	OBR hl7.Location
}

// Errors is every problem of a refused message (at most maxErrors), each
// with its HL7 location and table 0357 code. Every error Map returns is an
// Errors.
type Errors []*hl7.Error

const maxErrors = 20

// Error returns one problem per line.
func (e Errors) Error() string {
	var b strings.Builder
	for i, x := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	return b.String()
}

// Parse parses data with hl7.Parse and maps it with Map; a parse error is
// returned as an Errors too.
func Parse(data []byte, site Site) (*hl7.Message, []Mapped, error) {
	m, err := hl7.Parse(data)
	if err != nil {
		var he *hl7.Error
		if errors.As(err, &he) {
			return nil, nil, Errors{he}
		}
		return nil, nil, Errors{{Code: hl7.CodeApplicationInternal, Text: err.Error()}}
	}
	out, err := Map(m, site)
	return m, out, err
}

// IsRejection reports whether a refusal is about the message as a whole
// (not HL7, an unsupported version or message type: acknowledged AR) rather
// than its content (acknowledged AE).
func IsRejection(err error) bool {
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		return false
	}
	switch es[0].Code {
	case hl7.CodeUnsupportedMessageType, hl7.CodeUnsupportedEvent, hl7.CodeUnsupportedProcessing, hl7.CodeUnsupportedVersion:
		return true
	}
	return es[0].Loc.Segment == "" || es[0].Loc.Segment == "MSH" && es[0].Loc.Field <= 2
}

// Map maps an ORU^R01 message to one report per OBR. It refuses other
// message types (code 200) and any message with a problem in any of its
// reports: a message is taken whole or not at all. Map is pure: it reads
// nothing but its arguments and is safe for concurrent use.
func Map(m *hl7.Message, site Site) ([]Mapped, error) {
	code, event, _ := m.Type()
	if code != "ORU" {
		return nil, Errors{{Loc: m.MSH().Loc(9), Code: hl7.CodeUnsupportedMessageType, Text: fmt.Sprintf("message type %s^%s is not taken: folio takes ORU^R01 result messages", code, event)}}
	}
	if event != "R01" {
		return nil, Errors{{Loc: m.MSH().Loc(9), Code: hl7.CodeUnsupportedEvent, Text: fmt.Sprintf("trigger event ORU^%s is not taken: folio takes ORU^R01 result messages", event)}}
	}
	zone, err := site.zone()
	if err != nil {
		return nil, Errors{{Loc: m.MSH().Loc(7), Code: hl7.CodeApplicationInternal, Text: "the site's time zone: " + err.Error()}}
	}
	mp := &mapper{m: m, site: site, zone: zone}
	groups := mp.groups()
	if len(mp.errs) > 0 {
		return nil, mp.errs
	}
	if len(groups) == 0 {
		return nil, Errors{{Loc: hl7.Location{Segment: "OBR", Seq: 1}, Code: hl7.CodeRequiredMissing, Text: "the message has no OBR segment: nothing to report"}}
	}
	var out []Mapped
	ids := map[string]hl7.Location{}
	for _, g := range groups {
		r := mp.report(g)
		if r == nil {
			continue
		}
		if prev, dup := ids[r.Report.ID]; dup {
			mp.fail(g.obr.Loc(3), hl7.CodeDataType, "report id %s is the same as that of %s; each OBR must carry its own filler order number", r.Report.ID, prev)
			continue
		}
		ids[r.Report.ID] = g.obr.Loc(0)
		out = append(out, *r)
	}
	if len(mp.errs) > 0 {
		return nil, mp.errs
	}
	return out, nil
}

// validate checks the report against the contract with report.Check, the
// contract decoder's own rules run over the report as its JSON encoding
// would parse, so that a mapped report is exactly as strict as a JSON one;
// a broken rule is reported at the OBR with the contract's field path.
func (mp *mapper) validate(g *group, r *report.Report) *report.Report {
	v, err := report.Check(r, report.DefaultLimits())
	if err != nil {
		var fe report.Errors
		if errors.As(err, &fe) {
			for _, e := range fe {
				mp.fail(mp.pathLoc(g, e.Path), hl7.CodeDataType, "the report this OBR maps to breaks the report contract at %s: %s", e.Path, e.Rule)
			}
			return nil
		}
		mp.fail(g.obr.Loc(0), hl7.CodeApplicationInternal, "%v", err)
		return nil
	}
	return v
}

// pathLoc returns the HL7 location a report field path came from, as far
// as the mapping knows it (the OBR otherwise).
func (mp *mapper) pathLoc(g *group, path string) hl7.Location {
	best, loc := -1, g.obr.Loc(0)
	for _, o := range g.origins {
		prefix, l := o.path(), o.loc
		if (path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")) && len(prefix) > best {
			best, loc = len(prefix), l
		}
	}
	return loc
}

// Sniff reports whether data looks like HL7 v2 (ER7): it starts, after
// white space and MLLP start bytes, with an MSH, FHS or BHS segment.
func Sniff(data []byte) bool {
	data = folio.TrimBOM(data)
	i := 0
	for i < len(data) && i < 64 && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n' || data[i] == 0x0b) {
		i++
	}
	if len(data)-i < 4 {
		return false
	}
	h := string(data[i : i+3])
	c := data[i+3]
	return (h == "MSH" || h == "FHS" || h == "BHS") && !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')
}

// Source names where in message m a mapped report came from, as folio
// convert prints it and as a job's "source" picks it: "MSH-10 <control id>
// OBR^n" (the OBR location alone when MSH-10 is empty).
func Source(m *hl7.Message, mp Mapped) string {
	if id := m.ControlID(); id != "" {
		return "MSH-10 " + id + " " + mp.OBR.String()
	}
	return mp.OBR.String()
}
