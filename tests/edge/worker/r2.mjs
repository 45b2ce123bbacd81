// R2's S3-compatible API (path style: /{bucket}/{key}) on top of real R2
// bindings. Signatures are verified by the gateway before a request gets here.
import { utf8len, md5Hex, b64decode, toHex } from "./util.mjs";
import { resolve, list, binding, ensureSchema } from "./registry.mjs";

const MiB = 1024 * 1024;
export const R2_LIMITS = {
  minPartBytes: 5 * MiB,
  maxPartBytes: 5 * 1024 * MiB - 5 * MiB,
  maxObjectBytes: 5 * 1024 * MiB - 5 * MiB, // single PUT
  maxParts: 10_000,
  keyBytes: 1024,
  metadataBytes: 8192,
  maxKeys: 1000,
};

class S3Error extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
const XMLHEAD = '<?xml version="1.0" encoding="UTF-8"?>';
const NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

function xml(body, status = 200, headers = {}) {
  return new Response(XMLHEAD + body, { status, headers: { "content-type": "application/xml", ...headers } });
}

export function s3ErrorResponse(err, resource = "") {
  if (!(err instanceof S3Error)) err = new S3Error(500, "InternalError", `We encountered an internal error. Please try again. (${err && err.message})`);
  return xml(`<Error><Code>${esc(err.code)}</Code><Message>${esc(err.message)}</Message>${resource ? `<Resource>${esc(resource)}</Resource>` : ""}</Error>`,
    err.status, err.headers);
}

const quote = (etag) => `"${String(etag).replace(/^"|"$/g, "")}"`;
const unquote = (etag) => String(etag).trim().replace(/^W\//, "").replace(/^"|"$/g, "");

const lastWrite = new Map();
function claimWrite(env, bucket, key) {
  const iv = parseInt(env.EDGE_R2_WRITE_INTERVAL_MS ?? "1000", 10);
  if (!(iv > 0)) return;
  const k = `${bucket}\0${key}`;
  const now = Date.now();
  const prev = lastWrite.get(k);
  if (prev !== undefined && now - prev < iv) {
    throw new S3Error(429, "TooManyRequests", "Reduce your concurrent request rate for the same object.", { "retry-after": "1" });
  }
  lastWrite.set(k, now);
}

function httpMetadataFrom(headers) {
  const hm = {};
  const map = { "content-type": "contentType", "content-language": "contentLanguage", "content-disposition": "contentDisposition",
    "content-encoding": "contentEncoding", "cache-control": "cacheControl" };
  for (const [h, k] of Object.entries(map)) if (headers.get(h)) hm[k] = headers.get(h);
  if (headers.get("expires")) { const d = new Date(headers.get("expires")); if (!isNaN(d)) hm.cacheExpiry = d; }
  return hm;
}

function customMetadataFrom(headers) {
  const cm = {};
  let size = 0;
  for (const [k, v] of headers) {
    if (k.startsWith("x-amz-meta-")) {
      const name = k.slice("x-amz-meta-".length);
      cm[name] = v;
      size += utf8len(name) + utf8len(v);
    }
  }
  if (size > R2_LIMITS.metadataBytes) throw new S3Error(400, "MetadataTooLarge", `Your metadata headers exceed the maximum allowed metadata size of ${R2_LIMITS.metadataBytes} bytes.`);
  return cm;
}

function objectHeaders(obj) {
  const h = new Headers();
  h.set("etag", obj.httpEtag || quote(obj.etag));
  h.set("last-modified", obj.uploaded.toUTCString());
  h.set("accept-ranges", "bytes");
  const hm = obj.httpMetadata || {};
  h.set("content-type", hm.contentType || "application/octet-stream");
  if (hm.contentLanguage) h.set("content-language", hm.contentLanguage);
  if (hm.contentDisposition) h.set("content-disposition", hm.contentDisposition);
  if (hm.contentEncoding) h.set("content-encoding", hm.contentEncoding);
  if (hm.cacheControl) h.set("cache-control", hm.cacheControl);
  if (hm.cacheExpiry) h.set("expires", new Date(hm.cacheExpiry).toUTCString());
  for (const [k, v] of Object.entries(obj.customMetadata || {})) h.set(`x-amz-meta-${k}`, v);
  return h;
}

function checkKey(key) {
  if (utf8len(key) > R2_LIMITS.keyBytes) throw new S3Error(400, "KeyTooLongError", "Your key is too long.");
}

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // S3 ignores unparseable ranges
  let start, end;
  if (m[1] === "") {
    const n = parseInt(m[2], 10);
    if (n === 0) throw new S3Error(416, "InvalidRange", "The requested range is not satisfiable", { "content-range": `bytes */${size}` });
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = parseInt(m[1], 10);
    end = m[2] === "" ? size - 1 : Math.min(parseInt(m[2], 10), size - 1);
    if (m[2] !== "" && parseInt(m[2], 10) < start) return null;
  }
  if (start >= size) throw new S3Error(416, "InvalidRange", "The requested range is not satisfiable", { "content-range": `bytes */${size}` });
  return { start, end };
}

