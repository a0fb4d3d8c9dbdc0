package fhir

import (
	"mime"
	"strconv"
	"strings"
)

// representation is a form a Binary can be returned in.
type representation int

const (
	reprNone     representation = iota
	reprResource                // the FHIR Binary resource as JSON
	reprRaw                     // the stored bytes
)

// mediaRange is one element of an Accept header.
type mediaRange struct {
	typ, sub string
	q        float64
	pos      int
}

// parseAccept parses an Accept header, dropping malformed elements.
func parseAccept(header string) []mediaRange {
	var out []mediaRange
	for i, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		out = append(out, mediaRange{typ: typ, sub: sub, q: q, pos: i})
	}
	return out
}

// isFHIRJSON reports whether a media type names the FHIR JSON format
// (application/json+fhir is the pre-R3 spelling still sent by some clients).
func isFHIRJSON(typ, sub string) bool {
	return typ == "application" && (sub == "fhir+json" || sub == "json+fhir")
}

// isJSON reports whether a stored content type is JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// match returns how specifically a media range matches a media type
// (3 exact, 2 type/*, 1 */*) or 0.
func (m mediaRange) match(contentType string) int {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0
	}
	typ, sub, _ := strings.Cut(mt, "/")
	switch {
	case m.typ == "*":
		return 1
	case m.typ == typ && m.sub == "*":
		return 2
	case m.typ == typ && m.sub == sub:
		return 3
	}
	return 0
}

// negotiate picks the representation of a Binary with the given content
// type for an Accept header, following FHIR R4 Binary: a FHIR type returns
// the resource; the content type itself, a wildcard covering it, or no
// Accept returns the bytes. application/json returns the bytes only when
// they are JSON. The best q wins; on a tie the more specific range, then
// the earlier one. reprNone means 406.
func negotiate(accept, contentType string) representation {
	if strings.TrimSpace(accept) == "" {
		return reprRaw
	}
	type cand struct {
		q    float64
		spec int
		pos  int
	}
	best := func(r representation, ranges []mediaRange) (cand, bool) {
		var c cand
		found := false
		for _, m := range ranges {
			var spec int
			if r == reprResource {
				if isFHIRJSON(m.typ, m.sub) {
					spec = 3
				}
			} else {
				spec = m.match(contentType)
				if m.typ == "application" && m.sub == "json" && !isJSON(contentType) {
					spec = 0
				}
			}
			if spec == 0 {
				continue
			}
			// The most specific matching range decides the q (RFC 9110 12.5.1).
			if !found || spec > c.spec || (spec == c.spec && m.pos < c.pos) {
				c, found = cand{q: m.q, spec: spec, pos: m.pos}, true
			}
		}
		return c, found && c.q > 0
	}
	ranges := parseAccept(accept)
	res, okRes := best(reprResource, ranges)
	raw, okRaw := best(reprRaw, ranges)
	switch {
	case okRes && okRaw:
		if res.q != raw.q {
			if res.q > raw.q {
				return reprResource
			}
			return reprRaw
		}
		if res.spec != raw.spec {
			if res.spec > raw.spec {
				return reprResource
			}
			return reprRaw
		}
		if res.pos <= raw.pos {
			return reprResource
		}
		return reprRaw
	case okRes:
		return reprResource
	case okRaw:
		return reprRaw
	}
	return reprNone
}

// formatOverride interprets _format. ok is false when it is absent.
func formatOverride(v string) (r representation, ok bool, err error) {
	if v == "" {
		return reprNone, false, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "json", "application/json", fhirJSON, "application/json+fhir":
		return reprResource, true, nil
	case "xml", "application/xml", "application/fhir+xml", "text/xml":
		return reprNone, true, fail(errNotAcceptable, "_format %q: this server speaks JSON only (_format=json)", truncate(v, 40))
	}
	return reprNone, true, fail(errInvalid, "_format %q is not a known format (json, application/fhir+json)", truncate(v, 40))
}
