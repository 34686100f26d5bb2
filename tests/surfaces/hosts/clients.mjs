// MCP clients nobody here wrote, against `toolfoundry serve`: one scenario per run, one JSON line out.
//
//   node clients.mjs SCENARIO        (run from a directory whose node_modules holds the npm packages)
//
// SCENARIO: sdk (list, call, errors, propose_tool with progress, the change, the new tool directly and
// through call_tool, search_tools' schemas), cancel (propose_tool aborted at its first progress: the request
// ends cancelled, nothing deployed), inspector (the MCP Inspector's CLI: tools/list --strict, tools/call,
// propose_tool then call_tool). Configuration, all from the environment:
//   TF_SDK=v1|v2, TF_ERA=legacy|modern (v2), TF_TRANSPORT=stdio|http
//   TF_SERVE  the stdio server command as a JSON array;  TF_URL, TF_TOKEN  the HTTP server and its token
//   TF_INSPECTOR_NODE  the node binary for the Inspector (it wants Node >= 22.19)
// Output: {"scenario", "versions", "checks": [{"name", "ok", ...}]}; exit 0 even when a check fails (the
// Python test reads the checks), 2 when the scenario could not run at all.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const env = process.env;
const checks = [];
const check = (name, ok, detail = {}) => { checks.push({ name, ok: Boolean(ok), ...detail }); return ok; };
const text = (r) => (r?.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const manifest = (pkg) => new URL(`./node_modules/${pkg}/package.json`, import.meta.url);  // not every package exports it
const version = (pkg) => JSON.parse(readFileSync(manifest(pkg), "utf8")).version;

async function waitFor(pred, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

function tool(prefix) {
  const name = `${prefix}_${randomBytes(3).toString("hex")}`;
  const code = `"""Twice a number."""\n\n\ndef ${name}(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n`;
  return { name, code, examples: [{ args: { x: 4 }, expect: 8 }] };
}

// ── the two TypeScript SDK lines behind one face ─────────────────────────────────────────────────

async function sdkClient() {
  const line = env.TF_SDK || "v1";
  const era = line === "v2" ? env.TF_ERA || "legacy" : "legacy";
  const changes = [];
  let client, Stdio, Http;
  if (line === "v2") {
    const c = await import("@modelcontextprotocol/client");
    Stdio = (await import("@modelcontextprotocol/client/stdio")).StdioClientTransport;
    Http = c.StreamableHTTPClientTransport;
    client = new c.Client({ name: "tf-host-v2", version: "0" }, {
      capabilities: {}, versionNegotiation: era === "modern" ? { mode: { pin: "2026-07-28" } } : { mode: "legacy" },
      listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => changes.push(Date.now()) } } });
  } else {
    const c = await import("@modelcontextprotocol/sdk/client/index.js");
    Stdio = (await import("@modelcontextprotocol/sdk/client/stdio.js")).StdioClientTransport;
    Http = (await import("@modelcontextprotocol/sdk/client/streamableHttp.js")).StreamableHTTPClientTransport;
    const types = await import("@modelcontextprotocol/sdk/types.js");
    client = new c.Client({ name: "tf-host-v1", version: "0" }, { capabilities: {} });
    client.setNotificationHandler(types.ToolListChangedNotificationSchema, () => changes.push(Date.now()));
  }
  const transport = env.TF_TRANSPORT === "http"
    ? new Http(new URL(env.TF_URL), { requestInit: { headers: { Authorization: `Bearer ${env.TF_TOKEN}` } } })
    : new Stdio({ command: JSON.parse(env.TF_SERVE)[0], args: JSON.parse(env.TF_SERVE).slice(1), env: process.env,
      stderr: "ignore" });
  await client.connect(transport);
  return {
    line, era, changes, client,
    versions: { sdk: version(line === "v2" ? "@modelcontextprotocol/client" : "@modelcontextprotocol/sdk"), node: process.version },
    call: (name, args, options) => (line === "v1" ? client.callTool({ name, arguments: args }, undefined, options)
      : client.callTool({ name, arguments: args }, options)),
    list: async () => (line === "v1" ? await client.listTools() : await client.listTools(undefined, { cacheMode: "refresh" }))
      .tools,
  };
}

