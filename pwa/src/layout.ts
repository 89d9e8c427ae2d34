// The frame around every screen: skip link, header with the WISP's name, navigation by role,
// the sync indicator, language and sign-out; banners for offline and for a new version.
import { h, mount } from "./dom";
import { LANGUAGES, currentLanguage, setLanguage, t } from "./i18n";
import { needsSignIn, onOutboxChange, pendingCount } from "./outbox";
import { outboxItems } from "./db";
import { navigate, show } from "./router";
import { boot, me } from "./session";
import { auth, portal } from "./api";
import { remember } from "./session";

interface NavItem {
  href: string;
  label: string;
  roles: string[];
}

const M = "manager", S = "sales", CS = "customer_service", F = "finance", T = "technical";

function navItems(): NavItem[] {
  return [
    { href: "/app/work-orders", label: t("nav.my_work"), roles: [M, T] },
    { href: "/app/board", label: t("nav.board"), roles: [M, S, T] },
    { href: "/app/subscribers", label: t("nav.subscribers"), roles: [M, S, CS, F] },
    { href: "/app/plans", label: t("nav.plans"), roles: [M, S] },
    { href: "/app/invoices", label: t("nav.invoices"), roles: [M, F] },
    { href: "/app/staff", label: t("nav.staff"), roles: [M] },
    { href: "/app/passkeys", label: t("nav.passkeys"), roles: [M, S, CS, F, T] },
  ];
}

export function appName(): string {
  return me()?.tenant?.name ?? boot().tenant?.name ?? "Wisp Cloud";
}

let updateReady: (() => void) | null = null;

export function offerUpdate(apply: () => void): void {
  updateReady = apply;
  renderBanners();
}

function renderBanners(): void {
  const slot = document.getElementById("banners");
  if (!slot) return;
  mount(
    slot,
    navigator.onLine ? null : h("div", { class: "banner offline", role: "status" }, t("banner.offline")),
    updateReady
      ? h(
          "div",
          { class: "banner update", role: "status" },
          h("span", null, t("banner.update")),
          h("button", { type: "button", class: "small", onclick: () => updateReady?.() }, t("banner.reload")),
        )
      : null,
  );
}

async function renderSync(): Promise<void> {
  const slot = document.getElementById("sync-status");
  const who = me();
  if (!slot || !who || who.kind !== "staff") return;
  const pending = await pendingCount(who.id);
  const refused = (await outboxItems()).filter((i) => i.user === who.id && i.state === "refused").length;
  if (pending && needsSignIn) {
    // The session ended while changes waited: they stay queued until the same user signs in.
    const next = encodeURIComponent(location.pathname);
    mount(slot, h("a", { href: `/signin?next=${next}`, class: "sync-pill warn" }, t("sync.sign_in_again", { n: pending })));
    return;
  }
  const label = refused
    ? t("sync.refused_count", { n: refused })
    : pending
      ? t("sync.pending_count", { n: pending })
      : t("sync.all_synced");
  mount(
    slot,
    h("a", { href: "/app/sync", class: `sync-pill ${refused ? "bad" : pending ? "warn" : "ok"}` }, label),
  );
}

async function signOut(): Promise<void> {
  const who = me();
  if (who?.kind === "staff") {
    const pending = await pendingCount(who.id);
    if (pending && !confirm(t("signout.pending", { n: pending }))) return;
  }
  try {
    await (who?.kind === "subscriber" ? portal.logout() : auth.logout());
  } catch {
    /* signed out locally either way */
  }
  remember(null);
  await navigate(who?.kind === "subscriber" ? "/portal/signin" : "/signin");
}

export function frame(root: HTMLElement): HTMLElement {
  const who = me();
  const main = h("main", { id: "main", tabindex: "-1" });
  const items = who?.kind === "staff" ? navItems().filter((i) => i.roles.includes(who.role)) : [];
  const here = location.pathname;
  const langSelect = h(
    "select",
    {
      id: "lang",
      onchange: (e: Event) => {
        setLanguage((e.target as HTMLSelectElement).value, true);
        void show();
      },
    },
    LANGUAGES.map((l) => h("option", { value: l, selected: l === currentLanguage() }, t(`lang.${l}`))),
  );
  mount(
    root,
    h("a", { href: "#main", class: "skip", onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, t("nav.skip")),
    h(
      "header",
      { class: "top" },
      h(
        "div",
        { class: "bar" },
        h("a", { href: "/", class: "brand" }, appName()),
        h("span", { id: "sync-status" }),
      ),
      items.length
        ? h(
            "nav",
            { "aria-label": t("nav.label") },
            h(
              "ul",
              null,
              items.map((i) =>
                h(
                  "li",
                  null,
                  h("a", { href: i.href, "aria-current": here.startsWith(i.href) ? "page" : null }, i.label),
                ),
              ),
            ),
          )
        : null,
    ),
    h("div", { id: "banners" }),
    main,
    h(
      "footer",
      { class: "tools" },
      h("label", { for: "lang" }, t("lang.label")),
      langSelect,
      who ? h("button", { type: "button", class: "small secondary", id: "sign-out", onclick: () => void signOut() }, t("nav.signout")) : null,
    ),
  );
  renderBanners();
  void renderSync();
  return main;
}

onOutboxChange(() => void renderSync());
window.addEventListener("online", renderBanners);
window.addEventListener("offline", renderBanners);
