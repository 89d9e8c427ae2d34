// The technician's screens: my work orders (today, upcoming) and one order with its steps, all
// usable with no network. Changes go through the outbox (see steps.ts and changes.ts).
import { Offline } from "../api";
import { busy, fmtDate, h, mount, today, uid } from "../dom";
import { t } from "../i18n";
import { onOutboxChange, replay } from "../outbox";
import { onLeave, type Params } from "../router";
import { isOfflineSession, me } from "../session";
import { fetchOne, localOrder, localOrders, refreshMine, type LocalOrder } from "../workdata";
import { changesList } from "./changes";
import { asProblem, badge, loading, notice, page, problemNotice, speed } from "./common";
import { cancelBox, nextStep, stepper } from "./steps";

const DONE = new Set(["signed_off", "cancelled"]);
const ON_SITE = new Set(["in_progress", "cpe_authenticated", "activated"]);

function mapLinks(o: LocalOrder): HTMLElement | null {
  const s = o.subscriber;
  if (!s) return null;
  const lat = s.latitude, lon = s.longitude;
  const hasCoords = lat !== null && lat !== undefined && lon !== null && lon !== undefined;
  const query = hasCoords ? `${lat},${lon}` : (s.address ?? "");
  if (!query) return null;
  const web = `https://www.openstreetmap.org/search?query=${encodeURIComponent(query)}`;
  const geo = hasCoords ? `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(s.name)})` : `geo:0,0?q=${encodeURIComponent(query)}`;
  return h(
    "span",
    { class: "links" },
    h("a", { href: geo, class: "map-link" }, t("wo.open_map")),
    " · ",
    h("a", { href: web, target: "_blank", rel: "noopener noreferrer" }, t("wo.open_web_map")),
  );
}

function syncBadge(o: LocalOrder): HTMLElement | null {
  const refused = o.changes.filter((c) => c.state === "refused").length;
  const pending = o.changes.filter((c) => c.state === "pending").length;
  if (refused) return h("span", { class: "badge bad" }, t("sync.refused_short"));
  if (pending) return h("span", { class: "badge warn" }, t("sync.pending_short"));
  return null;
}

function card(o: LocalOrder): HTMLElement {
  const s = o.subscriber;
  return h(
    "li",
    { class: "card wo-card" },
    h(
      "a",
      { href: `/app/work-orders/${o.order.id}`, class: "wo-link" },
      h("strong", null, s?.name ?? t("wo.untitled")),
      h("span", { class: "row" }, badge(o.order.status), syncBadge(o), h("span", { class: "muted" }, t(`kind.${o.order.kind}`))),
      s?.address ? h("span", { class: "muted" }, s.address) : null,
      h(
        "span",
        { class: "muted" },
        o.order.install_date ? fmtDate(o.order.install_date) : t("wo.not_scheduled"),
        o.plan ? ` · ${o.plan.name}` : "",
        o.access_point ? ` · ${o.access_point.name}` : "",
      ),
    ),
  );
}

function section(title: string, orders: LocalOrder[], empty?: string): HTMLElement | null {
  if (!orders.length && !empty) return null;
  const id = uid("sec");
  return h(
    "section",
    { "aria-labelledby": id },
    h("h2", { id }, title, " ", h("span", { class: "count" }, `(${orders.length})`)),
    orders.length ? h("ul", { class: "cards" }, orders.map(card)) : h("p", { class: "muted" }, empty),
  );
}

export async function myWorkView(main: HTMLElement): Promise<void> {
  const who = me()!;
  const status = h("p", { class: "muted", role: "status", id: "refresh-status" });
  const list = h("div", { id: "wo-list" }, loading());
  const refreshButton = h("button", { type: "button", class: "secondary small" }, t("wo.refresh"));
  page(main, t("wo.mine"), h("div", { class: "row" }, refreshButton, status), list);

  const draw = async () => {
    const orders = await localOrders(who.id);
    const d = today();
    const active = orders.filter((o) => !DONE.has(o.order.status));
    const byDate = (a: LocalOrder, b: LocalOrder) => (a.order.install_date ?? "").localeCompare(b.order.install_date ?? "");
    const todays = active
      .filter((o) => ON_SITE.has(o.order.status) || (o.order.install_date ?? "") === d || ((o.order.install_date ?? "") < d && o.order.install_date))
      .sort(byDate);
    const todaySet = new Set(todays);
    const upcoming = active.filter((o) => !todaySet.has(o) && (o.order.install_date ?? "") > d).sort(byDate);
    const unscheduled = active.filter((o) => !todaySet.has(o) && !o.order.install_date);
    const done = orders.filter((o) => DONE.has(o.order.status)).slice(0, 20);
    mount(
      list,
      section(t("wo.today"), todays, t("wo.none_today")),
      section(t("wo.upcoming"), upcoming, t("wo.none_upcoming")),
      section(t("wo.unscheduled"), unscheduled),
      section(t("wo.done"), done),
    );
  };

  const refresh = async () => {
    if (!navigator.onLine) {
      status.textContent = t("wo.offline_copy");
      return;
    }
    status.textContent = t("wo.refreshing");
    try {
      await replay(who.id);
      await refreshMine(who.id);
      status.textContent = t("wo.refreshed", { time: new Date().toLocaleTimeString(document.documentElement.lang, { timeStyle: "short" }) });
    } catch (error) {
      status.textContent = error instanceof Offline ? t("wo.offline_copy") : asProblem(error).detail ?? t("error.generic");
    }
    await draw();
  };
  refreshButton.addEventListener("click", () => void busy(refreshButton, refresh));
  onLeave(onOutboxChange(() => void draw()));
  const back = () => void refresh();
  window.addEventListener("online", back);
  onLeave(() => window.removeEventListener("online", back));
  await draw();
  if (isOfflineSession()) status.textContent = t("wo.offline_copy");
  else void refresh();
}

