// Shared helpers for the edge Worker: the Cloudflare v4 envelope, errors, small codecs.

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra; // { headers, error_chain, result }
  }
}

export function envelope(result, { status = 200, result_info, messages = [], headers = {} } = {}) {
  const body = { success: true, errors: [], messages, result };
  if (result_info) body.result_info = result_info;
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function errorResponse(err) {
  if (!(err instanceof ApiError)) {
    err = new ApiError(500, 10002, `Internal error: ${err && err.message ? err.message : String(err)}`);
  }
  const e = { code: err.code, message: err.message };
  if (err.extra.error_chain) e.error_chain = err.extra.error_chain;
  const body = { success: false, errors: [e], messages: [], result: err.extra.result ?? null };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { "content-type": "application/json", ...(err.extra.headers || {}) },
  });
}

export async function readJson(req, code = 10001, what = "request body") {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, code, `Could not parse ${what} as JSON: ${e.message}`);
  }
}

const enc = new TextEncoder();
export const utf8len = (s) => enc.encode(s).length;
export const utf8 = (s) => enc.encode(s);

export function randomHex(bytes = 16) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return [...a].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function toHex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function md5Hex(data) {
  return toHex(await crypto.subtle.digest("MD5", data));
}

export function b64encode(bytes) {
  let s = "";
  const CH = 0x8000;
  for (let i = 0; i < bytes.length; i += CH) s += String.fromCharCode(...bytes.subarray(i, i + CH));
  return btoa(s);
}

export function b64decode(str) {
  const bin = atob(str);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export const nowSec = () => Math.floor(Date.now() / 1000);
