// The steps of an installation, each a small form whose result goes to the outbox: schedule →
// start → record the CPE (typed or scanned) → link test (online only) → activate → sign-off.
import { Offline, isMissingRoute, subscribers, type LinkTest, type Transition, type TransitionBody } from "../api";
import { busy, field, fmtDate, formValues, h, mount, showProblem, today, uid } from "../dom";
import { t } from "../i18n";
import { enqueue } from "../outbox";
import { me } from "../session";
import { accessPointChoices, type LocalOrder } from "../workdata";
import { notice, problemNotice, speed } from "./common";
import { canScan, scanMac } from "./scan";
import { signaturePad } from "./signature";

/** The server's MAC rules, checked here too so that a typo is caught before it is queued. */
export function normaliseMac(raw: string): string | null {
  const hex = raw.trim().toLowerCase().replace(/[:\-.\s]/g, "");
  if (!/^[0-9a-f]{12}$/.test(hex)) return null;
  const mac = hex.match(/../g)!.join(":");
  if (mac === "ff:ff:ff:ff:ff:ff" || mac === "00:00:00:00:00:00") return null;
  if (parseInt(hex.slice(0, 2), 16) & 1) return null; // multicast
  return mac;
}

const STEPS: { status: string; label: string }[] = [
  { status: "scheduled", label: "step.schedule" },
  { status: "in_progress", label: "step.start" },
  { status: "cpe_authenticated", label: "step.cpe" },
  { status: "link_test", label: "step.link_test" },
  { status: "activated", label: "step.activate" },
  { status: "signed_off", label: "step.signoff" },
];
const ORDER = ["open", "scheduled", "in_progress", "cpe_authenticated", "activated", "signed_off"];

export function stepper(status: string): HTMLElement {
  const reached = ORDER.indexOf(status);
  // The link test is a check, not a status: it is done once the order went past the CPE step.
  const done = STEPS.map((step) =>
    step.status === "link_test" ? reached > ORDER.indexOf("cpe_authenticated") : reached >= ORDER.indexOf(step.status),
  );
  const current = done.indexOf(false);
  return h(
    "ol",
    { class: "steps", "aria-label": t("step.label") },
    STEPS.map((step, i) =>
      h(
        "li",
        { class: done[i] ? "done" : i === current ? "current" : "", "aria-current": i === current ? "step" : null },
        h("span", { class: "visually-hidden" }, done[i] ? t("step.done") : i === current ? t("step.current") : t("step.todo")),
        t(step.label),
      ),
    ),
  );
}

async function act<A extends Transition>(o: LocalOrder, action: A, body: TransitionBody[A]): Promise<void> {
  await enqueue(me()!.id, o.order.id, action, body);
}