async function sdkScenario() {
  const s = await sdkClient();
  const info = s.client.getServerVersion();
  check("initialize", info?.name === "toolfoundry" && s.client.getServerCapabilities()?.tools?.listChanged === true,
    { server: info });
  const names = (await s.list()).map((t) => t.name);
  check("tools/list: the deployed tool and the meta-tools, no request_capability without a model",
    names.includes("add") && ["propose_tool", "request_status", "search_tools", "call_tool"].every((n) => names.includes(n))
      && !names.includes("request_capability"), { names });
  const add = await s.call("add", { a: 20, b: 22 });
  check("call add", !add.isError && add.structuredContent?.result === 42, { got: add.structuredContent });
  try {
    await s.call("no_such_tool", {});
    check("unknown tool is a protocol error", false);
  } catch (e) {
    check("unknown tool is a protocol error", e.code === -32602, { code: e.code, message: String(e.message).slice(0, 200) });
  }
  const bad = await s.call("add", { a: "x" });
  check("bad arguments are an error result", bad.isError === true && text(bad).includes("expected integer"), { text: text(bad) });
  const t = tool("twice");
  const before = s.changes.length;
  let progress = 0;
  const proposed = await s.call("propose_tool", { code: t.code, examples: t.examples },
    { onprogress: () => { progress += 1; }, timeout: 300000 });
  check("propose_tool deploys, with progress", proposed.structuredContent?.status === "deployed" && progress > 0,
    { status: proposed.structuredContent?.status, progress, next: proposed.structuredContent?.next });
  let told = true;
  try { await waitFor(() => s.changes.length > before, 20000, "tools/list_changed"); } catch { told = false; }
  check("told that the tool list changed", told, { changes: s.changes.length - before });
  const direct = await s.call(t.name, { x: 21 });
  check("the new tool, called by its name", direct.structuredContent?.result === 42, { got: direct.structuredContent });
  const dispatched = await s.call("call_tool", { name: t.name, arguments: { x: 5 } });
  check("the new tool, through call_tool", dispatched.structuredContent?.result === 10, { got: dispatched.structuredContent });
  const found = await s.call("search_tools", { query: "twice x" });
  const hit = (found.structuredContent?.tools || []).find((h) => h.name === t.name);
  check("search_tools gives the input schema", hit?.input_schema?.properties?.x?.type === "integer", { hit });
  await s.client.close();
  return s.versions;
}

async function cancelScenario() {
  const s = await sdkClient();
  const t = tool("slow");
  const tests = `import time\n\nfrom tool import ${t.name}\n\n\ndef test_twice():\n    time.sleep(4)\n    assert ${t.name}(1) == 2\n`;
  const abort = new AbortController();
  let rid = null;
  let raised = null;
  try {
    await s.call("propose_tool", { code: t.code, tests, examples: t.examples }, { signal: abort.signal, timeout: 300000,
      onprogress: (p) => { if (!rid) { rid = String(p.message).split(":")[0]; abort.abort("the host cancelled"); } } });
  } catch (e) {
    raised = String(e?.message || e).slice(0, 200);
  }
  check("the client's call was aborted", raised !== null && rid !== null, { raised, request_id: rid });
  let status = null;
  try {
    status = await waitFor(async () => {
      const r = await s.call("request_status", { id: rid });
      return r.structuredContent?.status !== "running" && r.structuredContent;
    }, 60000, "the request to stop");
  } catch (e) {
    check("the request stopped", false, { error: String(e.message) });
  }
  check("the request ended cancelled", status?.status === "cancelled", { status });
  const names = (await s.list()).map((x) => x.name);
  check("nothing was deployed", !names.includes(t.name), { names });
  await s.client.close();
  return s.versions;
}

// ── the MCP Inspector's CLI ──────────────────────────────────────────────────────────────────────

