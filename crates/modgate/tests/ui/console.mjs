// Drives modgate's console in Debian's Chromium, as an operator would: log in with the
// keyboard, read the dashboard, search the catalog, open a module, quarantine a version and
// release it, warm the cache from a go.sum, filter the audit log, and look at it on a phone.
// A screenshot of each page goes to OUT. Run by tests/console.rs:
//   node console.mjs BASE_URL ADMIN_KEY OUT_DIR MODULE VERSION GO_SUM_FILE
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [base, key, out, module, version, goSum] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const step = (s) => console.log("console: " + s);
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 820 } });
  page.on("pageerror", (e) => failures.push("page error: " + e.message));
  // The wrong key's 401 is expected; any other error in the page is a failure.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) failures.push("console error: " + m.text());
  });
  const shot = (name) => page.screenshot({ path: `${out}/${name}.png`, fullPage: true });

  step("log in (a wrong key first, then the right one, with the keyboard only)");
  await page.goto(base + "/-/ui/");
  await page.getByRole("heading", { name: "Log in" }).waitFor();
  await shot("login");
  await page.keyboard.press("Tab"); // the skip link
  await page.getByLabel("API key").fill("mg_nope_nope");
  await page.keyboard.press("Enter");
  await page.getByText("That key is unknown or revoked.").waitFor();
  await page.getByLabel("API key").fill(key);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.getByRole("heading", { name: "Upstream health" }).waitFor();
  assert.ok(await page.getByText("cache hit ratio").isVisible());
  await shot("dashboard");

  step("search the catalog");
  await page.getByRole("link", { name: "Catalog" }).click();
  const needle = module.split("/").pop();
  await page.getByLabel("Search").fill(needle);
  await page.getByRole("button", { name: "Search" }).click();
  const link = page.getByRole("link", { name: module, exact: true });
  await link.waitFor();
  await shot("catalog");

  step("open the module");
  await link.click();
  await page.getByRole("heading", { name: module }).waitFor();
  await page.getByRole("heading", { name: /^go\.mod/ }).waitFor();
  await shot("module");

  step("quarantine a version");
  await page.getByRole("button", { name: "Quarantine " + version, exact: true }).click();
  await page.getByLabel(`Why quarantine ${version}?`).fill("CVE-2026-4242 in the parser");
  await page.getByRole("button", { name: "Confirm quarantine" }).click();
  await page.getByText("clients get 410 Gone").waitFor();
  const esc = (p) => p.replace(/[A-Z]/g, (c) => "!" + c.toLowerCase());
  let r = await page.request.get(`${base}/${esc(module)}/@v/${version}.info`);
  assert.equal(r.status(), 410, "a quarantined version is gone");
  await page.getByRole("button", { name: "Release " + version, exact: true }).waitFor();
  await shot("module-quarantined");
  await page.getByRole("link", { name: "Quarantine", exact: true }).click();
  await page.getByRole("cell", { name: "CVE-2026-4242 in the parser" }).waitFor();
  await shot("quarantine");

  step("release it");
  await page.getByRole("button", { name: `Release ${module}@${version}` }).click();
  await page.getByText("Nothing is quarantined.").waitFor();
  r = await page.request.get(`${base}/${esc(module)}/@v/${version}.info`);
  assert.equal(r.status(), 200, "released: served again");

  step("warm the cache from a go.sum");
  await page.getByRole("link", { name: "Warm" }).click();
  await page.getByLabel("File").setInputFiles(goSum);
  await page.getByRole("button", { name: "Start warming" }).click();
  await page.getByRole("heading", { name: /: done$/ }).waitFor({ timeout: 60000 });
  const figures = await page.locator(".job-figures").textContent();
  assert.match(figures, /^(\d+) of \1 done, 0 failed$/, figures);
  await shot("warm");

  step("filter the audit log");
  await page.getByRole("link", { name: "Audit" }).click();
  await page.getByLabel("Event").fill("admin");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("cell", { name: "quarantine" }).first().waitFor();
  await page.getByLabel("Event").fill("");
  await page.getByLabel("Decision").selectOption("false");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("cell", { name: /denied/ }).first().waitFor();
  await shot("audit");

  step("a phone");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("link", { name: "Dashboard" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the dashboard fits a phone's width (overflow ${overflow}px)`);
  await shot("phone-dashboard");
  await page.getByRole("link", { name: "Catalog" }).click();
  await page.getByRole("heading", { name: "Catalog" }).waitFor();
  await shot("phone-catalog");

  step("log out");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "the key leaves with the operator");
  assert.deepEqual(failures, []);
  step("all steps passed");
} finally {
  await browser.close();
}
