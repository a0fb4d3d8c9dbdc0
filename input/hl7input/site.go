package hl7input

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/foliohealth/folio/report"
)

// Site is what a deployment knows about its senders that the messages do
// not say. The zero Site works: table 0074 codes, LOINC section codes and
// title words decide the kind, times without an offset are UTC, and the
// facility name is MSH-4. It is JSON (LoadSite reads a file of it; a job
// carrying HL7 v2 carries the Site it was read with, so the worker maps
// the message exactly as the listener did).
type Site struct {
	// ServiceKinds maps local OBR-24 diagnostic service section codes to a
	// report kind (report.KindAP or report.KindRadiology); it is consulted
	// before table 0074, so a site may also override a standard code.
	ServiceKinds map[string]string `json:"serviceKinds,omitempty"`
	// ServiceModalities maps local OBR-24 codes to a DICOM modality.
	ServiceModalities map[string]string `json:"serviceModalities,omitempty"`
	// SenderKinds is the kind of a sender's reports when nothing in a
	// message decides it, keyed by "MSH-3|MSH-4" (namespace ids) or by
	// MSH-4 alone.
	SenderKinds map[string]string `json:"senderKinds,omitempty"`
	// Facilities names the facility of MSH-4's namespace id (the name,
	// address and phone printed on every page); absent ones print MSH-4.
	Facilities map[string]report.Facility `json:"facilities,omitempty"`
	// TimeZone is the IANA time zone of timestamps sent without an offset
	// ("America/Detroit"; UTC when empty).
	TimeZone string `json:"timeZone,omitempty"`
}

// IsZero reports the default site.
func (s Site) IsZero() bool {
	return len(s.ServiceKinds)+len(s.ServiceModalities)+len(s.SenderKinds)+len(s.Facilities) == 0 && s.TimeZone == ""
}

// Check refuses a site table with an unknown kind, modality or time zone.
func (s Site) Check() error {
	for what, m := range map[string]map[string]string{"serviceKinds": s.ServiceKinds, "senderKinds": s.SenderKinds} {
		for k, v := range m {
			if v != report.KindAP && v != report.KindRadiology {
				return fmt.Errorf("%s[%q]: %q is not a report kind (%s or %s)", what, k, v, report.KindAP, report.KindRadiology)
			}
		}
	}
	for k, v := range s.ServiceModalities {
		if !slices.Contains(report.Modalities, v) {
			return fmt.Errorf("serviceModalities[%q]: %q is not one of the DICOM modalities %v", k, v, report.Modalities)
		}
	}
	if _, err := s.zone(); err != nil {
		return fmt.Errorf("timeZone: %v", err)
	}
	return nil
}

var (
	zonesMu sync.Mutex
	zones   = map[string]*time.Location{}
)

// zone returns the site's time zone (UTC when empty), loaded once.
func (s Site) zone() (*time.Location, error) {
	if s.TimeZone == "" {
		return time.UTC, nil
	}
	zonesMu.Lock()
	defer zonesMu.Unlock()
	if z, ok := zones[s.TimeZone]; ok {
		return z, nil
	}
	z, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, err
	}
	zones[s.TimeZone] = z
	return z, nil
}

// LoadSite reads a site table (JSON, unknown fields refused) and checks it.
func LoadSite(path string) (Site, error) {
	var s Site
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %v", path, err)
	}
	if err := s.Check(); err != nil {
		return s, fmt.Errorf("%s: %v", path, err)
	}
	return s, nil
}

// serviceKinds is HL7 table 0074 (diagnostic service section id), the codes
// that decide a report kind.
var serviceKinds = map[string]string{
	"SP": report.KindAP, "CP": report.KindAP, "PAT": report.KindAP, "SURG": report.KindAP, "AP": report.KindAP,
	"RAD": report.KindRadiology, "CT": report.KindRadiology, "NMR": report.KindRadiology, "NMS": report.KindRadiology,
	"RUS": report.KindRadiology, "RX": report.KindRadiology, "VUS": report.KindRadiology, "OUS": report.KindRadiology,
	"CUS": report.KindRadiology, "XRC": report.KindRadiology, "MR": report.KindRadiology, "US": report.KindRadiology,
	"MG": report.KindRadiology, "NM": report.KindRadiology, "PT": report.KindRadiology,
}

// serviceModalities maps table 0074 imaging codes to DICOM modalities.
var serviceModalities = map[string]string{
	"CT": "CT", "NMR": "MR", "MR": "MR", "NMS": "NM", "NM": "NM", "RUS": "US", "VUS": "US", "OUS": "US",
	"CUS": "US", "US": "US", "RX": "CR", "XRC": "CR", "MG": "MG", "PT": "PT",
}

// loincSections are LOINC report-section codes: their titles and the kind
// of report they belong to.
var loincSections = map[string]struct{ title, kind string }{
	"22636-5": {"Clinical History", report.KindAP},
	"22633-2": {"Nature of Specimen", report.KindAP},
	"22634-0": {"Gross Description", report.KindAP},
	"22635-7": {"Microscopic Description", report.KindAP},
	"22637-3": {"Final Diagnosis", report.KindAP},
	"22638-1": {"Comments", report.KindAP},
	"22639-9": {"Supplemental Report", report.KindAP},
	"33746-9": {"Pathology Report Diagnosis", report.KindAP},
	"60570-9": {"Pathology Report Synopsis", report.KindAP},
	"18782-3": {"Findings", report.KindRadiology},
	"19005-8": {"Impression", report.KindRadiology},
	"18834-2": {"Comparison", report.KindRadiology},
	"18785-6": {"Reason for Study", report.KindRadiology},
	"55111-9": {"Procedure", report.KindRadiology},
	"55752-0": {"Clinical Information", ""},
	"59776-5": {"Procedure Findings", ""},
	"29545-1": {"Physical Findings", ""},
}
