package fhir

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

type binaryJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	ContentType     string `json:"contentType"`
	SecurityContext struct {
		Reference string `json:"reference"`
	} `json:"securityContext"`
	Data []byte `json:"data"`
}

func TestBinaryNegotiation(t *testing.T) {
	for _, cacheOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cacheOn), func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if !cacheOn {
					c.CacheBytes = -1
				}
			})
			tok := "Bearer " + e.token(t, allScopes)
			pdf := e.store.data[e.pdf2]
			png := e.store.data[e.png]
			const (
				raw = "raw"
				res = "resource"
				no  = "406"
				bad = "400"
			)
			cases := []struct {
				name, id, accept, query, want string
			}{
				{"no Accept", e.pdf2, "", "", raw},
				{"exact type", e.pdf2, "application/pdf", "", raw},
				{"application wildcard", e.pdf2, "application/*", "", raw},
				{"any", e.pdf2, "*/*", "", raw},
				{"fhir json", e.pdf2, "application/fhir+json", "", res},
				{"fhir json with q", e.pdf2, "application/fhir+json;q=0.9", "", res},
				{"fhir json with fhirVersion", e.pdf2, "application/fhir+json; fhirVersion=4.0", "", res},
				{"legacy json+fhir", e.pdf2, "application/json+fhir", "", res},
				{"list fhir first", e.pdf2, "application/fhir+json, application/pdf", "", res},
				{"list pdf first", e.pdf2, "application/pdf, application/fhir+json", "", raw},
				{"q prefers pdf", e.pdf2, "application/fhir+json;q=0.5, application/pdf", "", raw},
				{"q prefers fhir", e.pdf2, "application/pdf;q=0.4, application/fhir+json;q=0.8", "", res},
				{"fhir beats wildcard", e.pdf2, "*/*, application/fhir+json", "", res},
				{"wildcard list", e.pdf2, "text/html, */*;q=0.1", "", raw},
				{"browser accept", e.pdf2, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "", raw},
				{"pdf refused by q=0", e.pdf2, "application/pdf;q=0, text/html", "", no},
				{"pdf q=0 beats wildcard", e.pdf2, "*/*, application/pdf;q=0", "", no},
				{"application/json for pdf", e.pdf2, "application/json", "", no},
				{"html for pdf", e.pdf2, "text/html", "", no},
				{"png for pdf", e.pdf2, "image/png", "", no},
				{"image wildcard for pdf", e.pdf2, "image/*", "", no},
				{"garbage accept", e.pdf2, "not a media type", "", no},
				{"png exact", e.png, "image/png", "", raw},
				{"png image wildcard", e.png, "image/*", "", raw},
				{"application wildcard for png", e.png, "application/*", "", no},
				{"png fhir", e.png, "application/fhir+json", "", res},
				{"_format json overrides Accept", e.pdf2, "application/pdf", "_format=json", res},
				{"_format application/json", e.pdf2, "", "_format=application/json", res},
				{"_format fhir+json", e.pdf2, "text/html", "_format=application/fhir%2Bjson", res},
				{"_format xml", e.pdf2, "", "_format=xml", no},
				{"_format nonsense", e.pdf2, "", "_format=yaml", bad},
				{"unknown parameter", e.pdf2, "", "foo=bar", bad},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					path := "/Binary/" + c.id
					if c.query != "" {
						path += "?" + c.query
					}
					hs := []string{"Authorization", tok}
					if c.accept != "" {
						hs = append(hs, "Accept", c.accept)
					}
					resp, body := e.get(t, path, hs...)
					content := pdf
					ct := "application/pdf"
					if c.id == e.png {
						content, ct = png, "image/png"
					}
					switch c.want {
					case raw:
						if resp.StatusCode != 200 || !bytes.Equal(body, content) {
							t.Fatalf("status %d, %d bytes; want 200 and the %d stored bytes", resp.StatusCode, len(body), len(content))
						}
						for h, want := range map[string]string{
							"Content-Type":           ct,
							"Content-Length":         fmt.Sprint(len(content)),
							"ETag":                   strongTag(content),
							"Last-Modified":          "Sun, 22 Nov 2026 19:03:00 GMT",
							"X-Security-Context":     "DocumentReference/S26-1-2",
							"X-Content-Type-Options": "nosniff",
						} {
							if got := resp.Header.Get(h); got != want {
								t.Errorf("%s = %q, want %q", h, got, want)
							}
						}
						wantCD := `inline; filename=S26-1-v2.pdf`
						if c.id == e.png {
							wantCD = `inline; filename=S26-1-v2-thumbnail.png`
						}
						if got := resp.Header.Get("Content-Disposition"); got != wantCD {
							t.Errorf("Content-Disposition = %q, want %q", got, wantCD)
						}
					case res:
						if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), fhirJSON) {
							t.Fatalf("status %d type %q; want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), fhirJSON)
						}
						var b binaryJSON
						if err := json.Unmarshal(body, &b); err != nil {
							t.Fatalf("Binary JSON: %v: %.200s", err, body)
						}
						if b.ResourceType != "Binary" || b.ID != c.id || b.ContentType != ct || b.Meta.VersionID != "1" ||
							b.Meta.LastUpdated != "2026-11-22T19:03:00.000Z" || b.SecurityContext.Reference != "DocumentReference/S26-1-2" {
							t.Errorf("Binary resource fields: %+v", b)
						}
						if !bytes.Equal(b.Data, content) {
							t.Errorf("data: %d bytes decoded, want the %d stored", len(b.Data), len(content))
						}
						if resp.ContentLength != int64(len(body)) {
							t.Errorf("Content-Length %d, body %d", resp.ContentLength, len(body))
						}
						if got := resp.Header.Get("ETag"); got != `W/"1"` {
							t.Errorf("Binary resource ETag %q, want W/\"1\" (not the bytes' tag)", got)
						}
					case no:
						oo := outcome(t, resp, body)
						if resp.StatusCode != 406 || oo.Issue[0].Code != "not-supported" {
							t.Fatalf("status %d code %q, want 406 not-supported", resp.StatusCode, oo.Issue[0].Code)
						}
						if c.query == "" && (!strings.Contains(oo.Issue[0].Diagnostics, ct) || !strings.Contains(oo.Issue[0].Diagnostics, fhirJSON)) {
							t.Errorf("406 diagnostics do not name the available types: %q", oo.Issue[0].Diagnostics)
						}
					case bad:
						outcome(t, resp, body)
						if resp.StatusCode != 400 {
							t.Fatalf("status %d, want 400", resp.StatusCode)
						}
					}
				})
			}
		})
	}
}

