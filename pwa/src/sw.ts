// The service worker: a versioned app shell, so the app opens with no network at all.
//
// Shell files (the page and every hashed asset) are precached at install under a cache named
// after the build's version. Navigations get the cached page (it decides what to show from
// IndexedDB and the API); hashed assets come from the cache first. The API is never cached
// here: the app keeps work orders in IndexedDB and queues changes in its outbox. A new version
// waits until the page asks it to take over ("update available" → reload).
export {};

declare const self: ServiceWorkerGlobalScope;

const PRECACHE = "__WISP_PRECACHE__" as unknown as string[];
const VERSION = "__WISP_VERSION__" as unknown as string;
const SHELL = `wisp-shell-${VERSION}`;
const RUNTIME = "wisp-runtime";
// Fetched network-first and kept for offline use: they change with the WISP's branding.
const RUNTIME_PATHS = ["/manifest.webmanifest", "/icons/"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      // `reload` skips the HTTP cache, so the shell is exactly this version's files.
      await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
      // The very first install has nothing to replace: take over at once. A later version
      // waits for the page to ask (the user chose "reload"), so a form is never cut off.
      if (!self.registration.active) await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("wisp-shell-") && name !== SHELL) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data?.type === "SKIP_WAITING") void self.skipWaiting();
  if (event.data?.type === "VERSION") event.ports[0]?.postMessage({ version: VERSION });
});

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(RUNTIME);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw error;
  }
}

async function shellPage(request: Request): Promise<Response> {
  const cache = await caches.open(SHELL);
  const cached = await cache.match("/");
  if (cached) return cached;
  return fetch(request);
}

async function cacheFirst(request: Request): Promise<Response> {
  const cached = await caches.match(request);
  return cached ?? fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (path.startsWith("/api/") || path.startsWith("/gateway/") || path.startsWith("/dev/")) return;
  if (path.startsWith("/schema") || path === "/health" || path === "/ready") return;
  if (request.mode === "navigate") {
    event.respondWith(shellPage(request));
  } else if (path.startsWith("/assets/")) {
    event.respondWith(cacheFirst(request));
  } else if (RUNTIME_PATHS.some((p) => path === p || (p.endsWith("/") && path.startsWith(p)))) {
    event.respondWith(networkFirst(request));
  }
});