function inspector(args) {
  const pkg = manifest("@modelcontextprotocol/inspector");
  const meta = JSON.parse(readFileSync(pkg, "utf8"));
  const bin = new URL(typeof meta.bin === "string" ? meta.bin : meta.bin["mcp-inspector"], pkg).pathname;
  return new Promise((ok) => {
    const p = spawn(env.TF_INSPECTOR_NODE || process.execPath, [bin, "--cli", ...args],
      { env: { ...process.env, MCP_INSPECTOR_SECRET_STORE: "memory" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (c) => { out += c; });
    p.stderr.on("data", (c) => { err += c; });
    p.on("exit", (code) => {
      let json = null;
      try { json = JSON.parse(out); } catch { /* not JSON */ }
      ok({ code, json, out: out.slice(0, 2000), err: err.slice(0, 4000) });
    });
  });
}

async function inspectorScenario() {
  const serve = JSON.parse(env.TF_SERVE);
  const stdio = [...(env.TF_SERVE_ENV ? JSON.parse(env.TF_SERVE_ENV).flatMap((kv) => ["-e", kv]) : []), ...serve];
  const strict = await inspector([...stdio, "--method", "tools/list", "--strict"]);
  const warned = [...strict.err.matchAll(/Warning: tool "([^"]+)"/g)].map((m) => m[1]);
  check("stdio tools/list --strict: no schema warnings", strict.code === 0 && warned.length === 0,
    { code: strict.code, warned, err: strict.code === 0 ? undefined : strict.err });
  const add = await inspector([...stdio, "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=40"]);
  check("stdio tools/call add", add.code === 0 && add.json?.structuredContent?.result === 42, { code: add.code, out: add.out });
  const t = tool("insp");
  const proposed = await inspector([...stdio, "--method", "tools/call", "--tool-name", "propose_tool",
    "--tool-args-json", JSON.stringify({ code: t.code, examples: t.examples })]);
  check("stdio propose_tool", proposed.json?.structuredContent?.status === "deployed", { code: proposed.code, out: proposed.out });
  const via = await inspector([...stdio, "--method", "tools/call", "--tool-name", "call_tool",
    "--tool-args-json", JSON.stringify({ name: t.name, arguments: { x: 21 } })]);
  check("stdio call_tool reaches the new tool", via.json?.structuredContent?.result === 42, { code: via.code, out: via.out });
  if (env.TF_URL) {
    const http = [env.TF_URL, "--transport", "http", "--header", `Authorization: Bearer ${env.TF_TOKEN}`];
    const listed = await inspector([...http, "--method", "tools/list", "--strict"]);
    check("http tools/list --strict with the bearer header", listed.code === 0 && listed.json?.tools?.some((x) => x.name === "add"),
      { code: listed.code, err: listed.code === 0 ? undefined : listed.err });
    const called = await inspector([...http, "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=1", "b=2"]);
    check("http tools/call with the bearer header", called.json?.structuredContent?.result === 3, { code: called.code, out: called.out });
    const anonymous = await inspector([env.TF_URL, "--transport", "http", "--method", "tools/list"]);
    check("http without a token is refused, and no client registration is attempted",
      anonymous.code !== 0 && !/Dynamic Client Registration/i.test(anonymous.err + anonymous.out),
      { code: anonymous.code, err: anonymous.err.slice(0, 600) });
  }
  return { inspector: version("@modelcontextprotocol/inspector"), node: process.version };
}

const scenario = process.argv[2];
const run = { sdk: sdkScenario, cancel: cancelScenario, inspector: inspectorScenario }[scenario];
if (!run) {
  console.log(JSON.stringify({ scenario, error: "unknown scenario (sdk, cancel, inspector)" }));
  process.exit(2);
}
try {
  const versions = await run();
  console.log(JSON.stringify({ scenario, versions, checks }));
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ scenario, error: `${e?.name}: ${e?.message}`, stack: String(e?.stack).slice(0, 1500), checks }));
  process.exit(2);
}
