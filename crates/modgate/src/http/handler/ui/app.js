// modgate's console: one page, hash routes, everything from the admin API (/-/admin/) with the
// API key kept in this tab's session storage. Text from the server is only ever set as text.
"use strict";

const KEY = "modgate.key";
const API = "../admin/";
const main = () => document.getElementById("main");

// ---- small helpers -------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}

function when(t) { return t ? t.replace("T", " ").replace("Z", " UTC") : "never"; }

function say(text, kind) {
  const s = document.getElementById("status");
  s.replaceChildren(text ? el("p", { class: "msg " + (kind || "info"), text }) : "");
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts) {
  const o = opts || {};
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "" };
  if (o.json !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(API + path, {
    method: o.method || "GET",
    headers,
    body: o.json !== undefined ? JSON.stringify(o.json) : o.body,
    cache: "no-store",
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (r.status === 401 || (r.status === 403 && !o.quiet403)) {
    sessionStorage.removeItem(KEY);
    throw new ApiError(r.status, (data && data.error) || text || "not allowed");
  }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || text.trim() || r.statusText);
  return data;
}

function table(headers, rows, opts) {
  const o = opts || {};
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: (o.opt || []).includes(i) ? "opt" : null }, h)))),
    el("tbody", {}, rows.length ? rows.map(r => el("tr", {}, r.map((c, i) =>
      el("td", { class: [(o.num || []).includes(i) ? "num" : "", (o.opt || []).includes(i) ? "opt" : ""].join(" ").trim() || null }, c))))
      : el("tr", {}, el("td", { colspan: headers.length, class: "muted", text: o.empty || "Nothing yet." }))));
}

function moduleLink(path) {
  return el("a", { href: "#/module?path=" + encodeURIComponent(path) }, path);
}

// ---- views ---------------------------------------------------------------------------------

function loginView(reason) {
  const input = el("input", { id: "key", type: "password", autocomplete: "off", required: true, "aria-describedby": "key-help" });
  const form = el("form", { class: "panel login", "aria-labelledby": "login-title",
    onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      try {
        await api("status");
        say("");
        location.hash = "#/dashboard";
      } catch (e) {
        sessionStorage.removeItem(KEY);
        say(e.status === 401 ? "That key is unknown or revoked." : e.status === 403 ? "That key is not in an admin group." : e.message, "error");
        input.focus();
      }
    } },
    el("h1", { id: "login-title" }, "Log in"),
    el("label", { for: "key" }, "API key", input),
    el("p", { id: "key-help", class: "muted" }, "A key of an admin group. It stays in this tab only and is sent as X-API-Key."),
    el("button", { type: "submit" }, "Log in"));
  main().replaceChildren(form);
  if (reason) say(reason, "error");
  input.focus();
}

const traffic = [];

async function dashboardView() {
  const [stats, up, denied] = await Promise.all([
    api("stats?top=8"), api("upstreams"), api("audit?allowed=false&limit=10"),
  ]);
  traffic.push({ t: Date.now(), n: stats.hits + stats.misses });
  if (traffic.length > 60) traffic.shift();
  const card = (n, l) => el("div", { class: "card" }, el("div", { class: "n" }, n), el("div", { class: "l" }, l));
  const ratio = stats.hit_ratio === null ? "–" : (stats.hit_ratio * 100).toFixed(1) + " %";
  const members = [];
  for (const p of up.pools || []) for (const m of p.members) members.push([p.name, m.url, health(m.healthy)]);
  for (const p of up.proxies || []) for (const m of p.members) members.push(["proxy " + p.name, m.url, health(m.healthy)]);
  if (up.coordination) members.push(["coordination", up.coordination.redis, health(up.coordination.up)]);
  main().replaceChildren(
    el("h1", {}, "Dashboard"),
    el("div", { class: "cards" },
      card(stats.hits + stats.misses, "requests counted"),
      card(ratio, "cache hit ratio"),
      card(bytes(stats.bytes), "served"),
      card(stats.cache ? bytes(stats.cache.bytes) : "–", "in the cache" + (stats.cache ? " (" + stats.cache.objects + " objects)" : "")),
      card(stats.quarantined, "quarantined")),
    el("section", { class: "panel", "aria-labelledby": "traffic" }, el("h2", { id: "traffic" }, "Traffic (requests between refreshes)"), spark()),
    el("div", { class: "grid2" },
      el("section", { class: "panel", "aria-labelledby": "ups" }, el("h2", { id: "ups" }, "Upstream health"),
        el("p", { class: "muted" }, "Upstream: " + up.upstream),
        table(["Where", "Member", "Health"], members, { empty: "No pools or proxied backends configured." })),
      el("section", { class: "panel", "aria-labelledby": "den" }, el("h2", { id: "den" }, "Recent denials"),
        table(["Time", "Who", "What", "Reason"], denied.entries.map(e =>
          [e.time || "", e.who || "", e.module || e.path || e.action || "", e.reason || ""]), { opt: [3], empty: "No denials." }))),
    el("div", { class: "grid2" },
      el("section", { class: "panel", "aria-labelledby": "topm" }, el("h2", { id: "topm" }, "Top modules"),
        table(["Module", "Requests", "Bytes"], stats.top_modules.map(t => [moduleLink(t.name), t.requests, bytes(t.bytes)]), { num: [1, 2] })),
      el("section", { class: "panel", "aria-labelledby": "topc" }, el("h2", { id: "topc" }, "Top clients"),
        table(["Client", "Requests", "Bytes"], stats.top_clients.map(t => [t.name, t.requests, bytes(t.bytes)]), { num: [1, 2] }))),
    el("p", { class: "muted" }, "Counting since " + when(stats.since) + ". Refreshes every 10 s."));
}

