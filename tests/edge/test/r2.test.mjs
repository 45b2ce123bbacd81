import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startEdge, request, uid } from "./helpers.mjs";

let edge;
before(async () => { edge = await startEdge({ EDGE_R2_WRITE_INTERVAL_MS: "0" }); });
after(async () => { await edge?.stop(); });

const MiB = 1024 * 1024;
const bucket = () => uid("bkt").toLowerCase();
const tag = (xml, name) => [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((m) => m[1]);

test("PutObject, GetObject (with Range), HeadObject, DeleteObject", async () => {
  const b = bucket();
  const data = Buffer.from("hello, edge! ".repeat(100));
  const put = await edge.s3("PUT", `/${b}/dir/obj.txt`, { body: data, headers: { "content-type": "text/plain", "x-amz-meta-lsn": "0/16B3748" } });
  assert.equal(put.status, 200, put.text);
  const md5 = crypto.createHash("md5").update(data).digest("hex");
  assert.equal(put.headers.etag, `"${md5}"`);
  const get = await edge.s3("GET", `/${b}/dir/obj.txt`);
  assert.equal(get.status, 200);
  assert.deepEqual(get.body, data);
  assert.equal(get.headers["content-type"], "text/plain");
  assert.equal(get.headers["x-amz-meta-lsn"], "0/16B3748");
  const range = await edge.s3("GET", `/${b}/dir/obj.txt`, { headers: { range: "bytes=7-10" } });
  assert.equal(range.status, 206);
  assert.equal(range.text, "edge");
  assert.equal(range.headers["content-range"], `bytes 7-10/${data.length}`);
  const suffix = await edge.s3("GET", `/${b}/dir/obj.txt`, { headers: { range: "bytes=-3" } });
  assert.equal(suffix.text, "! ".slice(0) === "! " ? data.subarray(-3).toString() : "");
  const bad = await edge.s3("GET", `/${b}/dir/obj.txt`, { headers: { range: `bytes=${data.length + 5}-` } });
  assert.equal(bad.status, 416);
  const head = await edge.s3("HEAD", `/${b}/dir/obj.txt`);
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], String(data.length));
  assert.equal(head.headers.etag, `"${md5}"`);
  const del = await edge.s3("DELETE", `/${b}/dir/obj.txt`);
  assert.equal(del.status, 204);
  const gone = await edge.s3("GET", `/${b}/dir/obj.txt`);
  assert.equal(gone.status, 404);
  assert.deepEqual(tag(gone.text, "Code"), ["NoSuchKey"]);
  assert.equal((await edge.s3("HEAD", `/${b}/dir/obj.txt`)).status, 404);
});

test("Content-MD5 is checked", async () => {
  const b = bucket();
  const r = await edge.s3("PUT", `/${b}/k`, { body: "abc", headers: { "content-md5": crypto.createHash("md5").update("abd").digest("base64") } });
  assert.equal(r.status, 400);
  assert.deepEqual(tag(r.text, "Code"), ["BadDigest"]);
});