func TestNegotiateJSONContent(t *testing.T) {
	// application/json is acceptable for content that is itself JSON.
	if got := negotiate("application/json", "application/json"); got != reprRaw {
		t.Errorf("application/json for JSON content: %v, want raw", got)
	}
	if got := negotiate("application/json", "application/pdf"); got != reprNone {
		t.Errorf("application/json for PDF: %v, want none", got)
	}
}

func TestBinaryConditional(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	raw := strongTag(e.store.data[e.pdf2])
	cases := []struct {
		name    string
		headers []string
		want    int
		etag    string
	}{
		{"matching strong etag", []string{"If-None-Match", raw}, 304, raw},
		{"matching weak form", []string{"If-None-Match", "W/" + raw}, 304, raw},
		{"in a list", []string{"If-None-Match", `W/"7", ` + raw}, 304, raw},
		{"star", []string{"If-None-Match", `*`}, 304, raw},
		{"other etag", []string{"If-None-Match", `"2"`}, 200, raw},
		{"the resource's tag on the bytes", []string{"If-None-Match", `W/"1"`}, 200, raw},
		{"if-modified-since later", []string{"If-Modified-Since", "Mon, 23 Nov 2026 00:00:00 GMT"}, 304, raw},
		{"if-modified-since earlier", []string{"If-Modified-Since", "Sat, 21 Nov 2026 00:00:00 GMT"}, 200, raw},
		{"304 for resource form too", []string{"If-None-Match", `W/"1"`, "Accept", fhirJSON}, 304, `W/"1"`},
		{"the bytes' tag on the resource", []string{"If-None-Match", raw, "Accept", fhirJSON}, 200, `W/"1"`},
		{"406 wins over 304", []string{"If-None-Match", raw, "Accept", "text/html"}, 406, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := e.get(t, "/Binary/"+e.pdf2, append([]string{"Authorization", tok}, c.headers...)...)
			if res.StatusCode != c.want {
				t.Fatalf("status %d, want %d", res.StatusCode, c.want)
			}
			if c.etag != "" && res.Header.Get("ETag") != c.etag {
				t.Errorf("ETag %q, want %q", res.Header.Get("ETag"), c.etag)
			}
			if c.want == 304 && len(body) != 0 {
				t.Errorf("304 with %d body bytes", len(body))
			}
		})
	}
}

