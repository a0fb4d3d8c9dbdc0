package report

import _ "embed" // for JSONSchema

// JSONSchema is the machine-readable JSON Schema (draft 2020-12) of the v1
// contract, schema/report-v1.schema.json. It expresses every rule a JSON
// Schema can; Decode enforces those and the rest (table row widths, image
// magic bytes and pixel counts, duplicate keys, size limits). Tests check
// that the two agree on every fixture.
//
//go:embed schema/report-v1.schema.json
var JSONSchema []byte
