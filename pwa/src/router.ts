// A small history router: paths to views, same-origin links handled in the page.
export type Params = Record<string, string>;
export type View = (main: HTMLElement, params: Params, query: URLSearchParams) => void | Promise<void>;

interface Route {
  parts: string[];
  view: View;
}

const routes: Route[] = [];
let fallback: View | null = null;
let render: ((view: View, params: Params) => Promise<void>) | null = null;
let cleanup: (() => void)[] = [];

export function route(pattern: string, view: View): void {
  routes.push({ parts: pattern.split("/").filter(Boolean), view });
}

export function notFound(view: View): void {
  fallback = view;
}

/** Work a view started (a passkey prompt, a camera) that must stop when the user leaves it. */
export function onLeave(fn: () => void): void {
  cleanup.push(fn);
}

export function match(path: string): { view: View; params: Params } | null {
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const r of routes) {
    const params: Params = {};
    const rest = r.parts[r.parts.length - 1] === "*";
    const parts = rest ? r.parts.slice(0, -1) : r.parts;
    if (rest ? segments.length < parts.length : segments.length !== parts.length) continue;
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.startsWith(":")) params[p.slice(1)] = segments[i]!;
      else if (p !== segments[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return { view: r.view, params };
  }
  return fallback ? { view: fallback, params: {} } : null;
}

export async function navigate(path: string, replace = false): Promise<void> {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  await show();
}

export async function show(): Promise<void> {
  for (const fn of cleanup.splice(0)) fn();
  const found = match(location.pathname);
  if (found && render) await render(found.view, found.params);
}

export function start(renderer: (view: View, params: Params) => Promise<void>): void {
  render = renderer;
  window.addEventListener("popstate", () => void show());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download") || link.origin !== location.origin) return;
    const path = link.pathname;
    if (path.startsWith("/api/") || path.startsWith("/dev/") || path.startsWith("/schema")) return;
    event.preventDefault();
    void navigate(path + link.search);
  });
}
