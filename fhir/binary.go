package fhir

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/foliohealth/folio"
)

// binaryVersion is every Binary's meta.versionId: a Binary id names one
// immutable content, so a Binary is never updated. The weak ETag W/"1" is
// therefore specific to the URL it is served at.
const binaryVersion = "1"

const instantFormat = "2006-01-02T15:04:05.000Z07:00"

// binaryResource is the FHIR Binary resource without its data.
type binaryResource struct {
	ResourceType    string     `json:"resourceType"`
	ID              string     `json:"id"`
	Meta            meta       `json:"meta"`
	ContentType     string     `json:"contentType"`
	SecurityContext *reference `json:"securityContext,omitempty"`
}

type meta struct {
	VersionID   string `json:"versionId,omitempty"`
	LastUpdated string `json:"lastUpdated,omitempty"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// cachedBinary is a cache entry: metadata and the verified bytes.
type cachedBinary struct {
	info *folio.Binary
	data []byte
}

func (h *Handler) readBinary(w http.ResponseWriter, r *http.Request, p *principal, id string) error {
	q := r.URL.Query()
	repr, forced, err := formatOverride(q.Get("_format"))
	if err != nil {
		return err
	}
	for k := range q {
		if k != "_format" {
			return fail(errNotSupported, "parameter %q is not supported on Binary read", truncate(k, 40))
		}
	}
	ctx := r.Context()
	var (
		info *folio.Binary
		data []byte
	)
	if c, ok := h.cache.get(id); ok {
		info, data = c.info, c.data
	} else if info, err = h.store.BinaryInfo(ctx, id); err != nil {
		return notFoundAs(err, "Binary", id)
	}
	if p.patient != "" {
		if err := h.patientMayRead(ctx, p, info); err != nil {
			return err
		}
	}
	if !forced {
		repr = negotiate(r.Header.Get("Accept"), info.ContentType)
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	if repr == reprNone {
		return fail(errNotAcceptable, "Binary/%s is available as %s (the FHIR Binary resource) or %s (its content); the Accept header %q allows neither",
			id, fhirJSON, info.ContentType, truncate(r.Header.Get("Accept"), 100))
	}
	// The raw bytes and the Binary resource are different representations:
	// the bytes have a strong ETag from their SHA-256, the resource the weak
	// W/"<versionId>".
	etag := `W/"` + binaryVersion + `"`
	if repr != reprResource && info.SHA256 != "" {
		etag = `"` + info.SHA256 + `"`
	}
	modified := info.Created.UTC().Truncate(time.Second)
	hdr.Set("ETag", etag)
	if !info.Created.IsZero() {
		hdr.Set("Last-Modified", modified.Format(http.TimeFormat))
	}
	if info.RecordID != "" {
		hdr.Set("X-Security-Context", "DocumentReference/"+info.RecordID)
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "private, no-cache")
	if notModified(r, etag, modified) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}

	if data == nil && h.cache.fits(info.Size) && r.Method != http.MethodHead {
		if data, err = h.fill(r, info); err != nil {
			return err
		}
	}
	if repr == reprResource {
		return h.writeBinaryResource(w, r, info, data)
	}

	hdr.Set("Content-Type", info.ContentType)
	hdr.Set("Content-Disposition", disposition(info))
	hdr.Set("Accept-Ranges", "bytes")
	start, length := int64(0), info.Size
	status := http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" && ifRange(r, etag, modified) {
		s, n, ok, satisfiable := parseRange(rng, info.Size)
		if ok && !satisfiable {
			hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return fail(errRange, "range %q is outside the %d bytes of Binary/%s", truncate(rng, 60), info.Size, id)
		}
		if ok {
			start, length, status = s, n, http.StatusPartialContent
			hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, s+n-1, info.Size))
		}
	}
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	if data != nil {
		w.Write(data[start : start+length])
		return nil
	}
	return h.stream(w, r, id, start, length, nil)
}

// fill reads a small Binary whole, checks it against its size and SHA-1,
// and caches it.
func (h *Handler) fill(r *http.Request, info *folio.Binary) ([]byte, error) {
	oinfo, rc, err := h.store.OpenBinary(r.Context(), info.ID)
	if err != nil {
		return nil, notFoundAs(err, "Binary", info.ID)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, info.Size+1))
	if err != nil {
		return nil, fmt.Errorf("fhir: reading Binary/%s: %w", info.ID, err)
	}
	if err := verifyContent(info, data); err != nil {
		return nil, err
	}
	if oinfo == nil {
		oinfo = info
	}
	h.cache.put(info.ID, cachedBinary{info: oinfo, data: data})
	return data, nil
}

func verifyContent(info *folio.Binary, data []byte) error {
	if int64(len(data)) != info.Size {
		return fmt.Errorf("fhir: Binary/%s: %d bytes stored, metadata says %d: %w", info.ID, len(data), info.Size, errIntegrity)
	}
	if info.SHA1 != "" {
		sum := sha1.Sum(data)
		if base64.StdEncoding.EncodeToString(sum[:]) != info.SHA1 {
			return fmt.Errorf("fhir: Binary/%s: SHA-1 differs from its metadata: %w", info.ID, errIntegrity)
		}
	}
	return nil
}

// streamHold is how much of a streamed body is held back until the whole
// stored Binary has been read and checked.
const streamHold = 64 << 10

// stream copies length bytes from offset start of a stored Binary to w
// (through enc when not nil) without holding the whole body in memory. The
// store's reader checks the bytes against their SHA-256 as they pass; the
// last streamHold bytes of the response are written only after every byte
// of the Binary (past the range too) has been read and checked, so a
// Binary whose bytes do not match is never sent as a complete response. The
// status is sent already, so a failure can only cut the response short: the
// handler then aborts the connection, so the client sees it, and logs it.
func (h *Handler) stream(w io.Writer, r *http.Request, id string, start, length int64, enc io.WriteCloser) error {
	info, rc, err := h.store.OpenBinary(r.Context(), id)
	if err != nil {
		h.abort(r, fmt.Errorf("fhir: opening Binary/%s after headers: %w", id, err))
	}
	defer rc.Close()
	if start > 0 {
		if _, err = io.CopyN(io.Discard, rc, start); err != nil {
			h.abort(r, fmt.Errorf("fhir: skipping to byte %d of Binary/%s: %w", start, id, err))
		}
	}
	dst := w
	if enc != nil {
		dst = enc
	}
	hold := min(length, streamHold)
	if _, err := io.CopyN(dst, rc, length-hold); err != nil {
		h.abort(r, fmt.Errorf("fhir: streaming Binary/%s: %w", id, err))
	}
	tail := make([]byte, hold)
	if _, err := io.ReadFull(rc, tail); err != nil {
		h.abort(r, fmt.Errorf("fhir: streaming Binary/%s: %w", id, err))
	}
	if info != nil && start+length < info.Size {
		// A range short of the end: read on to the end, where the digest
		// is checked, before the range's last bytes go out.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			h.abort(r, fmt.Errorf("fhir: checking Binary/%s: %w", id, err))
		}
	}
	dst.Write(tail)
	if enc != nil {
		enc.Close()
	}
	return nil
}

// patientMayRead checks a patient-scoped read of a Binary: the Binary must be
// that patient's and its record must not be entered in error (a document
// filed under the wrong patient is no longer theirs to read).
func (h *Handler) patientMayRead(ctx context.Context, p *principal, info *folio.Binary) error {
	if info.PatientID != p.patient {
		return fail(folio.ErrNotFound, "Binary/%s is not known", info.ID)
	}
	if info.RecordID == "" {
		return nil
	}
	rec, err := h.store.Record(ctx, info.RecordID)
	if errors.Is(err, folio.ErrNotFound) || (err == nil && (rec.EnteredInError != "" || rec.PatientID != p.patient)) {
		return fail(folio.ErrNotFound, "Binary/%s is not known", info.ID)
	}
	return err
}

// abort records err and ends the response by aborting the connection.
func (h *Handler) abort(r *http.Request, err error) {
	if st := stateOf(r); st != nil {
		st.err = err
	}
	h.log.ErrorContext(r.Context(), "response cut short", "error", err)
	panic(http.ErrAbortHandler)
}

// writeBinaryResource sends the Binary resource, base64-encoding the
// content as it goes.
func (h *Handler) writeBinaryResource(w http.ResponseWriter, r *http.Request, info *folio.Binary, data []byte) error {
	res := binaryResource{
		ResourceType: "Binary",
		ID:           info.ID,
		Meta:         meta{VersionID: binaryVersion, LastUpdated: instant(info.Created)},
		ContentType:  info.ContentType,
	}
	if info.RecordID != "" {
		res.SecurityContext = &reference{Reference: "DocumentReference/" + info.RecordID}
	}
	head, err := json.Marshal(res)
	if err != nil {
		return err
	}
	head = append(head[:len(head)-1], `,"data":"`...)
	tail := []byte(`"}`)
	n := int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(info.Size))) + int64(len(tail))
	hdr := w.Header()
	hdr.Set("Content-Type", fhirJSON+"; charset=utf-8")
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	w.Write(head)
	if data != nil {
		enc := base64.NewEncoder(base64.StdEncoding, w)
		enc.Write(data)
		enc.Close()
	} else {
		h.stream(w, r, info.ID, 0, info.Size, base64.NewEncoder(base64.StdEncoding, w))
	}
	w.Write(tail)
	return nil
}

