// The app and its service worker in one build. The worker gets a fixed name (sw.js, served
// from the root so that its scope is the whole app) and the list of files to precache, injected
// after bundling so that every hashed name is known; the list's hash versions the shell cache.
import { createHash } from "node:crypto";
import { defineConfig, type Plugin } from "vite";

// The minifier may quote the placeholders with ", ' or `: match any of them.
const PLACEHOLDER = /(["'`])__WISP_PRECACHE__\1/;
const VERSION = /(["'`])__WISP_VERSION__\1/;

function precache(): Plugin {
  return {
    name: "wisp-precache",
    apply: "build",
    generateBundle(_options, bundle) {
      const worker = bundle["sw.js"];
      if (!worker || worker.type !== "chunk") this.error("sw.js missing from the bundle");
      const files = Object.keys(bundle)
        .filter((name) => name !== "sw.js" && !name.endsWith(".map") && name !== "index.html")
        .map((name) => "/" + name)
        .sort();
      const digest = createHash("sha256");
      for (const name of files) {
        const item = bundle[name.slice(1)];
        digest.update(name);
        digest.update(item.type === "chunk" ? item.code : item.source);
      }
      const html = bundle["index.html"];
      if (html && html.type === "asset") digest.update(html.source);
      const version = digest.digest("hex").slice(0, 16);
      if (!PLACEHOLDER.test(worker.code) || !VERSION.test(worker.code)) {
        this.error("the service worker lost its placeholders");
      }
      worker.code = worker.code
        .replace(PLACEHOLDER, () => JSON.stringify(["/", ...files]))
        .replace(VERSION, () => JSON.stringify(version));
    },
  };
}

export default defineConfig({
  plugins: [precache()],
  build: {
    target: "es2022",
    sourcemap: false,
    assetsInlineLimit: 0,
    rollupOptions: {
      input: { main: "index.html", sw: "src/sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
});