function health(ok) {
  return el("span", { class: "tag " + (ok ? "ok" : "bad") }, ok ? "healthy" : "down");
}

function spark() {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 300 60");
  svg.setAttribute("role", "img");
  const deltas = traffic.slice(1).map((p, i) => Math.max(0, p.n - traffic[i].n));
  svg.setAttribute("aria-label", deltas.length ? "requests per refresh: " + deltas.join(", ") : "collecting");
  const max = Math.max(1, ...deltas);
  const pts = deltas.map((d, i) => `${(i / Math.max(1, deltas.length - 1)) * 300},${58 - (d / max) * 54}`).join(" ");
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", pts || "0,58 300,58");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1f4e79");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  return svg;
}

async function catalogView(params) {
  const q = params.get("q") || "", prefix = params.get("prefix") || "", page = +(params.get("page") || 1);
  const data = await api(`catalog?q=${encodeURIComponent(q)}&prefix=${encodeURIComponent(prefix)}&page=${page}&per_page=50`);
  const qi = el("input", { id: "q", type: "search", value: q, placeholder: "part of a module path" });
  const pi = el("input", { id: "prefix", type: "search", value: prefix, placeholder: "github.com/org/" });
  const go = (p) => { location.hash = `#/catalog?q=${encodeURIComponent(qi.value)}&prefix=${encodeURIComponent(pi.value)}&page=${p}`; };
  const pages = Math.max(1, Math.ceil(data.total / data.per_page));
  main().replaceChildren(
    el("h1", {}, "Catalog"),
    el("form", { class: "row", role: "search", onsubmit: (ev) => { ev.preventDefault(); go(1); } },
      el("label", { for: "q" }, "Search", qi), el("label", { for: "prefix" }, "Path prefix", pi),
      el("button", { type: "submit" }, "Search")),
    el("p", { class: "muted" }, `${data.total} modules · ${data.objects} objects · ${bytes(data.bytes)} cached`),
    el("div", { class: "panel" }, table(["Module", "Versions", "Newest", "Size", "Last served", "Source"],
      data.modules.map(m => {
        const v = m.versions[0] || {};
        const size = m.versions.reduce((a, x) => a + x.size, 0);
        const last = m.versions.map(x => x.last_served).filter(Boolean).sort().pop();
        return [moduleLink(m.path), m.versions.length, v.version || "", bytes(size), when(last), m.source];
      }), { num: [1, 3], opt: [4, 5], empty: "No cached module matches." })),
    el("div", { class: "pager" },
      el("button", { type: "button", class: "secondary", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
      el("span", {}, `Page ${page} of ${pages}`),
      el("button", { type: "button", class: "secondary", disabled: page >= pages, onclick: () => go(page + 1) }, "Next")));
  if (!q && !prefix) qi.focus();
}

async function moduleView(params) {
  const path = params.get("path") || "";
  const m = await api("module?path=" + encodeURIComponent(path));
  const rows = m.versions.map(v => [
    v.version,
    bytes(v.size),
    when(v.cached),
    when(v.last_served),
    v.served,
    el("span", { class: v.verification === "mismatch" ? "bad" : "ok" }, (v.verification || "unrecorded").replace(/_/g, " ")),
    v.quarantined ? el("span", { class: "tag bad", title: v.quarantined.reason }, "quarantined") : "",
    versionActions(m.path, v),
  ]);
  main().replaceChildren(
    el("h1", {}, m.path),
    el("p", { class: "muted" }, "Source: " + m.source),
    el("div", { class: "panel" }, table(["Version", "Size", "Cached", "Last served", "Served", "Verification", "State", "Actions"], rows,
      { num: [1, 4], opt: [2, 4] })),
    el("div", { id: "qform" }),
    el("h2", {}, "go.mod" + (m.go_mod_version ? " (" + m.go_mod_version + ")" : "")),
    m.go_mod ? el("pre", {}, m.go_mod) : el("p", { class: "muted" }, "No go.mod cached."),
    el("h2", {}, "Required by (cached)"),
    el("div", { class: "panel" }, table(["Module", "Version", "Requires"],
      m.dependents.map(d => [moduleLink(d.module), d.version, d.requires]), { empty: "No cached module requires it." })));
}

function versionActions(path, v) {
  const verify = el("button", { type: "button", class: "secondary", "aria-label": "Re-verify " + v.version,
    onclick: async () => {
      try {
        const r = await api("verify", { method: "POST", json: { module: path, version: v.version } });
        say(`${path}@${v.version}: ${r.state.replace(/_/g, " ")}${r.detail ? " — " + r.detail : ""}`, r.state === "mismatch" ? "error" : "info");
        route();
      } catch (e) { say(e.message, "error"); }
    } }, "Re-verify");
  if (v.quarantined) {
    return el("span", { class: "row" }, verify, el("button", { type: "button", "aria-label": "Release " + v.version,
      onclick: async () => {
        try {
          await api(`quarantine?module=${encodeURIComponent(path)}&version=${encodeURIComponent(v.version)}`, { method: "DELETE" });
          say(`${path}@${v.version} is served again.`);
          route();
        } catch (e) { say(e.message, "error"); }
      } }, "Release"));
  }
  return el("span", { class: "row" }, verify, el("button", { type: "button", class: "danger", "aria-label": "Quarantine " + v.version,
    onclick: () => quarantineForm(path, v.version) }, "Quarantine"));
}

function quarantineForm(path, version) {
  const reason = el("input", { id: "reason", required: true, placeholder: "e.g. CVE-2026-1234" });
  const form = el("form", { class: "panel row", "aria-label": "Quarantine " + version,
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api("quarantine", { method: "POST", json: { module: path, version, reason: reason.value } });
        say(`${path}@${version} is quarantined: clients get 410 Gone.`);
        route();
      } catch (e) { say(e.message, "error"); }
    } },
    el("label", { for: "reason" }, `Why quarantine ${version}?`, reason),
    el("button", { type: "submit", class: "danger" }, "Confirm quarantine"),
    el("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"));
  document.getElementById("qform").replaceChildren(form);
  reason.focus();
}

