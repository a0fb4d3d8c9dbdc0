package fhirinput

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// Limits bounds what a FHIR input may make folio do. A zero field means
// the default from DefaultLimits.
type Limits struct {
	// MaxBytes bounds the input, checked before parsing (as for report JSON).
	MaxBytes int
	// MaxDepth bounds JSON nesting, checked before decoding.
	MaxDepth int
	// MaxResources bounds Bundle entries and contained resources together.
	MaxResources int
	// MaxMemberDepth bounds how deeply hasMember panels are followed.
	MaxMemberDepth int
}

// DefaultLimits: 16 MiB (report v1's limit), 64 levels of JSON nesting
// (FHIR nests deeper than report v1: Bundle, entry, resource, contained,
// component, value, coding...), 5,000 resources, 8 levels of panels.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 16 << 20, MaxDepth: 64, MaxResources: 5000, MaxMemberDepth: 8}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxResources <= 0 {
		l.MaxResources = d.MaxResources
	}
	if l.MaxMemberDepth <= 0 {
		l.MaxMemberDepth = d.MaxMemberDepth
	}
	return l
}

// Sniff reports the top-level resourceType of data when data looks like
// FHIR JSON (a JSON object with a string "resourceType" member), else "".
// It reads no more than it must and never fails.
func Sniff(data []byte) string {
	data = folio.TrimBOM(data)
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return ""
		}
		if k == "resourceType" {
			v, err := d.Token()
			if s, ok := v.(string); ok && err == nil {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

// checkDepth refuses JSON nested deeper than max without building anything:
// one pass over the bytes, counting brackets outside strings.
func checkDepth(data []byte, max int) error {
	depth, inStr := 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				return fmt.Errorf("JSON nests more than %d levels deep", max)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// knownTypes are the resource types the mapping reads; a decoding error in
// one of them refuses the input, an error in any other type is ignored
// (the resource is only ever named, never read).
var knownTypes = map[string]bool{
	"Bundle": true, "DiagnosticReport": true, "Observation": true, "Patient": true,
	"Practitioner": true, "PractitionerRole": true, "Organization": true, "Specimen": true,
	"Composition": true, "ImagingStudy": true, "Binary": true, "Media": true,
	"ServiceRequest": true, // basedOn: its requester is the ordering provider
}

// decode parses data into the resource tree, refusing what is not FHIR JSON
// with a FHIR path and a sentence.
func decode(data []byte, lim Limits) (*resource, error) {
	data = folio.TrimBOM(data) // a .NET FHIR server's byte order mark says nothing
	if len(data) > lim.MaxBytes {
		return nil, refuse("$", "input is %d bytes, more than the limit of %d", len(data), lim.MaxBytes)
	}
	if !utf8.Valid(data) {
		return nil, refuse("$", "not valid UTF-8 (FHIR JSON is UTF-8)")
	}
	if err := checkDepth(data, lim.MaxDepth); err != nil {
		return nil, refuse("$", "%v", err)
	}
	var root resource
	err := json.Unmarshal(data, &root)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, refuse("$", "not FHIR JSON: %s", syntaxError(data))
	}
	if b := bytes.TrimSpace(data); len(b) == 0 || b[0] != '{' {
		return nil, refuse("$", "not FHIR JSON: a FHIR resource is a JSON object")
	}
	rt := root.ResourceType
	if rt == "" {
		rt = Sniff(data) // a type error may have stopped the decoder early
	}
	if rt == "" {
		return nil, refuse("resourceType", "required: not a FHIR resource (folio reads a DiagnosticReport, or a Bundle holding one)")
	}
	if err == nil {
		return &root, nil
	}
	// Slow path, taken only for input with a type error: decode entry by
	// entry to name the path, and ignore errors in resources folio never
	// reads.
	if rt != "Bundle" && rt != "DiagnosticReport" {
		// A resource folio does not read (a DocumentReference, whose
		// content is a list) is refused for what it is, not for the
		// shape of an element folio would never look at.
		return nil, refuse("resourceType", "%s is not a report: folio reads a DiagnosticReport, or a Bundle holding one (or a Composition-led document Bundle)", quote(rt))
	}
	if rt != "Bundle" {
		return nil, typeError(rt, err)
	}
	var shell struct {
		Type  json.RawMessage `json:"type"`
		Entry []struct {
			FullURL  json.RawMessage `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &shell); err != nil {
		return nil, typeError("Bundle", err)
	}
	root = resource{ResourceType: "Bundle", Type: shell.Type}
	for i, e := range shell.Entry {
		p := "Bundle.entry[" + strconv.Itoa(i) + "]"
		var en entry
		if len(e.FullURL) > 0 && json.Unmarshal(e.FullURL, &en.FullURL) != nil {
			return nil, refuse(p+".fullUrl", "must be a string")
		}
		if len(e.Resource) > 0 && string(e.Resource) != "null" {
			var r resource
			if err := json.Unmarshal(e.Resource, &r); err != nil && (knownTypes[r.ResourceType] || r.ResourceType == "") {
				return nil, typeError(p+".resource", err)
			}
			en.Resource = &r
		}
		root.Entry = append(root.Entry, en)
	}
	return &root, nil
}

// typeError names the element of a JSON type mismatch.
func typeError(path string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if f := strings.ReplaceAll("."+te.Field, ".value.", "."); f != "." {
			path += f // the embedded Go struct "value" is not a FHIR element
		}
		return refuse(path, "must be %s, not a JSON %s", fhirType(te.Type.String()), te.Value)
	}
	return refuse(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func fhirType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]uint8"):
		return "base64 data"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string":
		return "a string"
	case goType == "bool", goType == "*bool":
		return "true or false"
	case strings.Contains(goType, "int"), strings.Contains(goType, "Number"):
		return "a number"
	}
	return "an object"
}

// syntaxError says where JSON stops being JSON.
func syntaxError(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	if err != nil {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "invalid JSON"
}

// refuse returns a one-problem report.Errors.
func refuse(path, format string, args ...any) error {
	return report.Errors{{Path: path, Rule: fmt.Sprintf(format, args...)}}
}
