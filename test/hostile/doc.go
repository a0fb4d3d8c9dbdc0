// Package hostile holds folio's hostile-input tests: reports whose every
// field points at a counting loopback listener, malformed and oversized
// reports through the whole pipeline, and a fuzz target for the FHIR HTTP
// request path. It has no code of its own.
package hostile