async function quarantineView() {
  const q = await api("quarantine");
  main().replaceChildren(el("h1", {}, "Quarantine"),
    el("p", { class: "muted" }, "Quarantined versions are answered 410 Gone and left out of lists. Quarantine a version from its module's page."),
    el("div", { class: "panel" }, table(["Module", "Version", "Reason", "By", "Since", ""], q.quarantined.map(x => [
      moduleLink(x.module), x.version, x.reason, x.by, when(x.at),
      el("button", { type: "button", "aria-label": `Release ${x.module}@${x.version}`, onclick: async () => {
        try {
          await api(`quarantine?module=${encodeURIComponent(x.module)}&version=${encodeURIComponent(x.version)}`, { method: "DELETE" });
          say(`${x.module}@${x.version} is served again.`);
          route();
        } catch (e) { say(e.message, "error"); }
      } }, "Release")]), { opt: [3, 4], empty: "Nothing is quarantined." })));
}

async function warmView() {
  const text = el("textarea", { id: "sum", required: true, spellcheck: "false", placeholder: "golang.org/x/text v0.3.0 h1:…" });
  const kind = el("select", { id: "kind" }, ["go.sum", "go.mod", "go.work"].map(k => el("option", { value: k }, k)));
  const file = el("input", { id: "file", type: "file", accept: ".sum,.mod,.work,text/plain",
    onchange: async () => {
      const f = file.files[0];
      if (!f) return;
      text.value = await f.text();
      const n = f.name.endsWith(".sum") ? "go.sum" : f.name === "go.mod" ? "go.mod" : f.name === "go.work" ? "go.work" : kind.value;
      kind.value = n;
    } });
  const out = el("div", { id: "job", "aria-live": "polite" });
  main().replaceChildren(el("h1", {}, "Warm the cache"),
    el("p", { class: "muted" }, "Fetch every module a build needs from a go.sum (hashes are checked), go.mod or go.work."),
    el("form", { class: "panel", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const job = await api("warm?name=" + encodeURIComponent(kind.value), { method: "POST", body: text.value });
        follow(job.id, out);
      } catch (e) { say(e.message, "error"); }
    } },
      el("div", { class: "row" }, el("label", { for: "file" }, "File", file), el("label", { for: "kind" }, "Kind", kind)),
      el("label", { for: "sum" }, "Contents", text),
      el("p", {}, el("button", { type: "submit" }, "Start warming"))),
    out);
  text.focus();
}

