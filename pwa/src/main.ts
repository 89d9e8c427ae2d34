// The app's entry: language, theme, service worker, routes, and the outbox's triggers.
import "./styles.css";
import { h } from "./dom";
import { initialLanguage, setLanguage, t } from "./i18n";
import { frame, offerUpdate } from "./layout";
import { replay } from "./outbox";
import { notFound, navigate, route, start, show, type View } from "./router";
import { boot, load, me } from "./session";
import {
  confirmView,
  forgotView,
  homeFor,
  inviteView,
  portalInviteView,
  portalSignInView,
  resetView,
  signInView,
  signupView,
} from "./views/auth";
import { page } from "./views/common";
import { syncView } from "./views/changes";
import { myWorkView, workOrderView } from "./views/tech";
import { portalHomeView } from "./views/portal";

const info = boot();
setLanguage(initialLanguage(info.lang));
document.documentElement.style.setProperty("--brand", info.theme);

// Guards ----------------------------------------------------------------------------------------

function staffOnly(view: View): View {
  return async (main, params, query) => {
    const who = me();
    if (!who || who.kind !== "staff") {
      await navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, true);
      return;
    }
    await view(main, params, query);
  };
}

function subscriberOnly(view: View): View {
  return async (main, params, query) => {
    const who = me();
    if (!who || who.kind !== "subscriber") {
      await navigate("/portal/signin", true);
      return;
    }
    await view(main, params, query);
  };
}

/** Office screens load on demand: the technician's first load stays small. */
function lazy<M>(load: () => Promise<M>, pick: (mod: M) => View): View {
  return staffOnly(async (main, params, query) => pick(await load())(main, params, query));
}
const office = () => import("./views/office");
const subs = () => import("./views/subscribers");

// Routes ----------------------------------------------------------------------------------------

if (info.host === "base") {
  route("/", signupView);
  route("/signup", signupView);
} else {
  route("/", async () => navigate(homeFor(me()), true));
  route("/signin", signInView);
  route("/signup", async () => navigate("/signin", true));
  route("/forgot", forgotView);
  route("/reset/:token", resetView);
  route("/invite/:token", inviteView);
  route("/confirm/:token", confirmView);
  route("/app", lazy(office, (m) => m.homeView));
  route("/app/work-orders", staffOnly(myWorkView));
  route("/app/work-orders/:id", staffOnly(workOrderView));
  route("/app/sync", staffOnly(syncView));
  route("/app/board", lazy(office, (m) => m.boardView));
  route("/app/plans", lazy(office, (m) => m.plansView));
  route("/app/staff", lazy(office, (m) => m.staffView));
  route("/app/subscribers", lazy(subs, (m) => m.subscribersView));
  route("/app/subscribers/new", lazy(subs, (m) => m.newSubscriberView));
  route("/app/subscribers/:id", lazy(subs, (m) => m.subscriberView));
  route("/app/invoices", lazy(() => import("./views/billing"), (m) => m.invoicesView));
  route("/app/passkeys", lazy(() => import("./views/account"), (m) => m.passkeysView));
  route("/portal", subscriberOnly(portalHomeView));
  route("/portal/signin", portalSignInView);
  route("/portal/invite/:token", portalInviteView);
}
notFound((main) => page(main, t("notfound.title"), h("p", null, h("a", { href: "/" }, t("notfound.home")))));

// Service worker: the shell offline, and an "update available" prompt for a new version.

const UPDATE_CHECK_MS = 30 * 60 * 1000;

function watchForUpdate(registration: ServiceWorkerRegistration): void {
  // Navigations inside the app never reach the network, so look for a new version now and then.
  const check = () => {
    if (navigator.onLine) registration.update().catch(() => undefined);
  };
  window.setInterval(check, UPDATE_CHECK_MS);
  window.addEventListener("online", check);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
  const offer = (worker: ServiceWorker) =>
    offerUpdate(() => {
      worker.postMessage({ type: "SKIP_WAITING" });
    });
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
    });
  });
  let reloading = false;
  let hadController = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install takes control silently; a later change is the update the user asked for.
    if (!hadController) {
      hadController = true;
      return;
    }
    if (reloading) return;
    reloading = true;
    location.reload();
  });
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker
    .register("/sw.js", { scope: "/" })
    .then(watchForUpdate)
    .catch(() => undefined);
}

// Start ------------------------------------------------------------------------------------------

const root = document.getElementById("app")!;
start(async (view, params) => {
  const main = frame(root);
  await view(main, params, new URLSearchParams(location.search));
  document.documentElement.lang = document.documentElement.lang || "en";
  main.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
});

async function boot_(): Promise<void> {
  if (info.host === "tenant") {
    await load();
    const who = me();
    if (who?.kind === "staff") void replay(who.id);
  }
  await show();
}

window.addEventListener("online", () => {
  const who = me();
  if (who?.kind === "staff") void replay(who.id);
});

void boot_();