// notFoundAs turns folio.ErrNotFound into a client message naming the
// resource; other errors pass through.
func notFoundAs(err error, typ, id string) error {
	if errors.Is(err, folio.ErrNotFound) {
		return fail(folio.ErrNotFound, "%s/%s is not known", typ, id)
	}
	return err
}

func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(instantFormat)
}

// notModified applies If-None-Match (weak comparison) and, without it,
// If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !modified.After(t) {
			return true
		}
	}
	return false
}

// ifRange reports whether a Range header is to be honoured under If-Range:
// a strong tag must equal the bytes' strong ETag (a weak one never
// matches), a date must equal Last-Modified.
func ifRange(r *http.Request, etag string, modified time.Time) bool {
	v := r.Header.Get("If-Range")
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, `"`) {
		return !strings.HasPrefix(etag, "W/") && v == etag
	}
	if strings.HasPrefix(v, "W/") {
		return false
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Equal(modified)
}

// parseRange reads a single byte range ("bytes=a-b", "bytes=a-",
// "bytes=-n") against size. ok is false when the header is to be ignored
// (another unit, several ranges, bad syntax): the whole body is sent.
func parseRange(h string, size int64) (start, length int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e - s + 1, true, true
}

// disposition returns a Content-Disposition naming the file after its
// report and version; PDFs and images open inline, anything else is an
// attachment.
func disposition(b *folio.Binary) string {
	mt, _, _ := mime.ParseMediaType(b.ContentType)
	ext := map[string]string{"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "application/json": ".json"}[mt]
	kind := "attachment"
	if ext == ".pdf" || ext == ".png" || ext == ".jpg" {
		kind = "inline"
	}
	if ext == "" {
		ext = ".bin"
	}
	name := b.ID
	if b.ReportID != "" && idRule.MatchString(b.ReportID) && b.Version > 0 {
		name = fmt.Sprintf("%s-v%d", b.ReportID, b.Version)
		if b.Output == folio.OutputThumbnail {
			name += "-thumbnail"
		}
	}
	return mime.FormatMediaType(kind, map[string]string{"filename": name + ext})
}
