// Verifies AWS Signature Version 4 on incoming S3 requests by re-signing them
// with the AWS SDK's own signer (@smithy/signature-v4 + @aws-crypto/sha256-js),
// never with code of our own, and comparing signatures.
import crypto from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";

export class S3AuthError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ALLOWED_REGIONS = new Set(["auto", "us-east-1", ""]);

function parseQuery(rawQuery) {
  const query = {};
  if (!rawQuery) return query;
  for (const part of rawQuery.split("&")) {
    if (!part) continue;
    const i = part.indexOf("=");
    const k = decodeURIComponent(i < 0 ? part : part.slice(0, i));
    const v = i < 0 ? "" : decodeURIComponent(part.slice(i + 1));
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return query;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || "");
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function safeEqualHex(a, b) {
  const x = Buffer.from(String(a)), y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function parseCredential(cred) {
  const p = String(cred || "").split("/");
  if (p.length !== 5 || p[4] !== "aws4_request") {
    throw new S3AuthError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  }
  return { accessKeyId: p[0], date: p[1], region: p[2], service: p[3] };
}

/**
 * @param req  { method, rawPath, rawQuery, headers (lower-case names, Node style), body (Buffer) }
 * @param cfg  { r2AccessKeyId, r2SecretAccessKey, clockSkewS }
 * Throws S3AuthError when the request is not correctly signed.
 */
export async function verifySigV4(req, cfg) {
  const query = parseQuery(req.rawQuery);
  const auth = req.headers.authorization;
  const presigned = !auth && "X-Amz-Algorithm" in query;
  if (!auth && !presigned) throw new S3AuthError(403, "AccessDenied", "Access Denied");

  let credential, signedHeaders, signature, amzDate, expires;
  if (presigned) {
    if (query["X-Amz-Algorithm"] !== "AWS4-HMAC-SHA256") throw new S3AuthError(400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
    credential = parseCredential(query["X-Amz-Credential"]);
    signedHeaders = String(query["X-Amz-SignedHeaders"] || "").split(";").filter(Boolean);
    signature = query["X-Amz-Signature"];
    amzDate = query["X-Amz-Date"];
    expires = parseInt(query["X-Amz-Expires"] || "", 10);
    if (!Number.isInteger(expires) || expires < 1 || expires > 604800) {
      throw new S3AuthError(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds");
    }
  } else {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(auth);
    if (!m) throw new S3AuthError(400, "InvalidArgument", "Unsupported Authorization Type");
    const fields = {};
    for (const kv of m[1].split(",")) {
      const i = kv.indexOf("=");
      if (i > 0) fields[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
    if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) {
      throw new S3AuthError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed.");
    }
    credential = parseCredential(fields.Credential);
    signedHeaders = fields.SignedHeaders.split(";").filter(Boolean);
    signature = fields.Signature;
    amzDate = req.headers["x-amz-date"];
    if (!amzDate || !signedHeaders.includes("x-amz-date")) {
      throw new S3AuthError(403, "AccessDenied", "AWS authentication requires a valid x-amz-date header that is signed");
    }
  }
  if (credential.accessKeyId !== cfg.r2AccessKeyId) {
    throw new S3AuthError(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  }
  if (credential.service !== "s3" || !ALLOWED_REGIONS.has(credential.region)) {
    throw new S3AuthError(400, "AuthorizationHeaderMalformed", `The authorization header is malformed; the region '${credential.region}' or service '${credential.service}' is wrong; expecting region 'auto' and service 's3'.`);
  }
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate || amzDate.slice(0, 8) !== credential.date) {
    throw new S3AuthError(403, "AccessDenied", "Invalid date in the request or its credential scope");
  }
  const now = Date.now();
  if (presigned) {
    if (now > signingDate.getTime() + expires * 1000) throw new S3AuthError(403, "AccessDenied", "Request has expired");
  } else if (Math.abs(now - signingDate.getTime()) > cfg.clockSkewS * 1000) {
    throw new S3AuthError(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.");
  }
  if (!signedHeaders.includes("host")) throw new S3AuthError(403, "AccessDenied", "The host header must be signed");

  // Payload hash.
  let payloadHash = req.headers["x-amz-content-sha256"];
  if (presigned) {
    payloadHash = payloadHash || "UNSIGNED-PAYLOAD";
  } else {
    // Like R2 (and unlike AWS S3), a missing x-amz-content-sha256 is accepted: the
    // signature then covers the SHA-256 of the body (what curl --aws-sigv4 sends).
    if (!payloadHash) payloadHash = req.body && req.body.length ? crypto.createHash("sha256").update(req.body).digest("hex") : EMPTY_SHA256;
    if (payloadHash.startsWith("STREAMING-")) {
      throw new S3AuthError(501, "NotImplemented", "aws-chunked (STREAMING-*) payloads are not supported by the edge emulator; send a whole-body hash or UNSIGNED-PAYLOAD");
    }
  }
  if (payloadHash !== "UNSIGNED-PAYLOAD") {
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) throw new S3AuthError(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256 digest");
    const actual = req.body && req.body.length ? crypto.createHash("sha256").update(req.body).digest("hex") : EMPTY_SHA256;
    if (actual !== payloadHash) {
      throw new S3AuthError(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
  }

  // Re-sign with the SDK signer over exactly the headers the client signed.
  const headers = {};
  for (const h of signedHeaders) {
    const v = req.headers[h];
    if (v === undefined) throw new S3AuthError(403, "SignatureDoesNotMatch", `Signed header ${h} is missing from the request`);
    headers[h] = Array.isArray(v) ? v.join(",") : String(v);
  }
  const hostHeader = req.headers.host || "";
  const signer = new SignatureV4({
    credentials: { accessKeyId: cfg.r2AccessKeyId, secretAccessKey: cfg.r2SecretAccessKey },
    region: credential.region,
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false, // S3 signs the path as sent
    applyChecksum: false,
  });
  const base = {
    method: req.method,
    protocol: "http:",
    hostname: hostHeader.replace(/:\d+$/, ""),
    path: req.rawPath,
    query,
    headers,
  };
  let expected;
  if (presigned) {
    const q = { ...query };
    delete q["X-Amz-Signature"];
    const signed = await signer.presign(
      { ...base, query: q, headers: { ...headers, "x-amz-content-sha256": payloadHash } },
      {
        signingDate,
        expiresIn: expires,
        signableHeaders: new Set(signedHeaders),
        unsignableHeaders: new Set(["x-amz-content-sha256"]),
        unhoistableHeaders: new Set(["x-amz-content-sha256"]),
      },
    );
    expected = signed.query["X-Amz-Signature"];
    if (signed.query["X-Amz-SignedHeaders"] !== signedHeaders.join(";")) expected = null;
  } else {
    delete headers["x-amz-date"]; // the signer adds it from signingDate
    if (!("x-amz-content-sha256" in headers)) headers["x-amz-content-sha256"] = undefined;
    const signed = await signer.sign(
      { ...base, headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)), body: req.body },
      { signingDate, signableHeaders: new Set(signedHeaders) },
    );
    const m = /SignedHeaders=([^,]+), Signature=([0-9a-f]+)/.exec(signed.headers.authorization);
    expected = m && m[1] === signedHeaders.join(";") ? m[2] : null;
  }
  if (!expected || !safeEqualHex(expected, signature)) {
    throw new S3AuthError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your secret access key and signing method.");
  }
}
