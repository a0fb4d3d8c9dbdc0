package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
	"golang.org/x/term"
)

// renderLine is one --json output line.
type renderLine struct {
	Input    string   `json:"input"`
	Output   string   `json:"output,omitempty"`
	Pages    int      `json:"pages,omitempty"`
	Width    int      `json:"width,omitempty"`
	Height   int      `json:"height,omitempty"`
	Bytes    int      `json:"bytes,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
	// Report and Source name the report when an input holds several (a
	// FHIR Bundle): its id and where in the input it came from.
	Report    string `json:"report,omitempty"`
	Source    string `json:"source,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"` // withdrawn by its sender: nothing rendered
	errLines  []string
}

// runRender implements "folio render": one-shot rendering without a queue.
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output file (one input) or directory (several inputs)")
	thumb := fs.Bool("thumbnail", false, "render a page-1 image instead of a PDF")
	size := fs.Int("size", 256, "thumbnail: longest side in pixels (32 to 2048)")
	format := fs.String("format", "png", "thumbnail: png or jpeg")
	asJSON := fs.Bool("json", false, "print one JSON line per input on stdout")
	page := fs.Int("page", 1, "thumbnail: page number")
	deid := fs.Bool("deidentify", false, "thumbnail: leave out patient-identifying values, ids, UIDs and dates but their year (free text is not scrubbed)")
	sitePath := addSiteFlag(fs)
	paths, code, ok := parseInputs(fs, args, stderr, "usage: folio render [-o PATH] [--thumbnail] [--size N] [--format png|jpeg] [--page N] [--deidentify] [--json] FILE|DIR...")
	if !ok {
		return code
	}
	if *thumb {
		if *size < 32 || *size > 2048 {
			fmt.Fprintf(stderr, "folio render: --size %d: must be 32 to 2048\n", *size)
			return exitUsage
		}
		if *page < 1 {
			fmt.Fprintf(stderr, "folio render: --page %d: must be 1 or more\n", *page)
			return exitUsage
		}
		if *format != "png" && *format != "jpeg" {
			fmt.Fprintf(stderr, "folio render: --format %q: must be png or jpeg\n", *format)
			return exitUsage
		}
	}
	setMemoryLimit()
	inputs, err := expandInputs(paths)
	if err != nil {
		fmt.Fprintln(stderr, "folio render:", err)
		return exitUsage
	}
	site, err := loadSite(*sitePath)
	if err != nil {
		fmt.Fprintln(stderr, "folio render: --hl7-site:", err)
		return exitUsage
	}
	ext := ".pdf"
	if *thumb {
		ext = map[string]string{"png": ".png", "jpeg": ".jpg"}[*format]
	}
	// -o names a file only when there is exactly one input file.
	single := len(inputs) == 1 && len(paths) == 1 && !isDir(paths[0])
	outputFor := func(in string) string {
		base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in)) + ext
		switch {
		case *out == "":
			return filepath.Join(filepath.Dir(in), base)
		case single && !isDir(*out) && !strings.HasSuffix(*out, string(filepath.Separator)):
			return *out
		default:
			return filepath.Join(*out, base)
		}
	}
	if *out != "" && !(single && !isDir(*out) && !strings.HasSuffix(*out, string(filepath.Separator))) {
		if err := os.MkdirAll(*out, 0o700); err != nil {
			fmt.Fprintln(stderr, "folio render:", err)
			return exitFailed
		}
	}
	opts := render.ThumbOptions{Size: *size, Format: *format, Page: *page, Deidentify: *deid}
	perInput := make([][]renderLine, len(inputs))
	prog := newProgress(stderr, len(inputs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				perInput[i] = renderInput(inputs[i], outputFor(inputs[i]), *thumb, opts, site)
				prog.step()
			}
		}()
	}
	for i := range inputs {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	prog.done()
	code = exitOK
	var results []renderLine
	for _, rs := range perInput {
		if rs == nil {
			results = append(results, renderLine{}) // interrupted before it started
		}
		results = append(results, rs...)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		if r.Input == "" { // interrupted before it started
			code = exitFailed
			continue
		}
		if r.Error != "" {
			code = exitFailed
			for _, l := range r.errLines {
				fmt.Fprintf(stderr, "%s: %s\n", r.Input, l)
			}
		}
		// Warnings (a character no font covers, a URL section left
		// out...) go to stderr like errors, with or without --json: a
		// rendered PDF that differs from its input must not go unseen.
		for _, w := range r.Warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", r.Input, w)
		}
		if *asJSON {
			enc.Encode(r)
		}
	}
	if !*asJSON {
		done, refused, warned, withdrawn := 0, 0, 0, 0
		for _, r := range results {
			switch {
			case r.Error != "":
				refused++
			case r.Output != "":
				done++
			case r.Withdrawn:
				withdrawn++
			}
			warned += len(r.Warnings)
		}
		extra := ""
		if withdrawn > 0 {
			extra = fmt.Sprintf(", %d withdrawn", withdrawn)
		}
		fmt.Fprintf(stderr, "folio render: %d of %d rendered, %d refused%s, %d warnings\n", done, len(results), refused, extra, warned)
	}
	return code
}

// renderOne renders one input file to outPath.
// renderInput renders the reports of one input file: one PDF or image per
// report (an input holding several, a FHIR Bundle, gets
// "<name>-<report id>" outputs).
func renderInput(in, outPath string, thumb bool, o render.ThumbOptions, site hl7input.Site) []renderLine {
	lim := report.DefaultLimits()
	data, err := readLimited(in, int64(lim.MaxBytes))
	if err != nil {
		return []renderLine{failLine(renderLine{Input: in}, err)}
	}
	docs, err := input.Map(kindOf(in, data), data, input.Options{Limits: lim, HL7: site})
	if err != nil {
		return []renderLine{failLine(renderLine{Input: in}, err)}
	}
	var out []renderLine
	seen := map[string]int{}
	for _, d := range docs {
		p := outPath
		if len(docs) > 1 {
			ext := filepath.Ext(outPath)
			// The report's key, not its identifier: an identifier may
			// hold "/" or be 199 characters long (report.Key).
			name := report.Key(d.Report.ID)
			// An HL7 file may hold several versions of one report
			// (preliminary, final, corrected): -2, -3 for the later ones.
			if seen[name]++; seen[name] > 1 {
				name += "-" + strconv.Itoa(seen[name])
			}
			p = strings.TrimSuffix(outPath, ext) + "-" + name + ext
		}
		out = append(out, renderDoc(in, p, d, len(docs) > 1, thumb, o))
	}
	return out
}

// failLine fills res with err, one line per problem.
func failLine(res renderLine, err error) renderLine {
	var fe report.Errors
	if errors.As(err, &fe) {
		for _, e := range fe {
			res.errLines = append(res.errLines, e.Error())
		}
	} else {
		res.errLines = []string{err.Error()}
	}
	res.Error = strings.Join(res.errLines, "; ")
	return res
}

// renderDoc renders one mapped report to outPath.
func renderDoc(in, outPath string, d input.Doc, named, thumb bool, o render.ThumbOptions) renderLine {
	res := renderLine{Input: in, Warnings: d.Warnings}
	if named || d.Source != "" {
		res.Report, res.Source = d.Report.ID, d.Source
	}
	if d.Withdrawn {
		res.Withdrawn = true
		res.Warnings = append(res.Warnings, "withdrawn by its sender (status cancelled or entered-in-error): nothing rendered")
		return res
	}
	laid, err := render.Layout(d.Report)
	if err != nil {
		return failLine(res, err)
	}
	var b []byte
	switch {
	case thumb:
		img, err := laid.Thumbnail(o)
		if err != nil {
			return failLine(res, err)
		}
		b, res.Width, res.Height = img.Bytes, img.Width, img.Height
	case d.PDF != nil:
		b = d.PDF // the sender's own PDF, as sent
	default:
		if b, err = laid.PDF(); err != nil {
			return failLine(res, err)
		}
		res.Pages = len(laid.Pages)
	}
	if err := writePrivate(outPath, b); err != nil {
		return failLine(res, err)
	}
	sum := sha256.Sum256(b)
	res.Output, res.Bytes, res.SHA256 = outPath, len(b), hex.EncodeToString(sum[:])
	res.Warnings = append(res.Warnings, laid.Warnings...)
	return res
}

// writePrivate writes b to path readable by its owner only (mode 0600: a
// rendered report is patient data). It writes a temporary file beside path
// and renames it, so that a file already at path, whatever its mode, is
// replaced whole and never left half-written or world-readable.
func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readLimited reads a file, refusing one larger than max bytes without
// reading it all.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("$: report is larger than %d bytes", max)
	}
	return b, nil
}

// expandInputs replaces each directory by its *.json files, sorted.
func expandInputs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		h, err := filepath.Glob(filepath.Join(p, "*.hl7"))
		if err != nil {
			return nil, err
		}
		m = append(m, h...)
		sort.Strings(m)
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, errors.New("no *.json or *.hl7 inputs found")
	}
	return out, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// progress draws a progress bar on stderr when it is a terminal and there
// are more than a few inputs.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	n, tot int
	on     bool
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, tot: total}
	if f, ok := w.(*os.File); ok && total > 3 && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

func (p *progress) step() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	const width = 30
	fill := p.n * width / p.tot
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), p.n, p.tot)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}

// kindOf is the input kind of a file: a .hl7 file is HL7 v2 whatever it
// holds (so that one that is not HL7 is refused as HL7, not as JSON);
// otherwise the content decides.
func kindOf(path string, data []byte) input.Kind {
	if strings.EqualFold(filepath.Ext(path), ".hl7") {
		return input.HL7
	}
	return input.Detect(data)
}

// renderMemoryLimit is the Go runtime's soft memory limit for folio render
// and the render workers unless GOMEMLIMIT is set: the garbage collector
// works harder as the heap nears it instead of letting it grow to twice
// what is live. With one image decoded at a time (templates.DecodeBudget)
// the worst report the limits accept then stays under 512 MiB of RSS (see
// docs/RELIABILITY.md). It is soft: a process that needs more gets more.
const renderMemoryLimit = 384 << 20

func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(renderMemoryLimit)
	}
}

// setWorkerMemoryLimit gives a process running slots render workers a
// soft memory limit unless GOMEMLIMIT is set: the decode budget plus what
// one document in flight may hold (its images at printed size, at most
// 20 x 2100 x 1430 x 4 bytes, and its outputs) per slot, so the collector
// runs before the heap doubles. Soft: a process that needs more gets more.
func setWorkerMemoryLimit(slots int) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(renderMemoryLimit + int64(slots)*(256<<20))
	}
}