test("ListObjectsV2 with prefix, delimiter and continuation", async () => {
  const b = bucket();
  for (let i = 0; i < 7; i++) assert.equal((await edge.s3("PUT", `/${b}/snap/t/part-${i}.ndjson`, { body: `p${i}` })).status, 200);
  await edge.s3("PUT", `/${b}/other/x`, { body: "x" });
  const keys = [];
  let token = null;
  for (let i = 0; i < 10; i++) {
    const qs = `list-type=2&max-keys=3&prefix=${encodeURIComponent("snap/")}${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
    const r = await edge.s3("GET", `/${b}?${qs}`);
    assert.equal(r.status, 200, r.text);
    keys.push(...tag(r.text, "Key"));
    const truncated = tag(r.text, "IsTruncated")[0] === "true";
    token = truncated ? tag(r.text, "NextContinuationToken")[0] : null;
    if (!token) break;
  }
  assert.deepEqual(keys, Array.from({ length: 7 }, (_, i) => `snap/t/part-${i}.ndjson`));
  const d = await edge.s3("GET", `/${b}?delimiter=%2F&list-type=2`);
  assert.deepEqual(tag(d.text, "Prefix").filter(Boolean).sort(), ["other/", "snap/"]);
});

test("a correctly signed request is accepted and a wrongly signed one refused", async () => {
  const b = bucket();
  assert.equal((await edge.s3("PUT", `/${b}/signed`, { body: "ok" })).status, 200);
  const wrongSecret = await edge.s3("PUT", `/${b}/signed`, { body: "x", creds: { accessKeyId: edge.info.R2_ACCESS_KEY_ID, secretAccessKey: "wrong" } });
  assert.equal(wrongSecret.status, 403);
  assert.deepEqual(tag(wrongSecret.text, "Code"), ["SignatureDoesNotMatch"]);
  const wrongKey = await edge.s3("GET", `/${b}/signed`, { creds: { accessKeyId: "NOPE", secretAccessKey: edge.info.R2_SECRET_ACCESS_KEY } });
  assert.equal(wrongKey.status, 403);
  const unsigned = await edge.s3("GET", `/${b}/signed`, { sign: false });
  assert.equal(unsigned.status, 403);
  assert.deepEqual(tag(unsigned.text, "Code"), ["AccessDenied"]);
  // sign one request, then tamper with the path: the signature no longer matches
  const tampered = await new Promise((resolve) => {
    import("aws4").then(({ default: aws4 }) => {
      const opts = { host: `127.0.0.1:${edge.info.port}`, path: `/${b}/signed`, method: "GET", service: "s3", region: "auto" };
      aws4.sign(opts, { accessKeyId: edge.info.R2_ACCESS_KEY_ID, secretAccessKey: edge.info.R2_SECRET_ACCESS_KEY });
      const h = { ...opts.headers }; delete h.Host;
      resolve(request(`${edge.base}/${b}/other`, { headers: h }));
    });
  });
  assert.equal(tampered.status, 403);
  assert.deepEqual(tag(tampered.text, "Code"), ["SignatureDoesNotMatch"]);
  // body changed after signing: the payload hash no longer matches
  const aws4 = (await import("aws4")).default;
  const opts = { host: `127.0.0.1:${edge.info.port}`, path: `/${b}/signed`, method: "PUT", service: "s3", region: "auto", body: Buffer.from("aaaa") };
  aws4.sign(opts, { accessKeyId: edge.info.R2_ACCESS_KEY_ID, secretAccessKey: edge.info.R2_SECRET_ACCESS_KEY });
  const h = { ...opts.headers }; delete h.Host;
  const swapped = await request(`${edge.base}/${b}/signed`, { method: "PUT", headers: h, body: Buffer.from("bbbb") });
  assert.equal(swapped.status, 400);
  assert.deepEqual(tag(swapped.text, "Code"), ["XAmzContentSHA256Mismatch"]);
  // presigned URL (query signature)
  const url = edge.presign("GET", `/${b}/signed`);
  const pre = await request(url);
  assert.equal(pre.status, 200, pre.text);
  assert.equal(pre.text, "ok");
  const badPre = await request(url.replace(/X-Amz-Signature=[0-9a-f]+/, "X-Amz-Signature=" + "0".repeat(64)));
  assert.equal(badPre.status, 403);
});

async function createUpload(b, key) {
  const r = await edge.s3("POST", `/${b}/${key}?uploads=`);
  assert.equal(r.status, 200, r.text);
  return tag(r.text, "UploadId")[0];
}

async function putPart(b, key, id, n, buf) {
  const r = await edge.s3("PUT", `/${b}/${key}?partNumber=${n}&uploadId=${encodeURIComponent(id)}`, { body: buf });
  assert.equal(r.status, 200, r.text);
  return r.headers.etag;
}

const completeXml = (parts) => `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;

test("multipart: create, upload parts, list parts, complete", async () => {
  const b = bucket();
  const key = "snap/big.ndjson.zst";
  const id = await createUpload(b, key);
  const p1 = Buffer.alloc(5 * MiB, 1), p2 = Buffer.alloc(5 * MiB, 2), p3 = Buffer.from("tail");
  const e1 = await putPart(b, key, id, 1, p1);
  const e2 = await putPart(b, key, id, 2, p2);
  const e3 = await putPart(b, key, id, 3, p3);
  const lp = await edge.s3("GET", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`);
  assert.equal(lp.status, 200);
  assert.deepEqual(tag(lp.text, "PartNumber"), ["1", "2", "3"]);
  assert.deepEqual(tag(lp.text, "Size"), [String(5 * MiB), String(5 * MiB), "4"]);
  const lp2 = await edge.s3("GET", `/${b}/${key}?max-parts=2&uploadId=${encodeURIComponent(id)}`);
  assert.equal(tag(lp2.text, "IsTruncated")[0], "true");
  const c = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[1, e1], [2, e2], [3, e3]]) });
  assert.equal(c.status, 200, c.text);
  assert.ok(tag(c.text, "ETag")[0]);
  const head = await edge.s3("HEAD", `/${b}/${key}`);
  assert.equal(head.headers["content-length"], String(10 * MiB + 4));
  const tail = await edge.s3("GET", `/${b}/${key}`, { headers: { range: `bytes=${10 * MiB}-` } });
  assert.equal(tail.text, "tail");
  const again = await edge.s3("GET", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`);
  assert.equal(again.status, 404);
  assert.deepEqual(tag(again.text, "Code"), ["NoSuchUpload"]);
});

test("multipart rules: parts ≥ 5 MiB, equal non-final parts, order, part numbers, abort", async () => {
  const b = bucket();
  const key = "k";
  // a non-final part below 5 MiB
  let id = await createUpload(b, key);
  let e1 = await putPart(b, key, id, 1, Buffer.alloc(MiB, 1));
  let e2 = await putPart(b, key, id, 2, Buffer.alloc(10, 2));
  let r = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[1, e1], [2, e2]]) });
  assert.equal(r.status, 400);
  assert.deepEqual(tag(r.text, "Code"), ["EntityTooSmall"]);
  // unequal non-final parts
  e1 = await putPart(b, key, id, 1, Buffer.alloc(5 * MiB, 1));
  e2 = await putPart(b, key, id, 2, Buffer.alloc(5 * MiB + 1, 2));
  const e3 = await putPart(b, key, id, 3, Buffer.alloc(10, 3));
  r = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[1, e1], [2, e2], [3, e3]]) });
  assert.equal(r.status, 400);
  assert.deepEqual(tag(r.text, "Code"), ["InvalidPart"]);
  assert.match(tag(r.text, "Message")[0], /same size/);
  // out of order, wrong etag
  r = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[2, e2], [1, e1]]) });
  assert.deepEqual(tag(r.text, "Code"), ["InvalidPartOrder"]);
  r = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[1, '"0123"']]) });
  assert.deepEqual(tag(r.text, "Code"), ["InvalidPart"]);
  // part numbers 1..10000
  r = await edge.s3("PUT", `/${b}/${key}?partNumber=10001&uploadId=${encodeURIComponent(id)}`, { body: "x" });
  assert.equal(r.status, 400);
  assert.deepEqual(tag(r.text, "Code"), ["InvalidArgument"]);
  r = await edge.s3("PUT", `/${b}/${key}?partNumber=0&uploadId=${encodeURIComponent(id)}`, { body: "x" });
  assert.equal(r.status, 400);
  // abort
  r = await edge.s3("DELETE", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`);
  assert.equal(r.status, 204);
  r = await edge.s3("PUT", `/${b}/${key}?partNumber=1&uploadId=${encodeURIComponent(id)}`, { body: "x" });
  assert.equal(r.status, 404);
  assert.deepEqual(tag(r.text, "Code"), ["NoSuchUpload"]);
  // a single-part upload may be small
  id = await createUpload(b, key);
  e1 = await putPart(b, key, id, 1, Buffer.from("small"));
  r = await edge.s3("POST", `/${b}/${key}?uploadId=${encodeURIComponent(id)}`, { body: completeXml([[1, e1]]) });
  assert.equal(r.status, 200, r.text);
});