async function follow(id, out) {
  for (;;) {
    const j = await api("jobs/" + encodeURIComponent(id));
    const pct = j.total ? Math.round((j.done / j.total) * 100) : 100;
    out.replaceChildren(el("section", { class: "panel", "aria-labelledby": "jobh" },
      el("h2", { id: "jobh" }, `Job ${j.id}: ${j.state}`),
      el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": j.total, "aria-valuenow": j.done },
        el("div", { style: null })),
      el("p", { class: "job-figures" }, `${j.done} of ${j.total} done, ${j.failed} failed`),
      j.problems.length ? el("ul", {}, j.problems.map(p => el("li", { class: "bad" }, p))) : ""));
    out.querySelector(".progress > div").style.width = pct + "%";
    if (j.state === "done") return;
    await new Promise(r => setTimeout(r, 500));
  }
}

async function auditView(params) {
  const f = (k) => params.get(k) || "";
  const who = el("input", { id: "who", value: f("who") });
  const mod = el("input", { id: "module", value: f("module") });
  const action = el("select", { id: "action" }, ["", "read", "write", "admin"].map(a => el("option", { value: a, selected: a === f("action") }, a || "any")));
  const allowed = el("select", { id: "allowed" }, [["", "any"], ["true", "allowed"], ["false", "denied"]].map(([v, l]) => el("option", { value: v, selected: v === f("allowed") }, l)));
  const event = el("input", { id: "event", value: f("event"), placeholder: "admin, checksum-mismatch…" });
  const qs = new URLSearchParams();
  for (const k of ["who", "module", "action", "allowed", "event"]) if (f(k)) qs.set(k, f(k));
  qs.set("limit", "200");
  const data = await api("audit?" + qs.toString());
  main().replaceChildren(el("h1", {}, "Audit log"),
    el("form", { class: "row", onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const [k, e] of [["who", who], ["module", mod], ["action", action], ["allowed", allowed], ["event", event]]) if (e.value) p.set(k, e.value);
      location.hash = "#/audit?" + p.toString();
    } },
      el("label", { for: "who" }, "Who", who), el("label", { for: "module" }, "Module", mod),
      el("label", { for: "action" }, "Action", action), el("label", { for: "allowed" }, "Decision", allowed),
      el("label", { for: "event" }, "Event", event), el("button", { type: "submit" }, "Filter")),
    el("div", { class: "panel" }, table(["Time", "Who", "Event / action", "Module or call", "Outcome"], data.entries.map(e => [
      e.time || "", e.who || "", e.event || e.action || "",
      e.module || e.call || e.path || "",
      e.event === "admin" ? String(e.status) + (e.detail ? " " + e.detail : "") : el("span", { class: e.allowed ? "ok" : "bad" }, (e.allowed ? "allowed" : "denied") + (e.reason ? ": " + e.reason : "")),
    ]), { opt: [0], empty: "No entry matches." })));
}

// ---- routing -------------------------------------------------------------------------------

const views = { dashboard: dashboardView, catalog: catalogView, module: moduleView, warm: warmView, quarantine: quarantineView, audit: auditView };
let refresh = null;

async function route() {
  clearInterval(refresh);
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, query] = hash.split("?");
  const loggedIn = !!sessionStorage.getItem(KEY);
  document.getElementById("nav").hidden = !loggedIn;
  if (!loggedIn || name === "login") return loginView();
  const view = views[name] || dashboardView;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#/" + (views[name] ? name : "dashboard")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await view(new URLSearchParams(query || ""));
    if (view === dashboardView) refresh = setInterval(() => dashboardView().catch(() => {}), 10000);
  } catch (e) {
    if (e.status === 401 || e.status === 403) return loginView("Your key was refused; log in again.");
    main().replaceChildren(el("h1", {}, "Something went wrong"), el("p", { class: "bad" }, e.message));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    say("");
    location.hash = "#/login";
  });
  window.addEventListener("hashchange", () => { say(""); route(); });
  route();
});
