// wal2edge live: changes to browsers over WebSockets, through one Durable Object per channel.
//
// GET /                          the example page (plain HTML and a little script)
// GET /ws?channel=NAME           a WebSocket to the channel's LiveChannel object; the client then
//                                sends {"type":"subscribe","after":POSITION|null} (docs/workers.md)
// The consumer Worker (workers/queue-consumer) publishes to the same objects through its own
// binding of the LiveChannel class, so publishing has no public route.

import { LiveChannel } from "./channel.mjs";
import { PAGE } from "./page.mjs";

export { LiveChannel };

// A channel is a table ("public.orders") or a key prefix ("orders:42"); see the consumer's LIVE_CHANNELS.
export function channelError(name) {
  if (!name) return "the channel is missing: /ws?channel=NAME";
  if (name.length > 200) return "a channel name is at most 200 characters";
  if (/[\u0000-\u001f\u007f]/.test(name)) return "a channel name has no control characters";
  return null;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/" && request.method === "GET") {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
    }
    if (url.pathname === "/ws") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade\n", { status: 426, headers: { upgrade: "websocket" } });
      }
      const channel = url.searchParams.get("channel");
      const err = channelError(channel);
      if (err) return new Response(err + "\n", { status: 400 });
      const stub = env.LIVE.get(env.LIVE.idFromName(channel));
      return stub.fetch(request);
    }
    return new Response("not found\n", { status: 404 });
  },
};