export async function workOrderView(main: HTMLElement, params: Params): Promise<void> {
  const who = me()!;
  const id = params.id ?? "";
  let first = await localOrder(id);
  if (!first && navigator.onLine) {
    try {
      first = await fetchOne(who.id, id);
    } catch (error) {
      page(main, t("wo.title"), problemNotice(error));
      return;
    }
  }
  if (!first) {
    page(main, t("wo.title"), notice("warn", t("wo.not_cached")), h("p", null, h("a", { href: "/app/work-orders" }, t("wo.back"))));
    return;
  }
  const badges = h("div", { class: "row", id: "wo-badges" });
  const changes = h("div", { id: "wo-changes" });
  let shown = "";

  const drawStatus = (o: LocalOrder) => {
    mount(badges, badge(o.order.status), syncBadge(o), h("span", { class: "muted" }, t(`kind.${o.order.kind}`)));
    mount(changes, changesList(o.changes, t("sync.changes_here")));
  };

  // The whole screen: on opening, and when the order moves to another step. Sync progress
  // alone only updates the badges and the list of changes, so typing is never interrupted.
  const draw = (o: LocalOrder, focusStep: boolean) => {
    shown = o.order.status;
    const s = o.subscriber;
    const plan = o.plan;
    const rerender = () => void localOrder(id).then((fresh) => fresh && draw(fresh, true));
    const step = nextStep(o, rerender);
    page(
      main,
      s?.name ?? t("wo.title"),
      h("p", null, h("a", { href: "/app/work-orders" }, t("wo.back"))),
      badges,
      h(
        "dl",
        { class: "facts card" },
        h("dt", null, t("wo.address")),
        h("dd", null, s?.address || "—", h("br"), mapLinks(o)),
        s?.phone ? [h("dt", null, t("wo.phone")), h("dd", null, h("a", { href: `tel:${s.phone}` }, s.phone))] : null,
        h("dt", null, t("wo.plan")),
        h("dd", null, plan ? `${plan.name} — ${speed(plan.download_kbps)} / ${speed(plan.upload_kbps)}` : "—"),
        h("dt", null, t("wo.access_point")),
        h("dd", null, o.access_point ? o.access_point.name + (o.access_point.ssid ? ` (${o.access_point.ssid})` : "") : "—"),
        h("dt", null, t("wo.install_date")),
        h("dd", null, fmtDate(o.order.install_date)),
        o.order.cpe_mac ? [h("dt", null, t("wo.cpe_mac")), h("dd", { class: "mono" }, o.order.cpe_mac)] : null,
        o.order.description ? [h("dt", null, t("wo.notes")), h("dd", null, o.order.description)] : null,
      ),
      o.order.status === "cancelled" ? notice("warn", t("wo.cancelled")) : stepper(o.order.status),
      step,
      o.order.status === "signed_off" ? notice("ok", t("wo.complete")) : null,
      changes,
      cancelBox(o, rerender),
    );
    drawStatus(o);
    if (focusStep) {
      const target = step?.querySelector<HTMLElement>("h2") ?? main.querySelector<HTMLElement>("h1");
      target?.setAttribute("tabindex", "-1");
      target?.focus();
    }
  };

  onLeave(
    onOutboxChange(() => {
      void localOrder(id).then((fresh) => {
        if (!fresh) return;
        if (fresh.order.status !== shown) draw(fresh, false);
        else drawStatus(fresh);
      });
    }),
  );
  draw(first, false);
}

