// The first-load budget: the JavaScript the page loads before any screen (the entry and what it
// imports statically), gzipped, must stay under 150 KB. Lazy chunks (office screens) and the
// service worker are reported but do not count. Exits non-zero over budget.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET = 150 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;

// Entry scripts and module preloads named by the page are what the first load fetches.
const first = new Set(
  [...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/([^"]+\.js)"/g)].map((m) => m[1]),
);
let total = 0;
for (const file of readdirSync(join(dist, "assets")).filter((f) => f.endsWith(".js")).sort()) {
  const path = `assets/${file}`;
  const size = gz(path);
  const counted = first.has(path);
  if (counted) total += size;
  console.log(`${counted ? "first load" : "lazy      "}  ${(size / 1024).toFixed(1).padStart(7)} KB  ${path}`);
}
console.log(`service worker ${(gz("sw.js") / 1024).toFixed(1)} KB gzipped (not in the page's budget)`);
console.log(`first-load JavaScript: ${(total / 1024).toFixed(1)} KB gzipped of ${BUDGET / 1024} KB`);
if (first.size === 0) {
  console.error("no entry script found in dist/index.html");
  process.exit(1);
}
if (total > BUDGET) {
  console.error("over budget");
  process.exit(1);
}