// strongTag is the strong ETag of a Binary's bytes: their hex SHA-256.
func strongTag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestBinaryRange(t *testing.T) {
	for _, cacheOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cacheOn), func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if !cacheOn {
					c.CacheBytes = -1
				}
			})
			tok := "Bearer " + e.token(t, allScopes)
			pdf := e.store.data[e.pdf2]
			n := len(pdf)
			cases := []struct {
				name, rng, ifRange string
				status             int
				from, to           int // inclusive; for 206
			}{
				{"first bytes", "bytes=0-99", "", 206, 0, 99},
				{"middle", "bytes=1000-1999", "", 206, 1000, 1999},
				{"open end", fmt.Sprintf("bytes=%d-", n-10), "", 206, n - 10, n - 1},
				{"suffix", "bytes=-500", "", 206, n - 500, n - 1},
				{"end past size clamps", fmt.Sprintf("bytes=%d-%d", n-5, n+100), "", 206, n - 5, n - 1},
				{"suffix longer than body", fmt.Sprintf("bytes=-%d", n+5), "", 206, 0, n - 1},
				{"start past end", fmt.Sprintf("bytes=%d-", n), "", 416, 0, 0},
				{"zero suffix", "bytes=-0", "", 416, 0, 0},
				{"multiple ranges: whole body", "bytes=0-1,5-6", "", 200, 0, n - 1},
				{"other unit: whole body", "items=0-1", "", 200, 0, n - 1},
				{"malformed: whole body", "bytes=abc", "", 200, 0, n - 1},
				{"reversed: whole body", "bytes=9-3", "", 200, 0, n - 1},
				{"if-range date matches", "bytes=0-9", "Sun, 22 Nov 2026 19:03:00 GMT", 206, 0, 9},
				{"if-range date differs", "bytes=0-9", "Sun, 22 Nov 2026 19:04:00 GMT", 200, 0, n - 1},
				{"if-range weak etag never matches", "bytes=0-9", `W/"1"`, 200, 0, n - 1},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					hs := []string{"Authorization", tok, "Range", c.rng}
					if c.ifRange != "" {
						hs = append(hs, "If-Range", c.ifRange)
					}
					res, body := e.get(t, "/Binary/"+e.pdf2, hs...)
					if res.StatusCode != c.status {
						t.Fatalf("status %d, want %d (%.200s)", res.StatusCode, c.status, body)
					}
					switch c.status {
					case 206, 200:
						if !bytes.Equal(body, pdf[c.from:c.to+1]) {
							t.Fatalf("body is %d bytes, not bytes %d-%d", len(body), c.from, c.to)
						}
						if c.status == 206 {
							want := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to, n)
							if got := res.Header.Get("Content-Range"); got != want {
								t.Errorf("Content-Range %q, want %q", got, want)
							}
						}
						if res.Header.Get("Accept-Ranges") != "bytes" {
							t.Errorf("Accept-Ranges %q", res.Header.Get("Accept-Ranges"))
						}
					case 416:
						outcome(t, res, body)
						if got, want := res.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", n); got != want {
							t.Errorf("Content-Range %q, want %q", got, want)
						}
					}
				})
			}
		})
	}
}

func TestBinaryBadIDsNeverReachStorage(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	cases := []struct {
		path   string
		status int
	}{
		{"/Binary/" + strings.Repeat("a", 65), 400},
		{"/Binary/a%2Fb", 400},
		{"/Binary/a%2fb", 400},
		{"/Binary/..%2F" + e.pdf2, 400},
		{"/Binary/%2E%2E", 400},
		{"/Binary/..", 400},
		{"/Binary/.", 400},
		{"/Binary/a_b", 400},
		{"/Binary/a%20b", 400},
		{"/Binary/a%00b", 400},
		{"/Binary/%C3%A9", 400},
		{"/Binary/../x", 404},
		{"/Binary/a/b", 404},
		{"/Binary/", 400},
		{"/DocumentReference/..", 400},
		{"/DocumentReference/a%2Fb", 400},
		{"/DocumentReference?patient=a%2Fb", 400},
		{"/DiagnosticReport/" + strings.Repeat("9", 65), 400},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			// Send the path exactly as written: no client-side cleaning.
			req, err := http.NewRequest("GET", e.srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + req.URL.Host + c.path
			req.Header.Set("Authorization", tok)
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%.200s)", res.StatusCode, c.status, buf.Bytes())
			}
			outcome(t, res, buf.Bytes())
		})
	}
	if asked := e.store.askedIDs(); len(asked) != 0 {
		t.Fatalf("storage was asked for %q", asked)
	}
	// A valid unknown id does reach storage, and is a 404.
	res, body := e.get(t, "/Binary/no-such-id", "Authorization", tok)
	if oo := outcome(t, res, body); res.StatusCode != 404 || oo.Issue[0].Code != "not-found" {
		t.Fatalf("unknown id: status %d code %q", res.StatusCode, oo.Issue[0].Code)
	}
	if !slices.Contains(e.store.askedIDs(), "no-such-id") {
		t.Fatal("valid id was not looked up")
	}
}

