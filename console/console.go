// Package console is folio's operator web console: server-rendered HTML
// pages (html/template, no JavaScript) that show the jobs of the render
// pipeline, the stored documents of a patient, and the pipeline's health.
//
// It is mounted at /console on the operator listener. On a loopback
// listener it needs no login; otherwise every request must carry a bearer
// token (Authorization header) whose scope includes OperatorScope, checked
// with the same verifier as the FHIR endpoint. Every page is sent with
// Cache-Control: no-store and a Content-Security-Policy that allows nothing
// but the console's own stylesheet and images; patient search goes by POST
// so that identifiers stay out of URLs, and nothing the pages show is
// logged.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/fhir"
	"github.com/foliohealth/folio/queue"
)

// OperatorScope is the scope a bearer token needs for the console when its
// listener is not loopback ("folio token --scope folio.operator" in
// development mode; an identity provider's client otherwise).
const OperatorScope = "folio.operator"

// Prefix is where the console is mounted.
const Prefix = "/console"

// CSP is the Content-Security-Policy of every console page: no scripts,
// no frames, no plugins; styles and images from the console only.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Searcher finds records by medical record number or accession number.
// store.Store implements it.
type Searcher interface {
	RecordsByMRN(ctx context.Context, mrn string) ([]*folio.Record, error)
	RecordsByAccession(ctx context.Context, accession string) ([]*folio.Record, error)
}

// Config is what the console shows and how it is guarded.
type Config struct {
	Queue *queue.Queue // job statuses and the render consumer
	Store folio.Store  // records and Binaries
	// Search, if set, adds MRN and accession number to the patient-id
	// search of the documents page.
	Search Searcher
	Conn   *nats.Conn // the pipeline's connection: its state, job events
	// RequireToken makes every request need a bearer token with
	// OperatorScope, verified by Verifier (set it when the listener is
	// not loopback).
	RequireToken bool
	Verifier     fhir.TokenVerifier
	Logger       *slog.Logger
	// PageSize is the number of jobs on a page of the jobs list (50).
	PageSize int
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the console's pages. Close it to end its event
// subscription.
type Console struct {
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
	rate  *rateCounter
	sub   *nats.Subscription
}

// New returns the console. It subscribes to job events on cfg.Conn to
// count jobs per minute.
func New(cfg Config) (*Console, error) {
	if cfg.Queue == nil || cfg.Store == nil || cfg.Conn == nil {
		return nil, errors.New("console: Queue, Store and Conn are required")
	}
	if cfg.RequireToken && cfg.Verifier == nil {
		return nil, errors.New("console: a token is required but there is no verifier")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	c := &Console{cfg: cfg, log: cfg.Logger, rate: newRateCounter(time.Now)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if err := c.parse(); err != nil {
		return nil, err
	}
	sub, err := cfg.Conn.Subscribe(queue.SubjectJobEvents, func(m *nats.Msg) {
		c.rate.add(m.Subject == queue.SubjectJobFailed)
	})
	if err != nil {
		return nil, fmt.Errorf("console: subscribing to job events: %w", err)
	}
	c.sub = sub
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/jobs", http.StatusSeeOther)
	})
	mux.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/jobs", http.StatusSeeOther)
	})
	mux.HandleFunc("GET "+Prefix+"/jobs", c.jobs)
	mux.HandleFunc("GET "+Prefix+"/jobs/{id}", c.job)
	mux.HandleFunc("GET "+Prefix+"/documents", c.documents)
	mux.HandleFunc("POST "+Prefix+"/documents", c.documents)
	mux.HandleFunc("GET "+Prefix+"/binary/{id}", c.binary)
	mux.HandleFunc("GET "+Prefix+"/health", c.health)
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	c.mux = mux
	return c, nil
}

// Close ends the console's event subscription.
func (c *Console) Close() error { return c.sub.Unsubscribe() }

// ServeHTTP guards and serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if c.cfg.RequireToken {
		if status, msg := c.authorize(r); status != 0 {
			if status == http.StatusUnauthorized {
				h.Set("WWW-Authenticate", `Bearer realm="folio console", scope="`+OperatorScope+`"`)
			}
			http.Error(w, msg, status)
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// authorize checks the bearer token; it returns 0 when the request may
// proceed, else the status and message to answer.
func (c *Console) authorize(r *http.Request) (int, string) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return http.StatusUnauthorized, "the console on this listener needs a bearer token with scope " + OperatorScope
	}
	claims, err := c.cfg.Verifier.Verify(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		return http.StatusUnauthorized, "bearer token refused: " + err.Error()
	}
	if !slices.Contains(strings.Fields(claims.Scope), OperatorScope) {
		return http.StatusForbidden, "the token lacks scope " + OperatorScope
	}
	return 0, ""
}

// parse loads every page template with the shared layout.
func (c *Console) parse() error {
	c.pages = map[string]*template.Template{}
	funcs := template.FuncMap{
		"when":     when,
		"ago":      ago,
		"issued":   issued,
		"statusOf": reportStatus,
		"kindName": kindName,
	}
	for _, p := range []string{"jobs", "job", "documents", "health", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", p, err)
		}
		c.pages[p] = t
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string // jobs, documents, health
	Data  any
}

// render writes a page. Errors writing the response are the client's.
func (c *Console) render(w http.ResponseWriter, status int, name, title string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf strings.Builder
	if err := c.pages[name].Execute(&buf, page{Title: title, Nav: name, Data: data}); err != nil {
		c.log.Error("console: rendering page", "page", name, "err", err)
		http.Error(w, "console: page failed to render", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

// fail shows an error page. msg is shown to the operator; it is logged
// only as the page name and status (it may hold a searched identifier).
func (c *Console) fail(w http.ResponseWriter, status int, nav, msg string) {
	if status >= 500 {
		c.log.Warn("console: request failed", "page", nav, "status", status)
	}
	c.render(w, status, "error", "Error", struct {
		Status int
		Msg    string
		Nav    string
	}{status, msg, nav})
}

// when formats a time for the pages (UTC, to the second).
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// issued formats a report time in the offset its sender gave.
func issued(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

// ago says how long before now t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func kindName(k string) string {
	switch k {
	case "anatomic-pathology":
		return "Anatomic pathology"
	case "radiology":
		return "Radiology"
	}
	return k
}
