package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
)

// Engine is the Renderer over folio's render engine: it decodes the job's
// report with report.Decode (a refusal is a permanent failure), lays it out
// once and paints each requested output from that layout. Rendering is pure
// and deterministic, so an error from it (or a panic) is permanent too:
// retrying the same input cannot succeed. It is safe for concurrent use.
type Engine struct {
	// Limits bound the report (report.DefaultLimits() when zero).
	Limits report.Limits
	// Versions gives a report whose input carries no version (FHIR without
	// meta.versionId) and whose job names none (an intake derives HL7 v2
	// versions before publishing) its durable content-based version from
	// input.ContentDigest. Nil: such a report is version 1.
	Versions Versions
	// Profiles is the deployment's site profile set; nil renders every job
	// in folio's built-in look (and fails a job that names a profile).
	Profiles ProfileSource
}

// ProfileSource gives the current site profile set (nil: none). A source
// backed by NATS may change between calls; each job renders with the set
// it got.
type ProfileSource interface {
	ProfileSet(ctx context.Context) (*profile.Set, error)
}

// StaticProfiles is a profile set that never changes (folio render
// --profiles, a worker given --profiles DIR).
type StaticProfiles struct{ Set *profile.Set }

// ProfileSet implements ProfileSource.
func (s StaticProfiles) ProfileSet(context.Context) (*profile.Set, error) { return s.Set, nil }

// Versions derives a report's version from its content digest, durably: the
// first digest of a report id is version 1, a digest seen before keeps its
// version, a new one gets the next. *store.Store is one.
type Versions interface {
	NextVersion(ctx context.Context, reportID, digest string) (int, error)
}

var _ Renderer = (*Engine)(nil)

// Render implements Renderer. The render engine does not take a context:
// when ctx ends first Render returns ctx's error and the abandoned render
// finishes in the background.
func (e *Engine) Render(ctx context.Context, job *Job) (*Rendered, error) {
	type result struct {
		res *Rendered
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{nil, Permanent(fmt.Errorf("render: panic: %v", p))}
			}
		}()
		res, err := e.render(ctx, job)
		ch <- result{res, err}
	}()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) render(ctx context.Context, job *Job) (*Rendered, error) {
	d, err := DecodeInput(job, e.Limits)
	if err != nil {
		return nil, err
	}
	r := d.Report
	if d.Withdrawn {
		// Nothing to render: the worker withdraws the report's current
		// version.
		why := d.WithdrawReason
		if why == "" {
			why = fmt.Sprintf("withdrawn by its sender (%s status cancelled or entered-in-error)", firstNonEmpty(d.Source, "report"))
		}
		return &Rendered{Record: RecordFacts(r), Warnings: d.Warnings, Withdraw: why}, nil
	}
	if !d.VersionGiven && job.Version == 0 && e.Versions != nil {
		v, err := e.Versions.NextVersion(ctx, report.Key(r.ID), input.ContentDigest(r, d.PDF))
		if err != nil {
			return nil, fmt.Errorf("version of report %s: %w", report.Key(r.ID), err) // transient: retried
		}
		r.Version = v
	}
	prof, err := e.profile(ctx, job, d)
	if err != nil {
		return nil, err
	}
	laid, err := render.LayoutProfile(r, prof)
	if err != nil {
		var fe report.Errors
		if errors.As(err, &fe) { // input the decoder could not check (image pixels)
			return nil, Permanent(prefixErrors("report", fe))
		}
		return nil, Permanent(err)
	}
	out := &Rendered{Record: RecordFacts(r), Warnings: append(slices.Clone(d.Warnings), laid.Warnings...), Digest: report.Digest(r)}
	if prof != nil {
		out.Profile, out.ProfileDigest = prof.ID, prof.Digest
	}
	if d.PDF != nil { // the sender's PDF is part of the version's content
		out.Digest = input.ContentDigest(r, d.PDF)
	}
	if kind, _, _ := job.Input(); kind != input.Report {
		if out.ReportJSON, err = json.Marshal(r); err != nil {
			return nil, Permanent(err)
		}
	}
	for _, o := range job.Outputs {
		switch o {
		case folio.OutputPDF:
			if d.PDF != nil { // the sender's own PDF, stored as sent
				out.Renditions = append(out.Renditions, Rendition{Output: o, ContentType: "application/pdf", Data: d.PDF})
				continue
			}
			data, err := laid.PDF()
			if err != nil {
				return nil, Permanent(err)
			}
			out.Renditions = append(out.Renditions, Rendition{Output: o, ContentType: "application/pdf", Data: data, Pages: len(laid.Pages)})
		case folio.OutputThumbnail:
			opt := render.ThumbOptions{}
			if job.Thumbnail != nil {
				opt.Size, opt.Format = job.Thumbnail.Size, job.Thumbnail.Format
			}
			img, err := laid.Thumbnail(opt)
			if err != nil {
				return nil, Permanent(err)
			}
			out.Renditions = append(out.Renditions, Rendition{Output: o, ContentType: img.ContentType, Data: img.Bytes, Width: img.Width, Height: img.Height})
		default:
			return nil, Permanent(fmt.Errorf("outputs: unknown output %q", o))
		}
	}
	return out, nil
}

// profile picks the job's site profile: the one it names (an id the set
// lacks fails the job invalid, naming it), else the set's choice for the
// report, else none.
func (e *Engine) profile(ctx context.Context, job *Job, d *input.Doc) (*profile.Profile, error) {
	var set *profile.Set
	if e.Profiles != nil {
		s, err := e.Profiles.ProfileSet(ctx)
		if err != nil {
			return nil, fmt.Errorf("site profiles: %w", err) // transient: retried
		}
		set = s
	}
	sub := profile.Subject{SendingFacility: d.SendingFacility, Organizations: d.Organizations}
	if d.Report != nil && d.Report.Facility != nil {
		sub.Facility = d.Report.Facility.Name
	}
	p, err := set.Pick(job.Profile, sub)
	if err != nil {
		return nil, Permanent(report.Errors{{Path: "profile", Rule: fmt.Sprintf("%q: no such site profile in this deployment", job.Profile)}})
	}
	return p, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