func TestBinaryHEADAndOldVersionReadable(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	res, body := e.do(t, http.MethodHead, "/Binary/"+e.pdf1, "Authorization", tok)
	if res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Length") != "61440" {
		t.Fatalf("HEAD: status %d, %d body bytes, Content-Length %q", res.StatusCode, len(body), res.Header.Get("Content-Length"))
	}
	res, body = e.get(t, "/Binary/"+e.pdf1, "Authorization", tok)
	if res.StatusCode != 200 || !bytes.Equal(body, e.store.data[e.pdf1]) {
		t.Fatalf("superseded version's PDF: status %d", res.StatusCode)
	}
}

func TestBinaryIntegrityChecked(t *testing.T) {
	e := newEnv(t, nil)
	e.store.mu.Lock()
	e.store.data[e.rad] = append([]byte{}, e.store.data[e.rad]...)
	e.store.data[e.rad][100] ^= 0xff // corrupt one byte, same size
	e.store.mu.Unlock()
	res, body := e.get(t, "/Binary/"+e.rad, "Authorization", "Bearer "+e.token(t, allScopes))
	oo := outcome(t, res, body)
	if res.StatusCode != 500 || oo.Issue[0].Code != "exception" || strings.Contains(oo.Issue[0].Diagnostics, "SHA") {
		t.Fatalf("corrupt content: status %d, %+v (want 500, details kept out of the response)", res.StatusCode, oo.Issue[0])
	}
}

func TestCacheBounded(t *testing.T) {
	c := newBinaryCache(100, 40)
	for i := range 10 {
		c.put(fmt.Sprint(i), cachedBinary{data: make([]byte, 30)})
	}
	c.put("big", cachedBinary{data: make([]byte, 41)})
	if _, ok := c.get("big"); ok {
		t.Error("entry over the per-entry limit was cached")
	}
	if c.size > 100 {
		t.Errorf("cache holds %d bytes, limit 100", c.size)
	}
	if _, ok := c.get("9"); !ok {
		t.Error("most recent entry evicted")
	}
	if _, ok := c.get("0"); ok {
		t.Error("oldest entry kept")
	}
}

func TestAttachmentHashAndSizeMatchServedBytes(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	for _, typ := range []string{"DocumentReference", "DiagnosticReport"} {
		res, body := e.get(t, "/"+typ+"?patient=pt-1", "Authorization", tok)
		if res.StatusCode != 200 {
			t.Fatalf("%s search: %d %s", typ, res.StatusCode, body)
		}
		var b struct {
			Entry []struct {
				Resource struct {
					Content []struct {
						Attachment Attachment `json:"attachment"`
					} `json:"content"`
					PresentedForm []Attachment `json:"presentedForm"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		var atts []Attachment
		for _, en := range b.Entry {
			for _, c := range en.Resource.Content {
				atts = append(atts, c.Attachment)
			}
			atts = append(atts, en.Resource.PresentedForm...)
		}
		if len(atts) != 4 {
			t.Fatalf("%s: %d attachments, want 4 (2 versions x PDF + thumbnail)", typ, len(atts))
		}
		for _, a := range atts {
			res, data := e.get(t, "/"+a.URL, "Authorization", tok)
			if res.StatusCode != 200 {
				t.Fatalf("GET %s: %d", a.URL, res.StatusCode)
			}
			sum := sha1.Sum(data)
			if int64(len(data)) != a.Size || base64.StdEncoding.EncodeToString(sum[:]) != a.Hash {
				t.Errorf("%s: served %d bytes, SHA-1 %s; attachment says %d, %s",
					a.URL, len(data), base64.StdEncoding.EncodeToString(sum[:]), a.Size, a.Hash)
			}
			if res.Header.Get("Content-Type") != a.ContentType {
				t.Errorf("%s: served as %q, attachment says %q", a.URL, res.Header.Get("Content-Type"), a.ContentType)
			}
		}
	}
}
