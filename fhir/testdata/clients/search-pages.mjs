// search-pages.mjs: search a running folio FHIR endpoint with the real
// fhir-kit-client a page at a time and print what each page held, as one
// JSON object on stdout:
//
//   {"get":  {"total": N, "pages": [["id", ...], ...]},
//    "post": {"total": N, "pages": [...]},
//    "back": {"pages": [...]}}
//
// get: client.search (GET [type]?patient=&_count=) then client.nextPage
// until there is no next link; post: the same with postSearch (POST
// [type]/_search, form body); back: from the last page of get,
// client.prevPage until there is no previous link (pages in the order
// read, last first).
//
// Environment: BASE_URL, TOKEN (user/DocumentReference.read), PATIENT,
// COUNT (page size), RESOURCE_TYPE (default DocumentReference). Any
// failure exits non-zero with the reason on stderr.
//
// Run `npm ci --prefix fhir/testdata/clients` once first.

import { Client } from "fhir-kit-client";

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (!v) {
    console.error(`search-pages.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const client = new Client({ baseUrl: env("BASE_URL").replace(/\/+$/, ""), bearerToken: env("TOKEN") });
const resourceType = env("RESOURCE_TYPE", "DocumentReference");
const searchParams = { patient: env("PATIENT"), _count: env("COUNT") };
const maxPages = 10000;

function ids(bundle) {
  if (!bundle || bundle.resourceType !== "Bundle" || bundle.type !== "searchset") {
    throw new Error(`not a searchset Bundle: ${JSON.stringify(bundle)?.slice(0, 200)}`);
  }
  return (bundle.entry ?? []).map((e) => {
    if (e.resource?.resourceType !== resourceType) {
      throw new Error(`entry is a ${e.resource?.resourceType}, not a ${resourceType}`);
    }
    return e.resource.id;
  });
}

async function follow(first, step) {
  const pages = [];
  let bundle = first;
  let last = first;
  while (bundle) {
    pages.push(ids(bundle));
    if (pages.length > maxPages) throw new Error("more than " + maxPages + " pages");
    last = bundle;
    bundle = await step(bundle);
  }
  return { total: first.total, pages, last };
}

const get = await follow(
  await client.search({ resourceType, searchParams }),
  (bundle) => client.nextPage({ bundle }),
);
const post = await follow(
  await client.search({ resourceType, searchParams, options: { postSearch: true } }),
  (bundle) => client.nextPage({ bundle }),
);
const back = await follow(get.last, (bundle) => client.prevPage({ bundle }));

console.log(JSON.stringify({
  get: { total: get.total, pages: get.pages },
  post: { total: post.total, pages: post.pages },
  back: { pages: back.pages },
}));
