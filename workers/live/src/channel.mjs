// LiveChannel: the Durable Object behind one live channel (a table, or a key prefix).
//
// The consumer Worker POSTs each batch's changes to /publish; the channel keeps the last
// LIVE_BUFFER of them in its SQLite storage and sends each to every subscribed WebSocket.
// Sockets are accepted with the hibernation API, so an idle channel costs nothing and is woken
// by the next publish or message; whether a socket has subscribed lives in its attachment.
//
// Resume. Every stored change remembers the channel's head (the highest position published so
// far) as it was right after the change arrived. A client resuming after position P missed
// exactly the changes whose head is beyond P (those after P), and those that arrived late (a
// queue redelivery, below a position already sent) once the channel had reached P. If such a
// change was already evicted from the buffer (the floor, the head of the last evicted change,
// is beyond P), or P is beyond anything the channel knows, the client gets "resync" instead.

import { parsePosition, comparePositions, PositionError } from "./position.mjs";

const DEFAULT_BUFFER = 1000;
const MAX_CHANGE_BYTES = 1 << 20; // a WebSocket message is at most 1 MiB
const LATE = 1e-7; // below the step between two indexes (1e-6 at most, docs/events.md)

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
     head_lsn INTEGER NOT NULL, head_ord REAL NOT NULL, head TEXT NOT NULL, late INTEGER NOT NULL, msg TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, lsn INTEGER NOT NULL, ord REAL NOT NULL, text TEXT NOT NULL)`,
];

export function bufferSize(env) {
  const n = env.LIVE_BUFFER === undefined ? DEFAULT_BUFFER : Number(env.LIVE_BUFFER);
  if (!Number.isInteger(n) || n < 1 || n > 100000) throw new Error(`LIVE_BUFFER must be an integer from 1 to 100000, not ${env.LIVE_BUFFER}`);
  return n;
}

const utf8 = new TextEncoder();
const json = (status, body) => Response.json(body, { status });

export class LiveChannel {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.sql = ctx.storage.sql;
    this.limit = bufferSize(env);
    for (const s of SCHEMA) this.sql.exec(s);
    // answered by the runtime without waking the object
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  mark(name) {
    const [r] = this.sql.exec("SELECT lsn, ord, text FROM marks WHERE name = ?", name).toArray();
    return r ? { lsn: r.lsn, ord: r.ord, text: r.text } : null;
  }

  setMark(name, p) {
    this.sql.exec("INSERT INTO marks (name, lsn, ord, text) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET lsn = excluded.lsn, ord = excluded.ord, text = excluded.text",
      name, p.lsn, p.ord, p.text);
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server);
      server.serializeAttachment({ subscribed: false });
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname === "/publish" && request.method === "POST") {
      let body;
      try {
        body = await request.json();
      } catch {
        return json(400, { error: "the body is not JSON" });
      }
      try {
        return json(200, this.publish(body && body.changes));
      } catch (e) {
        if (e instanceof PositionError || e instanceof TypeError) return json(400, { error: e.message });
        throw e;
      }
    }
    return json(404, { error: `no route ${request.method} ${url.pathname}` });
  }

  // Stores the new changes, sends them to the subscribers, evicts past the buffer's size.
  publish(changes) {
    if (!Array.isArray(changes)) throw new TypeError("publish wants {\"changes\": [...]}");
    const parsed = changes.map((c) => {
      if (!c || typeof c !== "object") throw new TypeError("a change is an object with a pos");
      return { c, p: parsePosition(c.pos) };
    });
    const out = [];
    let duplicates = 0;
    this.ctx.storage.transactionSync(() => {
      let head = this.mark("head");
      for (const { c, p } of parsed) {
        if (this.sql.exec("SELECT 1 FROM changes WHERE id = ?", p.text).toArray().length) {
          duplicates++; // at-least-once delivery: already stored, already sent
          continue;
        }
        const late = head !== null && comparePositions(p, head) < 0;
        if (!late) head = p;
        let msg = JSON.stringify({ type: "change", ...c, ...(late ? { late: true } : {}) });
        if (msg.length * 3 > MAX_CHANGE_BYTES && utf8.encode(msg).length > MAX_CHANGE_BYTES) {
          // over a WebSocket message (and a SQLite row): the subscriber reads the row from D1
          msg = JSON.stringify({ type: "change", pos: c.pos, op: c.op, table: c.table, key: c.key, row: null, before: null,
                                 commit_ts_ms: c.commit_ts_ms, oversize: true, ...(late ? { late: true } : {}) });
        }
        this.sql.exec("INSERT INTO changes (id, head_lsn, head_ord, head, late, msg) VALUES (?, ?, ?, ?, ?, ?)", p.text, head.lsn, head.ord, head.text, late ? 1 : 0, msg);
        out.push(msg);
      }
      if (head) this.setMark("head", head);
      const [{ n, top }] = this.sql.exec("SELECT count(*) AS n, max(seq) AS top FROM changes").toArray();
      if (n > this.limit) {
        // heads grow with seq: the last evicted change carries the highest head evicted
        const [last] = this.sql.exec("SELECT head_lsn, head_ord, head, late FROM changes WHERE seq <= ? ORDER BY seq DESC LIMIT 1", top - this.limit).toArray();
        // a late change at head H was missed by a client at H too: its floor is just past H
        this.setMark("floor", { lsn: last.head_lsn, ord: last.head_ord + (last.late ? LATE : 0), text: last.head });
        this.sql.exec("DELETE FROM changes WHERE seq <= ?", top - this.limit);
      }
    });
    for (const ws of this.ctx.getWebSockets()) {
      if (!ws.deserializeAttachment()?.subscribed) continue;
      for (const msg of out) send(ws, msg);
    }
    const head = this.mark("head");
    return { accepted: out.length, duplicates, head: head && head.text };
  }

  async webSocketMessage(ws, data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      return send(ws, JSON.stringify({ type: "error", message: "messages are JSON, e.g. {\"type\":\"subscribe\",\"after\":\"0/16B3748:2\"}" }));
    }
    if (!msg || msg.type !== "subscribe") {
      return send(ws, JSON.stringify({ type: "error", message: `unknown message type ${JSON.stringify(msg && msg.type)}; the only one is "subscribe"` }));
    }
    let after = null;
    try {
      if (msg.after !== undefined && msg.after !== null) after = parsePosition(msg.after);
    } catch (e) {
      return send(ws, JSON.stringify({ type: "error", message: e.message }));
    }
    this.subscribe(ws, after);
  }

  // Replays what a client resuming after `after` missed (or says resync), then subscribes it;
  // nothing can be published in between (no await).
  subscribe(ws, after) {
    const head = this.mark("head");
    const floor = this.mark("floor");
    const state = { head: head && head.text, buffer: this.limit };
    let replayed = 0;
    if (after) {
      if (!head || comparePositions(after, head) > 0) {
        send(ws, JSON.stringify({ type: "resync", reason: `position ${after.text} is beyond this channel's head (${state.head}): the channel was reset or the position is from elsewhere`, ...state }));
      } else if (floor && comparePositions(floor, after) > 0) {
        send(ws, JSON.stringify({ type: "resync", reason: `changes after ${after.text} are no longer buffered (the buffer keeps the last ${this.limit}; it starts after ${floor.text})`, ...state }));
      } else {
        const rows = this.sql.exec(`SELECT msg FROM changes WHERE head_lsn > ? OR (head_lsn = ? AND (head_ord > ? OR (late = 1 AND head_ord = ?)))
                                    ORDER BY seq`, after.lsn, after.lsn, after.ord, after.ord).toArray();
        for (const r of rows) send(ws, r.msg);
        replayed = rows.length;
      }
    }
    ws.serializeAttachment({ subscribed: true });
    send(ws, JSON.stringify({ type: "subscribed", replayed, ...state }));
  }

  async webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closing");
    } catch { /* already closed */ }
  }

  async webSocketError() { /* the socket is gone; nothing is kept per socket */ }
}

function send(ws, msg) {
  try {
    ws.send(msg);
  } catch { /* a closing socket: its client resumes from its last position */ }
}
