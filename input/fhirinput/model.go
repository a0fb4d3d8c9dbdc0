package fhirinput

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// The FHIR R4 elements folio reads, hand-written (see docs/fhir-input.md
// for why not a generated model). One struct, resource, carries the
// elements of every resource type the mapping reads, so that a Bundle is
// decoded in a single encoding/json pass; elements whose JSON type differs
// between resource types (name, type, code) are held in forms that accept
// every variant. Elements folio does not read are ignored, as FHIR
// consumers do.

type resource struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         *meta       `json:"meta"`
	Text         *narrative  `json:"text"`
	Contained    []*resource `json:"contained"`

	// Bundle
	Type  json.RawMessage `json:"type"` // Bundle: code; Specimen, Composition: CodeableConcept
	Entry []entry         `json:"entry"`

	// DiagnosticReport, Observation (and others sharing the names)
	Identifier         identifiers  `json:"identifier"` // Composition: one
	BasedOn            []reference  `json:"basedOn"`
	Status             string       `json:"status"`
	Category           []codeable   `json:"category"`
	Code               codeables    `json:"code"` // PractitionerRole: array
	Subject            *reference   `json:"subject"`
	Encounter          *reference   `json:"encounter"`
	EffectiveDateTime  string       `json:"effectiveDateTime"`
	EffectiveInstant   string       `json:"effectiveInstant"`
	EffectivePeriod    *period      `json:"effectivePeriod"`
	Issued             string       `json:"issued"`
	Performer          []reference  `json:"performer"`
	ResultsInterpreter []reference  `json:"resultsInterpreter"`
	Specimen           references   `json:"specimen"` // Observation: one
	Result             []reference  `json:"result"`
	ImagingStudy       []reference  `json:"imagingStudy"`
	Media              []media      `json:"media"`
	Conclusion         string       `json:"conclusion"`
	ConclusionCode     []codeable   `json:"conclusionCode"`
	PresentedForm      []attachment `json:"presentedForm"`
	HasMember          []reference  `json:"hasMember"`
	Component          []component  `json:"component"`
	Note               []annotation `json:"note"`
	BodySite           codeables    `json:"bodySite"` // ServiceRequest: a list
	Requester          *reference   `json:"requester"`
	Content            *attachment  `json:"content"` // Media
	value

	// Patient, Practitioner (HumanName list), Organization (string)
	Name      json.RawMessage `json:"name"`
	Gender    string          `json:"gender"`
	BirthDate string          `json:"birthDate"`
	Telecom   []contactPoint  `json:"telecom"`
	Address   []address       `json:"address"`

	// PractitionerRole
	Practitioner *reference `json:"practitioner"`
	Organization *reference `json:"organization"`

	// Specimen
	AccessionIdentifier *identifier `json:"accessionIdentifier"`
	ReceivedTime        string      `json:"receivedTime"`
	Collection          *collection `json:"collection"`

	// Composition
	Title     string      `json:"title"`
	Date      string      `json:"date"`
	Author    []reference `json:"author"`
	Attester  []attester  `json:"attester"`
	Custodian *reference  `json:"custodian"`
	Section   []section   `json:"section"`

	// ImagingStudy
	Started     string   `json:"started"`
	Modality    modality `json:"modality"`
	Series      []series `json:"series"`
	Description string   `json:"description"`

	// Binary
	ContentType string `json:"contentType"`
	Data        b64    `json:"data"`
}

// value is Observation.value[x] and its companions, shared with components.
type value struct {
	ValueString          *string    `json:"valueString"`
	ValueQuantity        *quantity  `json:"valueQuantity"`
	ValueCodeableConcept *codeable  `json:"valueCodeableConcept"`
	ValueBoolean         *bool      `json:"valueBoolean"`
	ValueInteger         *int64     `json:"valueInteger"`
	ValueDateTime        *string    `json:"valueDateTime"`
	ValueTime            *string    `json:"valueTime"`
	ValuePeriod          *period    `json:"valuePeriod"`
	ValueRange           *rangeT    `json:"valueRange"`
	ValueRatio           *ratio     `json:"valueRatio"`
	ValueSampledData     *struct{}  `json:"valueSampledData"`
	DataAbsentReason     *codeable  `json:"dataAbsentReason"`
	Interpretation       []codeable `json:"interpretation"`
	ReferenceRange       []refRange `json:"referenceRange"`
}

type component struct {
	Code codeable `json:"code"`
	value
}

type entry struct {
	FullURL  string    `json:"fullUrl"`
	Resource *resource `json:"resource"`
}

