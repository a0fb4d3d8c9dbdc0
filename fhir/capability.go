package fhir

import (
	"net/http"
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
	readSearch := []map[string]string{{"code": "read"}, {"code": "search-type"}}
	param := func(name, typ, doc string) map[string]string {
		return map[string]string{"name": name, "type": typ, "documentation": doc}
	}
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
				{
					"type": "DocumentReference", "interaction": readSearch,
					"searchParam": []map[string]string{
						param("patient", "reference", "required"),
						param("type", "token", "LOINC 11526-1 pathology study, 18748-4 diagnostic imaging study"),
						param("category", "token", "clinical-note; LOINC LP7839-6 pathology, LP29684-5 radiology"),
					},
				},
				{
					"type": "DiagnosticReport", "interaction": readSearch,
					"searchParam": []map[string]string{
						param("patient", "reference", "required"),
						param("code", "token", "LOINC report type"),
						param("category", "token", "LOINC LP7839-6 pathology, LP29684-5 radiology"),
					},
				},
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
