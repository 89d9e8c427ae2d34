// Pieces shared by the screens.
import { ApiError, Offline, type Problem, type WorkOrder } from "../api";
import { fmtDate, h, mount, type Child } from "../dom";
import { t } from "../i18n";

export function page(main: HTMLElement, title: string, ...content: Child[]): void {
  document.title = title;
  mount(main, h("h1", { tabindex: "-1" }, title), ...content);
}

export function asProblem(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  if (error instanceof Offline) return { status: 0, title: t("error.offline_title"), detail: t("error.offline") };
  return { status: 0, title: t("error.generic"), detail: error instanceof Error ? error.message : String(error) };
}

export function notice(kind: "info" | "ok" | "warn" | "error", ...content: Child[]): HTMLElement {
  return h("div", { class: `notice ${kind}-notice`, role: kind === "error" ? "alert" : "status" }, ...content);
}

export function loading(): HTMLElement {
  return h("p", { class: "muted", role: "status" }, t("common.loading"));
}

export function problemNotice(error: unknown): HTMLElement {
  const p = asProblem(error);
  return notice("error", h("strong", null, p.title ?? t("error.generic")), p.detail ? h("p", null, p.detail) : null);
}

export function statusLabel(status: string): string {
  const key = `status.${status}`;
  const text = t(key);
  return text === key ? status : text;
}

export function badge(status: string): HTMLElement {
  return h("span", { class: `badge st-${status}` }, statusLabel(status));
}

export function speed(kbps: number | undefined): string {
  if (kbps === undefined || kbps === null) return "";
  return kbps >= 1000 ? `${(kbps / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 })} Mb/s` : `${kbps} kb/s`;
}

export function money(amount: string | undefined, currency: string | undefined): string {
  if (!amount) return "";
  const value = Number(amount);
  if (!currency || Number.isNaN(value)) return amount;
  try {
    return new Intl.NumberFormat(document.documentElement.lang, { style: "currency", currency }).format(value);
  } catch {
    return `${amount} ${currency}`;
  }
}

export function orderLink(o: WorkOrder): HTMLElement {
  return h(
    "li",
    { class: "card" },
    h("a", { href: `/app/work-orders/${o.id}` }, t(`kind.${o.kind}`), " ", badge(o.status), " ", h("span", { class: "muted" }, fmtDate(o.install_date))),
  );
}