export async function handleS3(req, env) {
  const path = new URL(req.url).pathname;
  try {
    return await route(req, env);
  } catch (e) {
    if (!(e instanceof S3Error)) console.error("s3 error", e && e.stack ? e.stack : e);
    if (req.method === "HEAD" && e instanceof S3Error) return new Response(null, { status: e.status, headers: e.headers });
    return s3ErrorResponse(e, path);
  }
}

async function route(req, env) {
  const url = new URL(req.url);
  const path = url.pathname;
  {
    await ensureSchema(env);
    const segs = path.split("/");
    const bucket = decodeURIComponent(segs[1] || "");
    const key = segs.length > 2 ? decodeURIComponent(segs.slice(2).join("/")) : "";
    const q = url.searchParams;
    const method = req.method;
    if (!bucket) {
      if (method === "GET") return listBuckets(env);
      throw new S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new S3Error(400, "InvalidBucketName", "The specified bucket is not valid.");
    }
    const row = await resolve(env, "r2", bucket);
    const b = binding(env, "r2", row);
    if (!key) {
      if (method === "PUT" || method === "HEAD") return new Response(null, { status: 200, headers: { location: `/${bucket}` } });
      if (method === "GET" && q.has("uploads")) return listUploads(env, bucket);
      if (method === "GET") return listObjects(b, bucket, q);
      if (method === "POST" && q.has("delete")) return deleteObjects(req, b, bucket);
      if (method === "DELETE") return new Response(null, { status: 204 });
      throw new S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    }
    checkKey(key);
    if (method === "POST" && q.has("uploads")) return createUpload(req, env, b, bucket, key);
    if (method === "POST" && q.has("uploadId")) return completeUpload(req, env, b, bucket, key, q.get("uploadId"));
    if (method === "PUT" && q.has("uploadId")) return uploadPart(req, env, b, bucket, key, q);
    if (method === "GET" && q.has("uploadId")) return listParts(env, bucket, key, q);
    if (method === "DELETE" && q.has("uploadId")) return abortUpload(env, b, bucket, key, q.get("uploadId"));
    if (method === "PUT" && req.headers.has("x-amz-copy-source")) return copyObject(req, env, bucket, key);
    if (method === "PUT") return putObject(req, env, b, bucket, key);
    if (method === "GET" || method === "HEAD") return getObject(req, b, key, method === "HEAD");
    if (method === "DELETE") { await b.delete(key); return new Response(null, { status: 204 }); }
    throw new S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
  }
}

async function listBuckets(env) {
  const rows = await list(env, "r2");
  return xml(`<ListAllMyBucketsResult${NS}><Owner><ID>edge-local</ID><DisplayName>edge-local</DisplayName></Owner><Buckets>${
    rows.map((r) => `<Bucket><Name>${esc(r.id)}</Name><CreationDate>${esc(r.created_at)}</CreationDate></Bucket>`).join("")
  }</Buckets></ListAllMyBucketsResult>`);
}

async function readBody(req) {
  return new Uint8Array(await req.arrayBuffer());
}

