#!/usr/bin/env node
// Starts the local edge: workerd (through Miniflare) plus the loopback gateway.
// Prints one JSON line {"ready":true,...} on stdout once it answers.
import fs from "node:fs";
import path from "node:path";
import { loadConfig, isLoopbackHost } from "./config.mjs";
import { Runtime } from "./runtime.mjs";
import { Gateway } from "./gateway.mjs";

const cfg = loadConfig();
if (!isLoopbackHost(cfg.host)) {
  console.error(`edge emulator: refusing to listen on ${cfg.host}: loopback only (127.0.0.1, ::1, localhost)`);
  process.exit(2);
}
fs.mkdirSync(cfg.stateDir, { recursive: true });

const rt = new Runtime(cfg);
const gw = new Gateway(cfg, rt);
let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  try { await gw.close(); } catch {}
  try { await rt.stop(); } catch {}
  process.exit(code);
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));

try {
  await rt.start();
  await gw.listen();
} catch (e) {
  console.error("edge emulator failed to start:", e && e.stack ? e.stack : e);
  await stop(1);
}
const info = { ready: true, pid: process.pid, port: gw.port, ...gw.envVars(), apps: rt.apps };
fs.writeFileSync(path.join(cfg.stateDir, "edge.json"), JSON.stringify(info, null, 1) + "\n");
console.log(JSON.stringify(info));
