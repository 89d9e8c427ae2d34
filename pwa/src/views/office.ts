// Office screens by role, loaded on demand (technicians in the field never download them).
import { isMissingRoute, ratePlans, staff, workOrders, type RatePlan, type WorkOrder } from "../api";
import { busy, field, fmtDate, formValues, h, mount, showProblem, uid } from "../dom";
import { t } from "../i18n";
import { hasRole, me } from "../session";
import { asProblem, loading, money, notice, orderLink, page, problemNotice, speed, statusLabel } from "./common";

const M = "manager", S = "sales", CS = "customer_service", F = "finance", T = "technical";

export function homeView(main: HTMLElement): void {
  const who = me()!;
  const links: [string, string, string[]][] = [
    ["/app/work-orders", "nav.my_work", [M, T]],
    ["/app/board", "nav.board", [M, S, T]],
    ["/app/subscribers", "nav.subscribers", [M, S, CS, F]],
    ["/app/plans", "nav.plans", [M, S]],
    ["/app/invoices", "nav.invoices", [M, F]],
    ["/app/staff", "nav.staff", [M]],
    ["/app/passkeys", "nav.passkeys", [M, S, CS, F, T]],
    ["/app/sync", "sync.title", [M, S, T]],
  ];
  page(
    main,
    t("home.title", { name: who.name || who.email }),
    h("p", null, t("home.role", { role: t(`role.${who.role}`) })),
    h(
      "ul",
      { class: "tiles" },
      links.filter(([, , roles]) => roles.includes(who.role)).map(([href, key]) => h("li", null, h("a", { href, class: "tile" }, t(key)))),
    ),
  );
}

// Rate plans ------------------------------------------------------------------------------------

export async function plansView(main: HTMLElement): Promise<void> {
  const list = h("div", null, loading());
  const canEdit = hasRole(M);
  const form = canEdit
    ? h(
        "form",
        { class: "card stack", novalidate: true },
        h("h2", null, t("plans.new")),
        field({ label: t("plans.name"), name: "name", required: true }),
        field({ label: t("plans.download"), name: "download_kbps", type: "number", required: true, inputmode: "numeric", hint: t("plans.kbps_hint") }),
        field({ label: t("plans.upload"), name: "upload_kbps", type: "number", required: true, inputmode: "numeric", hint: t("plans.kbps_hint") }),
        field({ label: t("plans.price"), name: "monthly_price", required: true, inputmode: "decimal", hint: t("plans.price_hint") }),
        h("button", { type: "submit" }, t("plans.create")),
      )
    : null;
  page(main, t("nav.plans"), list, form);
  const draw = async () => {
    try {
      const plans = (await ratePlans.list()).items;
      mount(
        list,
        plans.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("nav.plans")),
              h("thead", null, h("tr", null, h("th", { scope: "col" }, t("plans.name")), h("th", { scope: "col" }, t("plans.speeds")), h("th", { scope: "col" }, t("plans.price")), canEdit ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("common.actions"))) : null)),
              h("tbody", null, plans.map((p) => planRow(p, canEdit, draw))),
            )
          : h("p", { class: "muted" }, t("plans.none")),
      );
    } catch (error) {
      mount(list, problemNotice(error));
    }
  };
  let key = crypto.randomUUID();
  form?.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        await ratePlans.create(
          { name: v.name, download_kbps: Number(v.download_kbps), upload_kbps: Number(v.upload_kbps), monthly_price: v.monthly_price },
          key,
        );
        key = crypto.randomUUID();
        form.reset();
        showProblem(form, null);
        await draw();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
  await draw();
}

function planRow(p: RatePlan, canEdit: boolean, redraw: () => Promise<void>): HTMLElement {
  const archive = h("button", { type: "button", class: "small secondary" }, t("plans.archive"));
  archive.addEventListener("click", () => {
    if (!confirm(t("plans.archive_confirm", { name: p.name }))) return;
    void busy(archive, async () => {
      try {
        await ratePlans.archive(p.id);
        await redraw();
      } catch (error) {
        alert(asProblem(error).detail ?? asProblem(error).title);
      }
    });
  });
  return h(
    "tr",
    { class: p.archived ? "archived" : "" },
    h("td", null, p.name, p.archived ? h("span", { class: "badge" }, t("plans.archived")) : null),
    h("td", null, `${speed(p.download_kbps)} / ${speed(p.upload_kbps)}`),
    h("td", null, money(p.monthly_price, p.currency)),
    canEdit ? h("td", null, p.archived ? null : archive) : null,
  );
}

// Work-order board -------------------------------------------------------------------------------

const COLUMNS = ["open", "scheduled", "in_progress", "cpe_authenticated", "activated", "signed_off", "cancelled"];

export async function boardView(main: HTMLElement): Promise<void> {
  const board = h("div", { class: "board" }, loading());
  page(main, t("nav.board"), board);
  try {
    const items: WorkOrder[] = [];
    let cursor: string | null | undefined = null;
    for (let i = 0; i < 5; i++) {
      const res = await workOrders.list({ cursor, limit: 200 });
      items.push(...res.items);
      cursor = res.next_cursor;
      if (!cursor) break;
    }
    mount(
      board,
      COLUMNS.map((col) => {
        const inCol = items.filter((o) => o.status === col);
        const id = uid("col");
        return h(
          "section",
          { class: "column", "aria-labelledby": id },
          h("h2", { id }, statusLabel(col), " ", h("span", { class: "count" }, `(${inCol.length})`)),
          h("ul", { class: "cards" }, inCol.map(orderLink)),
        );
      }),
    );
  } catch (error) {
    mount(board, problemNotice(error));
  }
}

// Staff and invitations ---------------------------------------------------------------------------

const ROLES = [M, S, CS, F, T];

export async function staffView(main: HTMLElement): Promise<void> {
  const people = h("div", null, loading());
  const pending = h("div");
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    h("h2", null, t("staff.invite")),
    field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "off" }),
    field({ label: t("staff.role"), name: "role", required: true, value: T, options: ROLES.map((r) => [r, t(`role.${r}`)] as [string, string]) }),
    h("button", { type: "submit" }, t("staff.send")),
  );
  page(main, t("nav.staff"), form, h("h2", null, t("staff.pending")), pending, h("h2", null, t("staff.people")), people);
  const draw = async () => {
    try {
      const list = (await staff.list()).items;
      mount(people, h("ul", { class: "cards" }, list.map((p) => h("li", { class: "card" }, h("strong", null, p.name || p.email), " ", h("span", { class: "badge" }, t(`role.${p.role}`)), p.is_active ? null : h("span", { class: "badge bad" }, t("staff.inactive")), h("br"), h("span", { class: "muted" }, p.email)))));
    } catch (error) {
      mount(people, problemNotice(error));
    }
    try {
      const inv = (await staff.invitations()).items;
      mount(pending, inv.length ? h("ul", { class: "cards" }, inv.map((i) => h("li", { class: "card" }, i.email, " ", h("span", { class: "badge" }, t(`role.${i.role}`)), h("br"), h("span", { class: "muted" }, t("staff.expires", { date: fmtDate(i.expires_at, true) }))))) : h("p", { class: "muted" }, t("staff.no_pending")));
    } catch (error) {
      mount(pending, isMissingRoute(error) ? null : problemNotice(error));
    }
  };
  let key = crypto.randomUUID();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        await staff.invite(v.email ?? "", v.role ?? T, key);
        key = crypto.randomUUID();
        form.reset();
        showProblem(form, null);
        form.prepend(notice("ok", t("staff.sent", { email: v.email ?? "" })));
        await draw();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
  await draw();
}

