// What happened to the changes made on this device: pending, synced, or refused with the
// server's reason (kept until the user dismisses it).
import { outboxItems, type OutboxItem } from "../db";
import { busy, fmtDate, h, uid } from "../dom";
import { t } from "../i18n";
import { dismiss, onOutboxChange, replay } from "../outbox";
import { onLeave } from "../router";
import { me } from "../session";
import { page } from "./common";

function changeRow(item: OutboxItem): HTMLElement {
  const label = t(`action.${item.action}`);
  const when = fmtDate(item.occurred_at, true);
  if (item.state === "refused") {
    return h(
      "li",
      { class: "change refused", "data-state": "refused" },
      h("strong", null, t("sync.refused_item", { action: label })),
      h("span", { class: "muted" }, when),
      h("p", { class: "reason" }, item.detail ?? item.title ?? ""),
      h("button", { type: "button", class: "small secondary", onclick: () => void dismiss(item.seq!) }, t("sync.dismiss")),
    );
  }
  return h(
    "li",
    { class: `change ${item.state}`, "data-state": item.state },
    h("strong", null, item.state === "pending" ? t("sync.pending_item", { action: label }) : t("sync.synced_item", { action: label })),
    h("span", { class: "muted" }, when),
  );
}

export function changesList(items: OutboxItem[], title: string): HTMLElement | null {
  if (!items.length) return null;
  const id = uid("changes");
  return h(
    "section",
    { "aria-labelledby": id, class: "changes" },
    h("h2", { id }, title),
    h("ul", { class: "change-list" }, [...items].sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0)).map(changeRow)),
  );
}

export async function syncView(main: HTMLElement): Promise<void> {
  const who = me()!;
  const draw = async () => {
    const items = (await outboxItems()).filter((i) => i.user === who.id);
    const retry = h("button", { type: "button", class: "secondary" }, t("sync.retry"));
    retry.addEventListener("click", () => void busy(retry, () => replay(who.id)));
    page(
      main,
      t("sync.title"),
      h("p", null, t("sync.intro")),
      retry,
      items.length ? changesList(items, t("sync.all_changes")) : h("p", { class: "muted" }, t("sync.nothing")),
    );
  };
  onLeave(onOutboxChange(() => void draw()));
  await draw();
}