async function checkContentMd5(req, data) {
  const h = req.headers.get("content-md5");
  if (!h) return;
  let want;
  try { want = toHex(b64decode(h)); } catch { throw new S3Error(400, "InvalidDigest", "The Content-MD5 you specified is not valid."); }
  if (want.length !== 32) throw new S3Error(400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
  if (want !== (await md5Hex(data))) throw new S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
}

async function putObject(req, env, b, bucket, key) {
  const data = await readBody(req);
  if (data.byteLength > R2_LIMITS.maxObjectBytes) throw new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.");
  await checkContentMd5(req, data);
  const customMetadata = customMetadataFrom(req.headers);
  const ifNoneMatch = req.headers.get("if-none-match");
  const ifMatch = req.headers.get("if-match");
  if (ifNoneMatch || ifMatch) {
    const cur = await b.head(key);
    if (ifNoneMatch && cur && (ifNoneMatch.trim() === "*" || unquote(ifNoneMatch) === cur.etag)) {
      throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
    }
    if (ifMatch && (!cur || (ifMatch.trim() !== "*" && unquote(ifMatch) !== cur.etag))) {
      throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
    }
  }
  claimWrite(env, bucket, key);
  const obj = await b.put(key, data, { httpMetadata: httpMetadataFrom(req.headers), customMetadata });
  return new Response(null, { status: 200, headers: { etag: obj.httpEtag } });
}

async function copyObject(req, env, bucket, key) {
  let src = decodeURIComponent(req.headers.get("x-amz-copy-source").split("?")[0]).replace(/^\//, "");
  const i = src.indexOf("/");
  const sb = src.slice(0, i), sk = src.slice(i + 1);
  const srow = await resolve(env, "r2", sb);
  const obj = await binding(env, "r2", srow).get(sk);
  if (!obj) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.");
  const data = new Uint8Array(await obj.arrayBuffer());
  claimWrite(env, bucket, key);
  const replace = (req.headers.get("x-amz-metadata-directive") || "COPY").toUpperCase() === "REPLACE";
  const out = await binding(env, "r2", await resolve(env, "r2", bucket)).put(key, data, replace
    ? { httpMetadata: httpMetadataFrom(req.headers), customMetadata: customMetadataFrom(req.headers) }
    : { httpMetadata: obj.httpMetadata, customMetadata: obj.customMetadata });
  return xml(`<CopyObjectResult><LastModified>${out.uploaded.toISOString()}</LastModified><ETag>${esc(out.httpEtag)}</ETag></CopyObjectResult>`);
}

async function getObject(req, b, key, head) {
  const meta = await b.head(key);
  if (!meta) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.");
  const inm = req.headers.get("if-none-match");
  const im = req.headers.get("if-match");
  if (im && im.trim() !== "*" && unquote(im) !== meta.etag) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  if (inm && (inm.trim() === "*" || unquote(inm) === meta.etag)) return new Response(null, { status: 304, headers: { etag: meta.httpEtag } });
  const headers = objectHeaders(meta);
  const rh = req.headers.get("range");
  const range = rh ? parseRange(rh, meta.size) : null;
  if (head) {
    headers.set("content-length", String(meta.size));
    return new Response(null, { status: 200, headers });
  }
  if (range) {
    const obj = await b.get(key, { range: { offset: range.start, length: range.end - range.start + 1 } });
    headers.set("content-range", `bytes ${range.start}-${range.end}/${meta.size}`);
    headers.set("content-length", String(range.end - range.start + 1));
    return new Response(obj.body, { status: 206, headers });
  }
  const obj = await b.get(key);
  headers.set("content-length", String(obj.size));
  return new Response(obj.body, { status: 200, headers });
}

async function deleteObjects(req, b, bucket) {
  const text = await req.text();
  const keys = [...text.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => unescapeXml(m[1]));
  if (keys.length > 1000) throw new S3Error(400, "MalformedXML", "You may delete at most 1000 objects per request.");
  const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(text);
  if (keys.length) await b.delete(keys);
  return xml(`<DeleteResult${NS}>${quiet ? "" : keys.map((k) => `<Deleted><Key>${esc(k)}</Key></Deleted>`).join("")}</DeleteResult>`);
}

function unescapeXml(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, d) => String.fromCharCode(+d)).replace(/&amp;/g, "&");
}

