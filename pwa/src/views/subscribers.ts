// Subscribers: search, add (which opens the installation), detail with status history, plan
// change, suspension and resumption, and (for finance) invoices and payments.
import { ratePlans, subscribers, workOrders, type RatePlan, type Subscriber, type SubscriberIn } from "../api";
import { busy, field, fmtDate, formValues, h, mount, showProblem, today } from "../dom";
import { t } from "../i18n";
import { navigate, type Params } from "../router";
import { hasRole } from "../session";
import { asProblem, badge, loading, money, orderLink, page, problemNotice, speed, statusLabel } from "./common";

const M = "manager", S = "sales", F = "finance", T = "technical";

export async function subscribersView(main: HTMLElement, _p: Params, query: URLSearchParams): Promise<void> {
  const q = query.get("q") ?? "";
  const results = h("div", { id: "results" }, loading());
  const search = h(
    "form",
    { role: "search", class: "row search" },
    h("label", { for: "q", class: "visually-hidden" }, t("subs.search")),
    h("input", { id: "q", name: "q", type: "search", value: q, placeholder: t("subs.search_hint"), autocomplete: "off" }),
    h("button", { type: "submit", class: "secondary" }, t("subs.search")),
  );
  search.addEventListener("submit", (e) => {
    e.preventDefault();
    void navigate(`/app/subscribers?q=${encodeURIComponent(formValues(search).q ?? "")}`, true);
  });
  page(
    main,
    t("nav.subscribers"),
    hasRole(M, S) ? h("p", null, h("a", { href: "/app/subscribers/new", class: "button" }, t("subs.new"))) : null,
    search,
    results,
  );
  try {
    const found = await subscribers.list(q);
    mount(
      results,
      found.items.length
        ? h("ul", { class: "cards" }, found.items.map((s) => h("li", { class: "card" }, h("a", { href: `/app/subscribers/${s.id}` }, h("strong", null, s.name), " ", badge(s.status), h("br"), h("span", { class: "muted" }, s.email, s.address ? ` · ${s.address}` : "")))))
        : h("p", { class: "muted" }, t("subs.none")),
    );
  } catch (error) {
    mount(results, problemNotice(error));
  }
}

