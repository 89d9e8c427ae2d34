// Small render helpers: elements from plain data, labelled fields, problem details on forms.
import { t } from "./i18n";
import type { Problem } from "./api";

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
  } else {
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const PROPS = new Set(["value", "checked", "disabled", "selected", "textContent"]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (PROPS.has(key)) {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function mount(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren();
  append(root, children);
}

let ids = 0;
export function uid(prefix = "f"): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

export interface FieldOptions {
  label: string;
  name: string;
  type?: string;
  value?: string;
  required?: boolean;
  autocomplete?: string;
  inputmode?: string;
  hint?: string;
  placeholder?: string;
  pattern?: string;
  minlength?: number;
  options?: [string, string][];
  attrs?: Attrs;
}

/** A label, the control, a hint and an error slot, tied together for assistive technology. */
export function field(o: FieldOptions): HTMLDivElement {
  const id = uid(o.name);
  const hintId = o.hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const described = [hintId, errorId].filter(Boolean).join(" ");
  const common = {
    id,
    name: o.name,
    required: o.required,
    autocomplete: o.autocomplete,
    "aria-describedby": described,
    ...o.attrs,
  };
  let control: HTMLElement;
  if (o.options) {
    control = h(
      "select",
      common,
      o.options.map(([value, label]) => h("option", { value, selected: value === o.value }, label)),
    );
  } else if (o.type === "textarea") {
    control = h("textarea", { ...common, rows: 3, value: o.value ?? "" });
  } else {
    control = h("input", {
      ...common,
      type: o.type ?? "text",
      value: o.value ?? "",
      inputmode: o.inputmode,
      placeholder: o.placeholder,
      pattern: o.pattern,
      minlength: o.minlength,
    });
  }
  return h(
    "div",
    { class: "field", "data-field": o.name },
    h("label", { for: id }, o.label, o.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    hintId ? h("p", { class: "hint", id: hintId }, o.hint) : null,
    h("p", { class: "error", id: errorId }),
  );
}

export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (typeof value === "string") out[key] = value;
  }
  return out;
}

/** Clear earlier errors, then show a problem: its fields next to their inputs, the rest on top. */
export function showProblem(form: HTMLElement, problem: Problem | null): void {
  for (const el of form.querySelectorAll<HTMLElement>("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll<HTMLElement>(".field .error")) el.textContent = "";
  let summary = form.querySelector<HTMLElement>(".form-problem");
  if (!problem) {
    summary?.remove();
    return;
  }
  let first: HTMLElement | null = null;
  const unplaced: string[] = [];
  // A message goes next to its field; a field without a form control (the signature pad)
  // still shows it, and focus then goes to the summary.
  const place = (name: string, message: string): boolean => {
    const wrap = form.querySelector<HTMLElement>(`.field[data-field="${CSS.escape(name)}"]`);
    const slot = wrap?.querySelector(".error");
    if (!wrap || !slot) return false;
    slot.textContent = message;
    const control = wrap.querySelector<HTMLElement>("input, select, textarea");
    if (control) {
      control.setAttribute("aria-invalid", "true");
      first ??= control;
    }
    return true;
  };
  for (const err of problem.errors ?? []) {
    if (!place(err.field, err.message)) unplaced.push(err.message);
  }
  const fieldName = typeof problem.field === "string" ? problem.field : null;
  if (fieldName && problem.detail) place(fieldName, problem.detail);
  if (!summary) {
    summary = h("div", { class: "form-problem notice error-notice", role: "alert", tabindex: "-1" });
    form.prepend(summary);
  }
  mount(
    summary,
    h("strong", null, problem.title ?? t("error.generic")),
    problem.detail ? h("p", null, problem.detail) : null,
    unplaced.length ? h("ul", null, unplaced.map((u) => h("li", null, u))) : null,
  );
  (first ?? summary).focus();
}

/** A button that shows it is busy while its promise runs, and cannot be pressed twice. */
export async function busy<T>(button: HTMLButtonElement | null, work: () => Promise<T>): Promise<T> {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await work();
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

export function fmtDate(iso: string | null | undefined, withTime = false): string {
  if (!iso) return "—";
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  if (Number.isNaN(d.getTime())) return iso;
  return withTime
    ? d.toLocaleString(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" })
    : d.toLocaleDateString(document.documentElement.lang, { dateStyle: "medium" });
}

/** Today's date in the device's time zone, as YYYY-MM-DD. */
export function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
