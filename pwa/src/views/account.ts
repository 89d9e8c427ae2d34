// The signed-in person's own passkeys: add one with this device, list, remove.
import { passkeys } from "../api";
import { busy, field, fmtDate, formValues, h, mount, showProblem } from "../dom";
import { t } from "../i18n";
import { createPasskey, passkeysSupported } from "../passkey";
import { loading, notice, page, problemNotice, asProblem } from "./common";

export async function passkeysView(main: HTMLElement): Promise<void> {
  const list = h("div", null, loading());
  const add = h("button", { type: "button", id: "add-passkey" }, t("passkeys.add"));
  const nameField = field({ label: t("passkeys.name"), name: "name", value: t("passkeys.default_name"), autocomplete: "off" });
  const form = h("form", { class: "card stack", novalidate: true }, nameField, add);
  page(main, t("nav.passkeys"), h("p", null, t("passkeys.intro")), passkeysSupported() ? form : notice("warn", t("passkeys.unsupported")), list);
  const draw = async () => {
    try {
      const res = await passkeys.list();
      mount(
        list,
        res.items.length
          ? h(
              "ul",
              { class: "cards" },
              res.items.map((k) => {
                const remove = h("button", { type: "button", class: "small danger" }, t("passkeys.remove"));
                remove.addEventListener("click", () => {
                  if (!confirm(t("passkeys.remove_confirm", { name: k.name }))) return;
                  void busy(remove, async () => {
                    try {
                      await passkeys.remove(k.id);
                      await draw();
                    } catch (error) {
                      mount(list, problemNotice(error));
                    }
                  });
                });
                return h("li", { class: "card row spread" }, h("span", null, h("strong", null, k.name), h("br"), h("span", { class: "muted" }, t("passkeys.added", { date: fmtDate(k.created_at) }))), remove);
              }),
            )
          : h("p", { class: "muted" }, t("passkeys.none")),
        res.items.length ? passkeyOnlyToggle(res.passkey_only) : null,
      );
    } catch (error) {
      mount(list, problemNotice(error));
    }
  };
  add.addEventListener("click", (e) => {
    e.preventDefault();
    void busy(add, async () => {
      try {
        const options = await passkeys.registrationOptions();
        const credential = await createPasskey(options);
        await passkeys.register(credential, formValues(form).name || t("passkeys.default_name"));
        showProblem(form, null);
        form.prepend(notice("ok", t("passkeys.added_ok")));
        await draw();
      } catch (error) {
        if (error instanceof DOMException && error.name === "NotAllowedError") return;
        showProblem(form, asProblem(error));
      }
    });
  });
  await draw();
}

/** Passkeys only: the password stops working for this account (the server keeps the rules). */
function passkeyOnlyToggle(enabled: boolean): HTMLElement {
  const box = h("input", { type: "checkbox", id: "passkey-only", checked: enabled });
  const status = h("p", { role: "status", class: "muted" });
  box.addEventListener("change", () => {
    const wanted = box.checked;
    box.disabled = true;
    passkeys
      .passkeyOnly(wanted)
      .then((res) => {
        box.checked = res.enabled;
        status.textContent = res.enabled ? t("passkeys.only_on") : t("passkeys.only_off");
      })
      .catch((error) => {
        box.checked = !wanted;
        status.textContent = asProblem(error).detail ?? asProblem(error).title ?? "";
      })
      .finally(() => (box.disabled = false));
  });
  return h("div", { class: "card" }, h("label", { class: "check", for: "passkey-only" }, box, t("passkeys.only")), status);
}