export async function newSubscriberView(main: HTMLElement): Promise<void> {
  let plans: RatePlan[] = [];
  try {
    plans = (await ratePlans.list()).items.filter((p) => !p.archived);
  } catch (error) {
    page(main, t("subs.new"), problemNotice(error));
    return;
  }
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({ label: t("field.name"), name: "name", required: true, autocomplete: "off" }),
    field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "off" }),
    field({ label: t("subs.phone"), name: "phone", type: "tel", autocomplete: "off" }),
    field({ label: t("subs.address"), name: "address", autocomplete: "off" }),
    field({ label: t("subs.latitude"), name: "latitude", inputmode: "decimal" }),
    field({ label: t("subs.longitude"), name: "longitude", inputmode: "decimal" }),
    field({ label: t("subs.plan"), name: "plan_id", required: true, options: [["", t("subs.choose_plan")], ...plans.map((p) => [p.id, `${p.name} — ${money(p.monthly_price, p.currency)}`] as [string, string])] }),
    field({ label: t("wo.notes"), name: "notes", type: "textarea" }),
    h("button", { type: "submit" }, t("subs.create")),
  );
  page(main, t("subs.new"), h("p", null, t("subs.new_intro")), form);
  const key = crypto.randomUUID();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    const body: SubscriberIn = { name: v.name, email: v.email, plan_id: v.plan_id, phone: v.phone, address: v.address, notes: v.notes };
    if (v.latitude) body.latitude = Number(v.latitude);
    if (v.longitude) body.longitude = Number(v.longitude);
    void busy(form.querySelector("button"), async () => {
      try {
        const made = await subscribers.create(body, key);
        await navigate(`/app/subscribers/${made.id}`, true);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

export async function subscriberView(main: HTMLElement, params: Params): Promise<void> {
  const id = params.id ?? "";
  let s: Subscriber;
  let plans: RatePlan[] = [];
  try {
    [s, plans] = await Promise.all([subscribers.get(id), ratePlans.list().then((r) => r.items)]);
  } catch (error) {
    page(main, t("nav.subscribers"), problemNotice(error));
    return;
  }
  const plan = plans.find((p) => p.id === s.plan_id);
  const history = h("div", null, loading());
  const orders = h("div", null, loading());
  const money_ = h("div");
  const redraw = () => void subscriberView(main, params);
  page(
    main,
    s.name,
    h("p", null, h("a", { href: "/app/subscribers" }, t("subs.back"))),
    h("div", { class: "row" }, badge(s.status), s.suspension_reason ? h("span", { class: "muted" }, t(`reason.${s.suspension_reason}`)) : null),
    h(
      "dl",
      { class: "facts card" },
      h("dt", null, t("field.email")), h("dd", null, s.email),
      h("dt", null, t("subs.phone")), h("dd", null, s.phone || "—"),
      h("dt", null, t("subs.address")), h("dd", null, s.address || "—"),
      h("dt", null, t("subs.plan")), h("dd", null, plan ? `${plan.name} — ${speed(plan.download_kbps)} / ${speed(plan.upload_kbps)}, ${money(plan.monthly_price, plan.currency)}` : "—"),
      h("dt", null, t("wo.cpe_mac")), h("dd", { class: "mono" }, s.cpe_mac || "—"),
    ),
    hasRole(M, F) ? suspendResume(s, redraw) : null,
    hasRole(M, S) && s.status !== "cancelled" ? planChange(s, plans, redraw) : null,
    hasRole(M, S, T) ? [h("h2", null, t("subs.work_orders")), orders] : null,
    hasRole(M, F) ? [h("h2", null, t("nav.invoices")), money_] : null,
    h("h2", null, t("subs.history")),
    history,
  );
  if (hasRole(M, F)) {
    void import("./billing").then((m) => m.subscriberBilling(money_, id, plan?.currency ?? ""));
  }
  if (hasRole(M, S, T)) {
    void workOrders
      .list({ subscriber_id: id })
      .then((res) => mount(orders, res.items.length ? h("ul", { class: "cards" }, res.items.map(orderLink)) : h("p", { class: "muted" }, t("subs.no_orders"))))
      .catch((error) => mount(orders, problemNotice(error)));
  }
  void subscribers
    .history(id)
    .then((res) =>
      mount(
        history,
        h(
          "ol",
          { class: "history" },
          res.items.map((c) =>
            h(
              "li",
              null,
              h("strong", null, c.from_status ? `${statusLabel(c.from_status)} → ${statusLabel(c.to_status)}` : statusLabel(c.to_status)),
              " ",
              h("span", { class: "muted" }, fmtDate(c.occurred_at, true), c.actor_label ? ` · ${c.actor_label}` : ""),
              c.reason || c.note ? h("p", null, [c.reason ? t(`reason.${c.reason}`) : "", c.note ?? ""].filter(Boolean).join(" — ")) : null,
            ),
          ),
        ),
      ),
    )
    .catch((error) => mount(history, problemNotice(error)));
}

function planChange(s: Subscriber, plans: RatePlan[], redraw: () => void): HTMLElement {
  const choices = plans.filter((p) => !p.archived && p.id !== s.plan_id);
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field({ label: t("subs.new_plan"), name: "plan_id", required: true, options: [["", t("subs.choose_plan")], ...choices.map((p) => [p.id, `${p.name} — ${money(p.monthly_price, p.currency)}`] as [string, string])] }),
    field({ label: t("subs.effective"), name: "effective_date", type: "date", value: today(), required: true }),
    h("button", { type: "submit" }, t("subs.change_plan")),
  );
  const key = crypto.randomUUID();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        await subscribers.changePlan(s.id, v.plan_id ?? "", v.effective_date ?? "", key);
        redraw();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
  return h("details", { class: "card" }, h("summary", null, t("subs.change_plan")), form);
}

function suspendResume(s: Subscriber, redraw: () => void): HTMLElement | null {
  if (s.status === "active") {
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      field({ label: t("subs.reason"), name: "reason", required: true, value: "admin", options: [["admin", t("reason.admin")], ["non_payment", t("reason.non_payment")], ["data_cap", t("reason.data_cap")]] }),
      field({ label: t("subs.note"), name: "note", type: "textarea" }),
      h("button", { type: "submit", class: "danger" }, t("subs.suspend")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = formValues(form);
      void busy(form.querySelector("button"), async () => {
        try {
          await subscribers.suspend(s.id, v.reason ?? "admin", v.note ?? "");
          redraw();
        } catch (error) {
          showProblem(form, asProblem(error));
        }
      });
    });
    return h("details", { class: "card" }, h("summary", null, t("subs.suspend")), form);
  }
  if (s.status === "suspended") {
    const box = h("div", { class: "card stack" });
    const button = h("button", { type: "button" }, t("subs.resume"));
    button.addEventListener("click", () =>
      void busy(button, async () => {
        try {
          await subscribers.resume(s.id);
          redraw();
        } catch (error) {
          mount(box, problemNotice(error), button);
        }
      }),
    );
    mount(box, button);
    return box;
  }
  return null;
}
