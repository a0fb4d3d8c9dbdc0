package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/queue"
)

// fieldError is one problem of a failed job: where (a field path such as
// report.patient.birthDate, an HL7 location or a FHIR path) and what.
type fieldError struct{ Path, Rule string }

// jobView is a job status as the pages show it.
type jobView struct {
	ID, Status, Reason, Kind, Report, RecordID string
	Errors                                     []fieldError
	Warnings                                   []string
	Binaries                                   []queue.BinaryRef
	Submitted, Updated                         time.Time
	Deliveries                                 int
	// Profile and ProfileDigest: the site profile the job rendered with.
	Profile, ProfileDigest string
	// Converted: the input was not report JSON (FHIR, HL7 v2); ReportJSON
	// is then the report folio made of it, or ReportJSONNote says why not.
	Converted                  bool
	ReportJSON, ReportJSONNote string
}

func viewJob(st *queue.JobStatus) jobView {
	v := jobView{
		ID: st.JobID, Status: st.Status, Reason: st.Reason, Kind: inputKind(st),
		Report: st.ReportVersion(), RecordID: st.RecordID, Warnings: st.Warnings,
		Binaries: st.Binaries, Submitted: st.Submitted, Updated: st.Updated, Deliveries: st.Deliveries,
		Profile: st.Profile, ProfileDigest: st.ProfileDigest,
	}
	if st.Identifier != "" && v.Report != "" {
		v.Report = st.Identifier + " (" + v.Report + ")" // the identifier as sent, then its record
	}
	v.Errors = splitErrors(st.Error)
	return v
}

// inputKind names what was submitted: report JSON unless the status says
// otherwise (a status written before workers recorded the kind, or a job
// still queued, has none).
func inputKind(st *queue.JobStatus) string {
	switch st.Input {
	case "fhir":
		return "FHIR R4"
	case "hl7":
		return "HL7 v2"
	}
	return "report JSON"
}

// splitErrors splits a job's error into its lines, each into the location
// it names and the rule ("report.status: ..." -> report.status, ...). A
// line that names no location keeps an empty Path.
func splitErrors(s string) []fieldError {
	var out []fieldError
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		path, rule, ok := strings.Cut(l, ": ")
		if !ok || path == "" || strings.ContainsAny(path, " \t\"") {
			out = append(out, fieldError{Rule: l})
			continue
		}
		out = append(out, fieldError{Path: path, Rule: rule})
	}
	return out
}

// jobs is the list of recent jobs, newest first, optionally failed only.
func (c *Console) jobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pageSize := c.cfg.PageSize
	jq := queue.JobQuery{Failed: q.Get("failed") == "1", Limit: pageSize}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			c.fail(w, http.StatusBadRequest, "jobs", "before: not a position")
			return
		}
		jq.Before = n
	}
	p, err := c.cfg.Queue.ListJobs(r.Context(), jq)
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "jobs", "job statuses cannot be read now: "+err.Error())
		return
	}
	data := struct {
		Jobs          []jobView
		Failed        bool
		First         bool
		Next          string
		Scanned       int
		ScannedTo     time.Time
		CutShort      bool
		AllURL        string
		FailedURL     string
		FirstPageURL  string
		PageSize      int
		ShowingFailed string
	}{Failed: jq.Failed, First: jq.Before == 0, Scanned: p.Scanned, ScannedTo: p.ScannedTo, PageSize: pageSize}
	for _, st := range p.Jobs {
		data.Jobs = append(data.Jobs, viewJob(st))
	}
	if p.Next != 0 {
		v := url.Values{"before": {strconv.FormatUint(p.Next, 10)}}
		if jq.Failed {
			v.Set("failed", "1")
		}
		data.Next = Prefix + "/jobs?" + v.Encode()
		data.CutShort = len(p.Jobs) < pageSize
	}
	data.AllURL = Prefix + "/jobs"
	data.FailedURL = Prefix + "/jobs?failed=1"
	data.FirstPageURL = data.AllURL
	if jq.Failed {
		data.FirstPageURL = data.FailedURL
	}
	title := "Jobs"
	if jq.Failed {
		title = "Failed jobs"
	}
	c.render(w, http.StatusOK, "jobs", title, data)
}

// job is one job's page: status, error lines with their field paths,
// warnings, Binaries, and the report JSON made of an HL7 or FHIR input.
func (c *Console) job(w http.ResponseWriter, r *http.Request) {
	st, err := c.cfg.Queue.Status(r.Context(), r.PathValue("id"))
	if errors.Is(err, folio.ErrNotFound) {
		c.fail(w, http.StatusNotFound, "jobs", "No job with this id (job statuses are kept 7 days).")
		return
	}
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "jobs", "job status cannot be read now: "+err.Error())
		return
	}
	v := viewJob(st)
	if v.Converted = st.Input != "" && st.Input != "report"; v.Converted {
		v.ReportJSON, v.ReportJSONNote = c.reportJSON(r.Context(), st)
	}
	c.render(w, http.StatusOK, "job", "Job "+st.JobID, v)
}

// maxReportJSON bounds the report JSON shown on a job page.
const maxReportJSON = 1 << 20

// reportJSON returns the report v1 JSON that folio made of a converted
// input (indented), or why there is none to show.
func (c *Console) reportJSON(ctx context.Context, st *queue.JobStatus) (string, string) {
	if st.RecordID == "" {
		return "", "None: the input was not converted into a stored report (see the error)."
	}
	rec, err := c.cfg.Store.Record(ctx, st.RecordID)
	if err != nil {
		return "", "The report's record cannot be read now."
	}
	_, rc, err := c.cfg.Store.OpenBinary(ctx, folio.BinaryID(rec.ReportID, rec.Version, folio.OutputReportJSON))
	if errors.Is(err, folio.ErrNotFound) {
		return "", "Not kept: this report was rendered before folio kept the report JSON of converted inputs."
	}
	if err != nil {
		return "", "The report JSON cannot be read now."
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxReportJSON+1))
	if err != nil {
		return "", "The report JSON cannot be read now."
	}
	if len(raw) > maxReportJSON {
		return "", fmt.Sprintf("Larger than %d bytes: not shown here.", maxReportJSON)
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw), ""
	}
	return buf.String(), ""
}
