// read-binary.mjs: read one Binary from a running folio FHIR endpoint with
// two real FHIR clients that folio did not write, and print the SHA-256 of
// what each one got, as one JSON object on stdout:
//
//   {"fhirclient": {"sha256": "...", "bytes": N, "contentType": "..."},
//    "fhir-kit-client": {"sha256": "...", "bytes": N, "contentType": "..."}}
//
// Environment: BASE_URL (e.g. http://127.0.0.1:8080), TOKEN (a bearer token
// with user/Binary.read and user/DocumentReference.read), BINARY_ID.
// Optional CONTENT_TYPE: the type fhirclient asks for (default
// application/pdf).
//
// fhirclient asks for the content type and reads the raw bytes of the
// response; fhir-kit-client reads resourceType Binary, which asks for
// application/fhir+json and gets the Binary resource, whose base64 data is
// decoded. Any failure exits non-zero with the reason on stderr.
//
// Run `npm ci --prefix fhir/testdata/clients` once first.

import { createHash } from "node:crypto";
import smart from "fhirclient";
import { Client as FhirKitClient } from "fhir-kit-client";

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (!v) {
    console.error(`read-binary.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const baseUrl = env("BASE_URL").replace(/\/+$/, "");
const token = env("TOKEN");
const id = env("BINARY_ID");
const wantType = env("CONTENT_TYPE", "application/pdf");

function summary(bytes, contentType) {
  return {
    sha256: createHash("sha256").update(bytes).digest("hex"),
    bytes: bytes.length,
    contentType,
  };
}

// fhirclient: a client for an already-authorised server (no SMART launch),
// then client.request with includeResponse so we get the raw fetch Response
// and read its bytes ourselves. For a non-JSON, non-text content type
// fhirclient leaves the body unread.
async function viaFhirclient() {
  // The Node adapter wants request/response objects and a storage for the
  // SMART launch flow; client() with a ready token needs only the storage
  // (it clears its state there on a 401).
  const store = new Map();
  const storage = {
    get: async (k) => store.get(k),
    set: async (k, v) => { store.set(k, v); return v; },
    unset: async (k) => store.delete(k),
  };
  const client = smart({ url: baseUrl, headers: {} }, {}, storage).client({
    serverUrl: baseUrl,
    tokenResponse: { access_token: token, token_type: "bearer" },
  });
  const result = await client.request(
    { url: `Binary/${id}`, headers: { accept: wantType }, includeResponse: true },
    { useRefreshToken: false },
  );
  const res = result.response;
  if (!res) {
    throw new Error("fhirclient returned no response object");
  }
  const type = res.headers.get("content-type") ?? "";
  if (result.body !== undefined) {
    throw new Error(`fhirclient parsed the body as ${type}, expected raw ${wantType}`);
  }
  if (!type.startsWith(wantType)) {
    throw new Error(`fhirclient got Content-Type ${type}, asked for ${wantType}`);
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  return summary(bytes, type);
}

// fhir-kit-client: read({resourceType: "Binary"}) asks for
// application/fhir+json and gets the Binary resource.
async function viaFhirKitClient() {
  const client = new FhirKitClient({ baseUrl, bearerToken: token });
  const binary = await client.read({ resourceType: "Binary", id });
  if (!binary || binary.resourceType !== "Binary") {
    throw new Error(`fhir-kit-client got ${JSON.stringify(binary)?.slice(0, 200)}, not a Binary`);
  }
  if (binary.id !== id) {
    throw new Error(`fhir-kit-client got Binary ${binary.id}, asked for ${id}`);
  }
  if (typeof binary.data !== "string" || binary.data === "") {
    throw new Error("fhir-kit-client: the Binary has no data");
  }
  return summary(Buffer.from(binary.data, "base64"), binary.contentType);
}

async function main() {
  const out = {};
  const failures = [];
  for (const [name, fn] of [["fhirclient", viaFhirclient], ["fhir-kit-client", viaFhirKitClient]]) {
    try {
      out[name] = await fn();
    } catch (err) {
      const detail = err?.response?.status ? ` (HTTP ${err.response.status})` : err?.status ? ` (HTTP ${err.status})` : "";
      failures.push(`${name}: ${err?.message ?? err}${detail}`);
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
  if (failures.length > 0) {
    for (const f of failures) console.error(f);
    process.exit(1);
  }
}

await main();