async function listObjects(b, bucket, q) {
  const v2 = q.get("list-type") === "2";
  const prefix = q.get("prefix") || "";
  const delimiter = q.get("delimiter") || undefined;
  let maxKeys = q.has("max-keys") ? parseInt(q.get("max-keys"), 10) : 1000;
  if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error(400, "InvalidArgument", "max-keys must be a non-negative integer");
  maxKeys = Math.min(maxKeys, R2_LIMITS.maxKeys);
  const token = v2 ? q.get("continuation-token") : null;
  const startAfter = v2 ? q.get("start-after") : q.get("marker");
  const urlEnc = q.get("encoding-type") === "url";
  const enc = (s) => esc(urlEnc ? encodeURIComponent(s).replace(/%2F/g, "/") : s);
  let res = { objects: [], delimitedPrefixes: [], truncated: false };
  if (maxKeys > 0) {
    const opts = { prefix, delimiter, limit: maxKeys, include: ["httpMetadata"] };
    if (token) opts.cursor = token;
    else if (startAfter) opts.startAfter = startAfter;
    try { res = await b.list(opts); } catch (e) {
      if (token) throw new S3Error(400, "InvalidArgument", "The continuation token provided is incorrect");
      throw e;
    }
  }
  const contents = res.objects.map((o) => `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.uploaded.toISOString()}</LastModified><ETag>${esc(o.httpEtag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join("");
  const cps = (res.delimitedPrefixes || []).map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join("");
  const keyCount = res.objects.length + (res.delimitedPrefixes || []).length;
  let body = `<ListBucketResult${NS}><Name>${esc(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>`;
  if (v2) {
    body += `<KeyCount>${keyCount}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`;
    if (delimiter) body += `<Delimiter>${enc(delimiter)}</Delimiter>`;
    body += `<IsTruncated>${res.truncated}</IsTruncated>`;
    if (token) body += `<ContinuationToken>${esc(token)}</ContinuationToken>`;
    if (res.truncated) body += `<NextContinuationToken>${esc(res.cursor)}</NextContinuationToken>`;
    if (startAfter) body += `<StartAfter>${enc(startAfter)}</StartAfter>`;
  } else {
    body += `<Marker>${enc(startAfter || "")}</Marker><MaxKeys>${maxKeys}</MaxKeys>`;
    if (delimiter) body += `<Delimiter>${enc(delimiter)}</Delimiter>`;
    body += `<IsTruncated>${res.truncated}</IsTruncated>`;
    if (res.truncated && res.objects.length) body += `<NextMarker>${enc(res.objects[res.objects.length - 1].key)}</NextMarker>`;
  }
  if (urlEnc) body += `<EncodingType>url</EncodingType>`;
  body += contents + cps + `</ListBucketResult>`;
  return xml(body);
}

// ---- multipart -------------------------------------------------------------

async function uploadRow(env, bucket, key, uploadId) {
  const row = await env.META.prepare("SELECT * FROM r2_uploads WHERE upload_id = ?").bind(uploadId).first();
  if (!row || row.bucket !== bucket || row.key !== key) {
    throw new S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.");
  }
  return row;
}

async function createUpload(req, env, b, bucket, key) {
  const mp = await b.createMultipartUpload(key, { httpMetadata: httpMetadataFrom(req.headers), customMetadata: customMetadataFrom(req.headers) });
  await env.META.prepare("INSERT INTO r2_uploads (upload_id, bucket, key, created_at) VALUES (?, ?, ?, ?)")
    .bind(mp.uploadId, bucket, key, new Date().toISOString()).run();
  return xml(`<InitiateMultipartUploadResult${NS}><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${esc(mp.uploadId)}</UploadId></InitiateMultipartUploadResult>`);
}

async function uploadPart(req, env, b, bucket, key, q) {
  const uploadId = q.get("uploadId");
  const pn = Number(q.get("partNumber"));
  if (!Number.isInteger(pn) || pn < 1 || pn > R2_LIMITS.maxParts) {
    throw new S3Error(400, "InvalidArgument", `Part number must be an integer between 1 and ${R2_LIMITS.maxParts}, inclusive`);
  }
  await uploadRow(env, bucket, key, uploadId);
  const data = await readBody(req);
  if (data.byteLength > R2_LIMITS.maxPartBytes) throw new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.");
  await checkContentMd5(req, data);
  const part = await b.resumeMultipartUpload(key, uploadId).uploadPart(pn, data);
  await env.META.prepare(
    `INSERT INTO r2_parts (upload_id, part_number, etag, size, last_modified) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = excluded.etag, size = excluded.size, last_modified = excluded.last_modified`)
    .bind(uploadId, pn, part.etag, data.byteLength, new Date().toISOString()).run();
  return new Response(null, { status: 200, headers: { etag: quote(part.etag) } });
}

async function completeUpload(req, env, b, bucket, key, uploadId) {
  await uploadRow(env, bucket, key, uploadId);
  const text = await req.text();
  const parts = [...text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => {
    const pn = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1]);
    const et = /<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]);
    if (!pn || !et) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
    return { partNumber: parseInt(pn[1], 10), etag: unquote(unescapeXml(et[1])) };
  });
  if (!/<CompleteMultipartUpload[\s>]/.test(text) || parts.length === 0) {
    throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
  }
  if (parts.length > R2_LIMITS.maxParts) throw new S3Error(400, "InvalidArgument", `At most ${R2_LIMITS.maxParts} parts are allowed`);
  for (let i = 1; i < parts.length; i++) {
    if (parts[i].partNumber <= parts[i - 1].partNumber) {
      throw new S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
    }
  }
  const { results } = await env.META.prepare("SELECT * FROM r2_parts WHERE upload_id = ?").bind(uploadId).all();
  const stored = new Map(results.map((r) => [r.part_number, r]));
  const sizes = parts.map((p) => {
    const s = stored.get(p.partNumber);
    if (!s || s.etag !== p.etag) {
      throw new S3Error(400, "InvalidPart", `One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part ${p.partNumber})`);
    }
    return s.size;
  });
  for (let i = 0; i < sizes.length - 1; i++) {
    if (sizes[i] < R2_LIMITS.minPartBytes) {
      throw new S3Error(400, "EntityTooSmall", `Your proposed upload is smaller than the minimum allowed object size. (part ${parts[i].partNumber} is ${sizes[i]} bytes; every part but the last must be at least ${R2_LIMITS.minPartBytes} bytes)`);
    }
  }
  for (let i = 1; i < sizes.length - 1; i++) {
    if (sizes[i] !== sizes[0]) throw new S3Error(400, "InvalidPart", "All non-trailing parts must have the same size.");
  }
  if (sizes.length > 1 && sizes[sizes.length - 1] > sizes[0]) {
    throw new S3Error(400, "InvalidPart", "The last part must not be larger than the other parts.");
  }
  claimWrite(env, bucket, key);
  const obj = await b.resumeMultipartUpload(key, uploadId).complete(parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })));
  await env.META.batch([
    env.META.prepare("DELETE FROM r2_parts WHERE upload_id = ?").bind(uploadId),
    env.META.prepare("DELETE FROM r2_uploads WHERE upload_id = ?").bind(uploadId),
  ]);
  return xml(`<CompleteMultipartUploadResult${NS}><Location>/${esc(bucket)}/${esc(key)}</Location><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><ETag>${esc(obj.httpEtag)}</ETag></CompleteMultipartUploadResult>`,
    200, { etag: obj.httpEtag });
}

async function abortUpload(env, b, bucket, key, uploadId) {
  await uploadRow(env, bucket, key, uploadId);
  await b.resumeMultipartUpload(key, uploadId).abort();
  await env.META.batch([
    env.META.prepare("DELETE FROM r2_parts WHERE upload_id = ?").bind(uploadId),
    env.META.prepare("DELETE FROM r2_uploads WHERE upload_id = ?").bind(uploadId),
  ]);
  return new Response(null, { status: 204 });
}

async function listParts(env, bucket, key, q) {
  const uploadId = q.get("uploadId");
  await uploadRow(env, bucket, key, uploadId);
  const maxParts = Math.min(parseInt(q.get("max-parts") || "1000", 10) || 1000, 1000);
  const marker = parseInt(q.get("part-number-marker") || "0", 10) || 0;
  const { results } = await env.META.prepare(
    "SELECT * FROM r2_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?").bind(uploadId, marker, maxParts + 1).all();
  const truncated = results.length > maxParts;
  const page = results.slice(0, maxParts);
  const next = page.length ? page[page.length - 1].part_number : marker;
  return xml(`<ListPartsResult${NS}><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${esc(uploadId)}</UploadId>` +
    `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker><MaxParts>${maxParts}</MaxParts>` +
    `<IsTruncated>${truncated}</IsTruncated><StorageClass>STANDARD</StorageClass>` +
    page.map((p) => `<Part><PartNumber>${p.part_number}</PartNumber><LastModified>${p.last_modified}</LastModified><ETag>${esc(quote(p.etag))}</ETag><Size>${p.size}</Size></Part>`).join("") +
    `</ListPartsResult>`);
}

async function listUploads(env, bucket) {
  const { results } = await env.META.prepare("SELECT * FROM r2_uploads WHERE bucket = ? ORDER BY key, created_at").bind(bucket).all();
  return xml(`<ListMultipartUploadsResult${NS}><Bucket>${esc(bucket)}</Bucket><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
    results.map((u) => `<Upload><Key>${esc(u.key)}</Key><UploadId>${esc(u.upload_id)}</UploadId><Initiated>${u.created_at}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`).join("") +
    `</ListMultipartUploadsResult>`);
}