export function nextStep(o: LocalOrder, rerender: () => void): HTMLElement | null {
  const st = o.order.status;
  const who = me()!;
  if (st === "open" || st === "scheduled") {
    const form = h(
      "form",
      { class: "card stack", novalidate: true, id: "step-form" },
      h("h2", null, st === "open" ? t("step.schedule") : t("step.start")),
      st === "open"
        ? field({ label: t("wo.install_date"), name: "install_date", type: "date", value: o.order.install_date ?? today(), required: true })
        : h("p", null, t("wo.scheduled_for", { date: fmtDate(o.order.install_date) })),
      h("button", { type: "submit", id: st === "open" ? "do-schedule" : "do-start" }, st === "open" ? t("action.schedule") : t("action.start")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (st === "open") {
        const date = formValues(form).install_date;
        if (!date) return showProblem(form, { status: 422, errors: [{ field: "install_date", message: t("field.required") }] });
        void act(o, "schedule", { install_date: date, technician_id: who.id }).then(rerender);
      } else {
        void act(o, "start", {}).then(rerender);
      }
    });
    return form;
  }
  if (st === "in_progress") {
    const apField = h("div");
    const form = h(
      "form",
      { class: "card stack", novalidate: true, id: "step-form" },
      h("h2", null, t("step.cpe")),
      field({
        label: t("wo.cpe_mac"),
        name: "cpe_mac",
        required: true,
        autocomplete: "off",
        hint: t("wo.cpe_mac_hint"),
        attrs: { autocapitalize: "none", spellcheck: "false" },
      }),
      canScan()
        ? h("button", { type: "button", class: "secondary", id: "scan-mac" }, t("scan.button"))
        : null,
      apField,
      h("button", { type: "submit", id: "do-cpe" }, t("action.authenticate-cpe")),
    );
    const macInput = form.querySelector<HTMLInputElement>("[name=cpe_mac]")!;
    form.querySelector("#scan-mac")?.addEventListener("click", () => {
      void scanMac().then((mac) => {
        if (mac) macInput.value = mac;
        macInput.focus();
      });
    });
    void accessPointChoices().then((aps) => {
      if (!aps.length) return;
      mount(
        apField,
        field({
          label: t("wo.access_point"),
          name: "access_point_id",
          value: o.order.access_point_id ?? o.access_point?.id ?? "",
          options: [["", t("wo.access_point_none")], ...aps.map((a) => [a.id, a.ssid ? `${a.name} (${a.ssid})` : a.name] as [string, string])],
        }),
      );
    }).catch(() => undefined);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = formValues(form);
      const mac = normaliseMac(v.cpe_mac ?? "");
      if (!mac) return showProblem(form, { status: 422, errors: [{ field: "cpe_mac", message: t("wo.cpe_mac_bad") }] });
      const body: TransitionBody["authenticate-cpe"] = { cpe_mac: mac };
      if (v.access_point_id) body.access_point_id = v.access_point_id;
      void act(o, "authenticate-cpe", body).then(rerender);
    });
    return form;
  }
  if (st === "cpe_authenticated") {
    const result = h("div", { role: "status", id: "link-test-result" });
    const testButton = h("button", { type: "button", class: "secondary", id: "do-link-test" }, t("linktest.run"));
    testButton.addEventListener("click", () =>
      void busy(testButton, async () => {
        mount(result, t("linktest.running"));
        try {
          mount(result, linkTestOutcome(await runLinkTest(o.order.subscriber_id)));
        } catch (error) {
          if (error instanceof Offline) mount(result, notice("warn", t("linktest.offline")));
          else if (isMissingRoute(error)) mount(result, notice("info", t("linktest.unavailable")));
          else mount(result, problemNotice(error));
        }
      }),
    );
    const activate = h("button", { type: "button", id: "do-activate" }, t("action.activate"));
    activate.addEventListener("click", () => void act(o, "activate", {}).then(rerender));
    return h(
      "div",
      { class: "card stack", id: "step-form" },
      h("h2", null, t("step.link_test")),
      h("p", null, t("linktest.intro")),
      testButton,
      result,
      h("h2", null, t("step.activate")),
      h("p", null, t("wo.activate_intro")),
      activate,
    );
  }
  if (st === "activated") {
    const labelId = uid("sig");
    const pad = signaturePad(labelId);
    const form = h(
      "form",
      { class: "card stack", novalidate: true, id: "step-form" },
      h("h2", null, t("step.signoff")),
      field({ label: t("signoff.signed_by"), name: "signed_by", required: true, autocomplete: "off", value: o.subscriber?.name ?? "" }),
      h("div", { class: "field", "data-field": "signature" }, h("p", { id: labelId, class: "label" }, t("signoff.signature")), pad.element, h("p", { class: "error" })),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "no_signature", value: "1" }), t("signoff.cannot_sign")),
      h("button", { type: "submit", id: "do-signoff" }, t("action.sign-off")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = formValues(form);
      const errors: { field: string; message: string }[] = [];
      if (!v.signed_by?.trim()) errors.push({ field: "signed_by", message: t("field.required") });
      if (pad.isEmpty() && !v.no_signature) errors.push({ field: "signature", message: t("signoff.draw") });
      if (errors.length) return showProblem(form, { status: 422, title: t("error.invalid"), errors });
      const body: TransitionBody["sign-off"] = { signed_by: v.signed_by!.trim() };
      if (!pad.isEmpty()) body.signature = pad.toDataURL();
      void act(o, "sign-off", body).then(rerender);
    });
    return form;
  }
  return null;
}

const LINK_TEST_WAIT_MS = 60_000;

/** Ask for a test, then follow it until the gateway answers (or a minute has passed). */
async function runLinkTest(subscriberId: string): Promise<LinkTest> {
  const asked = await subscribers.linkTest(subscriberId, crypto.randomUUID());
  const deadline = Date.now() + LINK_TEST_WAIT_MS;
  let latest = asked;
  while (["pending", "delivered"].includes(latest.status) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    latest = (await subscribers.linkTests(subscriberId)).items.find((i) => i.id === asked.id) ?? latest;
  }
  return latest;
}

function linkTestOutcome(test: LinkTest): HTMLElement {
  const r = test.result;
  if (test.status === "pending" || test.status === "delivered") return notice("info", t("linktest.waiting"));
  if (test.status === "expired" || !r) return notice("warn", t("linktest.no_answer"));
  const known = (v: number | null | undefined): v is number => v !== null && v !== undefined;
  const facts = h(
    "dl",
    { class: "facts" },
    known(r.loss_percent) ? [h("dt", null, t("linktest.loss")), h("dd", null, `${r.loss_percent} %`)] : null,
    known(r.rtt_avg_ms) ? [h("dt", null, t("linktest.latency")), h("dd", null, `${r.rtt_avg_ms} ms`)] : null,
    known(r.throughput_kbps) ? [h("dt", null, t("linktest.throughput")), h("dd", null, speed(r.throughput_kbps))] : null,
  );
  return r.ok && test.status === "done"
    ? notice("ok", h("strong", null, t("linktest.good")), facts)
    : notice("error", h("strong", null, t("linktest.bad")), r.error ? h("p", null, r.error) : null, facts);
}

export function cancelBox(o: LocalOrder, rerender: () => void): HTMLElement | null {
  if (!["open", "scheduled", "in_progress", "cpe_authenticated"].includes(o.order.status)) return null;
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    field({ label: t("wo.cancel_reason"), name: "reason", type: "textarea" }),
    h("button", { type: "submit", class: "danger" }, t("action.cancel")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!confirm(t("wo.cancel_confirm"))) return;
    void act(o, "cancel", { reason: formValues(form).reason ?? "" }).then(rerender);
  });
  return h("details", { class: "card" }, h("summary", null, t("wo.cancel_title")), form);
}
