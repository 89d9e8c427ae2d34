// Invoices and payments (manager, finance): the list with PDFs, and posting a payment.
import { PAYMENT_METHODS, billing, type Invoice } from "../api";
import { busy, field, fmtDate, formValues, h, mount, showProblem, today } from "../dom";
import { t } from "../i18n";
import { navigate } from "../router";
import { asProblem, badge, loading, money, notice, page, problemNotice } from "./common";

function invoiceRow(i: Invoice, pdfUrl: (id: string) => string): HTMLElement {
  return h(
    "tr",
    null,
    h("td", null, i.number || "—", i.kind === "credit_note" ? h("span", { class: "badge" }, t("invoices.credit_note")) : null),
    h("td", null, fmtDate(i.issue_date), h("br"), h("span", { class: "muted" }, t("invoices.due", { date: fmtDate(i.due_date) }))),
    h("td", null, money(i.total, i.currency), h("br"), h("span", { class: "muted" }, t("invoices.balance", { amount: money(i.balance, i.currency) }))),
    h("td", null, badge(i.status)),
    h("td", null, h("a", { href: pdfUrl(i.id), target: "_blank", rel: "noopener" }, t("invoices.pdf"), h("span", { class: "visually-hidden" }, ` ${i.number}`))),
  );
}

export function invoiceTable(items: Invoice[], pdfUrl: (id: string) => string = billing.pdfUrl): HTMLElement {
  if (!items.length) return h("p", { class: "muted" }, t("invoices.none"));
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "table" },
      h("caption", { class: "visually-hidden" }, t("nav.invoices")),
      h(
        "thead",
        null,
        h("tr", null, ...["invoices.number", "invoices.dates", "invoices.amounts", "invoices.status", "invoices.document"].map((k) => h("th", { scope: "col" }, t(k)))),
      ),
      h("tbody", null, items.map((i) => invoiceRow(i, pdfUrl))),
    ),
  );
}

const STATUSES = ["", "open", "paid", "void"];

export async function invoicesView(main: HTMLElement, _p: unknown, query: URLSearchParams): Promise<void> {
  const status = query.get("status") ?? "";
  const list = h("div", null, loading());
  const filter = field({
    label: t("invoices.status"),
    name: "status",
    value: status,
    options: STATUSES.map((s) => [s, s ? t(`status.${s}`) : t("invoices.all")] as [string, string]),
  });
  filter.querySelector("select")!.addEventListener("change", (e) => {
    const v = (e.target as HTMLSelectElement).value;
    void navigate(`/app/invoices${v ? `?status=${v}` : ""}`, true);
  });
  page(main, t("nav.invoices"), filter, list);
  try {
    mount(list, invoiceTable((await billing.invoices({ status })).items));
  } catch (error) {
    mount(list, problemNotice(error));
  }
}

/** Invoices of one subscriber and a form to post a payment; shown on the subscriber's page. */
export async function subscriberBilling(slot: HTMLElement, subscriberId: string, currency: string): Promise<void> {
  const list = h("div", null, loading());
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    h("h3", null, t("payments.post")),
    field({ label: t("payments.amount", { currency }), name: "amount", required: true, inputmode: "decimal", hint: t("plans.price_hint") }),
    field({ label: t("payments.method"), name: "method", value: "cash", options: PAYMENT_METHODS.map((m) => [m, t(`method.${m}`)] as [string, string]) }),
    field({ label: t("payments.reference"), name: "reference", autocomplete: "off", hint: t("payments.reference_hint") }),
    field({ label: t("payments.paid_on"), name: "paid_on", type: "date", value: today() }),
    h("button", { type: "submit" }, t("payments.submit")),
  );
  mount(slot, list, form);
  const draw = async () => {
    try {
      mount(list, invoiceTable((await billing.invoices({ subscriber_id: subscriberId })).items));
    } catch (error) {
      mount(list, problemNotice(error));
    }
  };
  let key = crypto.randomUUID();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        const paid = await billing.pay(
          { subscriber_id: subscriberId, amount: v.amount ?? "", method: v.method ?? "cash", reference: v.reference ?? "", paid_on: v.paid_on || undefined },
          key,
        );
        key = crypto.randomUUID();
        form.reset();
        showProblem(form, null);
        form.prepend(notice("ok", t("payments.posted", { amount: money(paid.amount, paid.currency) })));
        await draw();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
  await draw();
}
