package fhir

import (
	"net/http"
	"strconv"
	"time"

	"github.com/foliohealth/folio"
)

// started is the CapabilityStatement date: when this process started.
var started = time.Now()

// metadata answers GET /metadata with the CapabilityStatement.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	if err := onlyJSONFormat(r.URL.Query(), map[string]bool{"mode": true}); err != nil {
		writeError(w, r, err)
		return
	}
	read := []map[string]string{{"code": "read"}}
	security := map[string]any{
		"cors": false,
		"service": []codeableConcept{{
			Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "SMART-on-FHIR"}},
			Text:   "OAuth2 bearer tokens (JWT) with SMART scopes",
		}},
		"description": "Every request except /metadata and /.well-known/smart-configuration needs Authorization: Bearer <JWT>. " +
			"Binary reads need Binary.read and DocumentReference.read or DiagnosticReport.read (user/ or system/; SMART v1 or v2).",
	}
	if uris := h.oauthURIs(); len(uris) > 0 {
		security["extension"] = []map[string]any{{
			"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			"extension": uris,
		}}
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         started.UTC().Format(instantFormat),
		"publisher":    "folio",
		"kind":         "instance",
		"software":     map[string]string{"name": "folio", "version": folio.Version},
		"implementation": map[string]string{
			"description": "folio rendered clinical reports (read-only)",
			"url":         h.baseURL(r),
		},
		"fhirVersion": FHIRVersion,
		"format":      []string{"json", fhirJSON},
		"rest": []map[string]any{{
			"mode":     "server",
			"security": security,
			"resource": []map[string]any{
				{
					"type": "Binary", "interaction": read,
					"documentation": "Raw content by Accept (its content type, a matching wildcard, or none) or the Binary resource (application/fhir+json, _format=json); ETag, If-None-Match, single byte ranges.",
				},
				searchResource("DocumentReference"),
				searchResource("DiagnosticReport"),
			},
		}},
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, r, http.StatusOK, cs)
}

func (h *Handler) oauthURIs() []map[string]string {
	var out []map[string]string
	if u := h.cfg.SMART.AuthorizationEndpoint; u != "" {
		out = append(out, map[string]string{"url": "authorize", "valueUri": u})
	}
	if u := h.cfg.SMART.TokenEndpoint; u != "" {
		out = append(out, map[string]string{"url": "token", "valueUri": u})
	}
	return out
}

// smartConfiguration answers GET /.well-known/smart-configuration.
func (h *Handler) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	s := h.cfg.SMART
	conf := map[string]any{
		"capabilities": []string{"permission-v1", "permission-v2", "client-confidential-asymmetric"},
		"scopes_supported": []string{
			"user/Binary.read", "user/DocumentReference.read", "user/DiagnosticReport.read",
			"system/Binary.read", "system/DocumentReference.read", "system/DiagnosticReport.read",
			"user/Binary.r", "user/DocumentReference.rs", "user/DiagnosticReport.rs",
			"system/Binary.r", "system/DocumentReference.rs", "system/DiagnosticReport.rs",
		},
		"grant_types_supported":                 []string{"client_credentials", "authorization_code"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if h.cfg.AllowPatientAccess {
		conf["scopes_supported"] = append(conf["scopes_supported"].([]string),
			"patient/Binary.read", "patient/DocumentReference.read", "patient/DiagnosticReport.read")
		conf["capabilities"] = append(conf["capabilities"].([]string), "context-standalone-patient")
	}
	for k, v := range map[string]string{
		"issuer": s.Issuer, "jwks_uri": s.JWKSURI,
		"authorization_endpoint": s.AuthorizationEndpoint, "token_endpoint": s.TokenEndpoint,
	} {
		if v != "" {
			conf[k] = v
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	body := conf
	writeJSONType(w, r, "application/json", body)
}

// searchResource is the CapabilityStatement entry of a searchable type:
// every search parameter of searchDefs with its type, the paging, and for
// DocumentReference the $docref operation.
func searchResource(typ string) map[string]any {
	var params []map[string]string
	for _, d := range searchDefs[typ] {
		params = append(params, map[string]string{"name": d.name, "type": d.typ, "documentation": d.doc})
	}
	params = append(params,
		map[string]string{"name": "_count", "type": "number",
			"documentation": "page size: " + strconv.Itoa(DefaultCount) + " by default, at most " + strconv.Itoa(MaxCount)})
	res := map[string]any{
		"type":        typ,
		"interaction": []map[string]string{{"code": "read"}, {"code": "search-type"}},
		"searchParam": params,
		"documentation": "Search with GET or POST [type]/_search (form body). Parameters: comma for OR, repeated for AND; " +
			"tokens system|code, code or |code; dates with eq ne gt lt ge le sa eb ap and partial dates (YYYY, YYYY-MM; no time zone means UTC). " +
			"Results come in the order they were stored, " + strconv.Itoa(DefaultCount) + " a page by default (_count, at most " + strconv.Itoa(MaxCount) + "), " +
			"with next/previous links that stay valid while documents arrive, and total when it is known without reading further. " +
			"Entered-in-error resources are never listed. Unknown parameters are refused with 400, or ignored with Prefer: handling=lenient.",
	}
	if typ == "DocumentReference" {
		res["operation"] = []map[string]string{{
			"name":          "docref",
			"definition":    "http://hl7.org/fhir/us/core/OperationDefinition/docref",
			"documentation": "patient (required), start, end (dates), type (token): the patient's current documents whose period overlaps start..end. No on-demand generation: only stored documents are returned (on-demand=true is refused).",
		}}
	}
	return res
}
