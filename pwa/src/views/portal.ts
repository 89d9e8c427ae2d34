// The subscriber portal: the account, the plan, the service status, the balance and invoices
// with their PDFs. Online payment and tickets appear here once their APIs exist.
import { portal } from "../api";
import { h, mount } from "../dom";
import { t } from "../i18n";
import { badge, loading, money, page, problemNotice, speed } from "./common";

export async function portalHomeView(main: HTMLElement): Promise<void> {
  const body = h("div", null, loading());
  page(main, t("portal.title"), body);
  try {
    const [data, bills] = await Promise.all([portal.me(), portal.billing()]);
    const { invoiceTable } = await import("./billing");
    const account = data.account;
    const plan = data.plan;
    const status = data.status;
    mount(
      body,
      h(
        "section",
        { class: "card", "aria-labelledby": "acct" },
        h("h2", { id: "acct" }, t("portal.account")),
        h("dl", { class: "facts" },
          h("dt", null, t("field.name")), h("dd", null, account.name),
          h("dt", null, t("field.email")), h("dd", null, account.email),
          account.phone ? [h("dt", null, t("subs.phone")), h("dd", null, account.phone)] : null,
          account.address ? [h("dt", null, t("subs.address")), h("dd", null, account.address)] : null,
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "svc" },
        h("h2", { id: "svc" }, t("portal.service")),
        h("p", null, badge(status)),
        status === "suspended" ? h("p", null, t("portal.suspended")) : null,
        plan
          ? h("dl", { class: "facts" },
              h("dt", null, t("subs.plan")), h("dd", null, plan.name),
              h("dt", null, t("plans.speeds")), h("dd", null, `${speed(plan.download_kbps)} / ${speed(plan.upload_kbps)}`),
              plan.monthly_price ? [h("dt", null, t("plans.price")), h("dd", null, money(plan.monthly_price, plan.currency))] : null,
            )
          : null,
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "bills" },
        h("h2", { id: "bills" }, t("portal.invoices")),
        h("p", null, t("portal.balance", { amount: money(bills.balance, bills.currency) })),
        invoiceTable(bills.invoices, portal.pdfUrl),
      ),
    );
  } catch (error) {
    mount(body, problemNotice(error));
  }
}