type meta struct {
	VersionID   string `json:"versionId"`
	LastUpdated string `json:"lastUpdated"`
}

type narrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type codeable struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

// b64 is base64Binary: standard base64, whitespace between the characters
// allowed (as XML Schema's base64Binary allows it and some servers send it).
type b64 []byte

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("an attachment or Binary data element is not base64: %v", err)
	}
	*b = out
	return nil
}

// identifiers is an Identifier or a list of them (Composition.identifier
// is one, everywhere else a list).
type identifiers []identifier

func (r *identifiers) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var l []identifier
		err := json.Unmarshal(b, &l)
		*r = l
		return err
	}
	if string(b) == "null" {
		return nil
	}
	var one identifier
	err := json.Unmarshal(b, &one)
	*r = identifiers{one}
	return err
}

// references is a Reference or a list of them (DiagnosticReport.specimen
// is a list, Observation.specimen is one).
type references []reference

func (r *references) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var l []reference
		err := json.Unmarshal(b, &l)
		*r = l
		return err
	}
	if string(b) == "null" {
		return nil
	}
	var one reference
	err := json.Unmarshal(b, &one)
	*r = references{one}
	return err
}

// codeables is a CodeableConcept or a list of them (DiagnosticReport.code
// is one, PractitionerRole.code is a list).
type codeables []codeable

func (c *codeables) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var l []codeable
		err := json.Unmarshal(b, &l)
		*c = l
		return err
	}
	if string(b) == "null" {
		return nil
	}
	var one codeable
	err := json.Unmarshal(b, &one)
	*c = codeables{one}
	return err
}

type identifier struct {
	Use    string    `json:"use"`
	Type   *codeable `json:"type"`
	System string    `json:"system"`
	Value  string    `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference"`
	Type       string      `json:"type"`
	Identifier *identifier `json:"identifier"`
	Display    string      `json:"display"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type quantity struct {
	Value      json.Number `json:"value"`
	Comparator string      `json:"comparator"`
	Unit       string      `json:"unit"`
	System     string      `json:"system"`
	Code       string      `json:"code"`
}

type rangeT struct {
	Low  *quantity `json:"low"`
	High *quantity `json:"high"`
}

type ratio struct {
	Numerator   *quantity `json:"numerator"`
	Denominator *quantity `json:"denominator"`
}

type refRange struct {
	Low  *quantity `json:"low"`
	High *quantity `json:"high"`
	Type *codeable `json:"type"`
	Text string    `json:"text"`
}

type annotation struct {
	AuthorString string `json:"authorString"`
	Time         string `json:"time"`
	Text         string `json:"text"`
}

type attachment struct {
	ContentType string `json:"contentType"`
	Language    string `json:"language"`
	Data        b64    `json:"data"`
	URL         string `json:"url"`
	Title       string `json:"title"`
	Creation    string `json:"creation"`
}

type media struct {
	Comment string    `json:"comment"`
	Link    reference `json:"link"`
}

type contactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type address struct {
	Text       string   `json:"text"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	State      string   `json:"state"`
	PostalCode string   `json:"postalCode"`
	Country    string   `json:"country"`
}

type humanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
	Suffix []string `json:"suffix"`
	Period *period  `json:"period"`
}

type collection struct {
	CollectedDateTime string    `json:"collectedDateTime"`
	CollectedPeriod   *period   `json:"collectedPeriod"`
	BodySite          *codeable `json:"bodySite"`
	Method            *codeable `json:"method"`
}

type attester struct {
	Mode  string     `json:"mode"`
	Time  string     `json:"time"`
	Party *reference `json:"party"`
}

type section struct {
	Title   string      `json:"title"`
	Code    *codeable   `json:"code"`
	Text    *narrative  `json:"text"`
	Entry   []reference `json:"entry"`
	Section []section   `json:"section"`
}

type series struct {
	Modality    *coding `json:"modality"`
	BodySite    *coding `json:"bodySite"`
	Description string  `json:"description"`
}

// modality is the "modality" element of the resources folio reads:
// ImagingStudy.modality is a list of Coding (0..*), Media.modality one
// CodeableConcept (0..1, R4). Both decode to their codings.
type modality []coding

// UnmarshalJSON implements json.Unmarshaler.
func (m *modality) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var cc codeable
		if err := json.Unmarshal(b, &cc); err != nil {
			return err
		}
		*m = cc.Coding
		return nil
	}
	var cs []coding
	if err := json.Unmarshal(b, &cs); err != nil {
		return err
	}
	*m = cs
	return nil
}
