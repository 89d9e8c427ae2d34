// Signing in (passkey first, password as fallback), invitations, password reset, and the
// sign-up of a new WISP on the base host.
import { auth, confirmOwner, passkeys, portal, signup, type Me } from "../api";
import { busy, field, formValues, h, mount, showProblem } from "../dom";
import { LANGUAGES, currentLanguage, t } from "../i18n";
import { conditionalAvailable, getPasskey, passkeysSupported } from "../passkey";
import { replay } from "../outbox";
import { navigate, onLeave, type Params } from "../router";
import { remember, rememberSubscriber } from "../session";
import { appName } from "../layout";
import { asProblem, notice, page } from "./common";

export function homeFor(who: Me | null): string {
  if (!who) return "/signin";
  if (who.kind === "subscriber") return "/portal";
  return who.role === "technical" ? "/app/work-orders" : "/app";
}

async function signedIn(who: Me, query?: URLSearchParams): Promise<void> {
  remember({ ...who, kind: "staff" });
  void replay(who.id); // changes queued before the session ended go now
  const next = query?.get("next");
  await navigate(next && next.startsWith("/app") ? next : homeFor({ ...who, kind: "staff" }), true);
}

export function signInView(main: HTMLElement, _p: Params, query: URLSearchParams): void {
  const passkeyButton = h("button", { type: "button", class: "secondary", id: "passkey-signin" }, t("signin.passkey"));
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({
      label: t("field.email"),
      name: "email",
      type: "email",
      required: true,
      autocomplete: "username webauthn",
    }),
    field({ label: t("field.password"), name: "password", type: "password", required: true, autocomplete: "current-password" }),
    h("button", { type: "submit" }, t("signin.submit")),
    passkeysSupported() ? passkeyButton : null,
    h("p", null, h("a", { href: "/forgot" }, t("signin.forgot"))),
  );
  page(
    main,
    t("signin.title", { name: appName() }),
    query.get("welcome") ? notice("ok", t("invite.accepted")) : null,
    query.get("reset") ? notice("ok", t("reset.done")) : null,
    form,
    h("p", { class: "center" }, h("a", { href: "/portal/signin" }, t("signin.subscriber_link"))),
  );

  let controller: AbortController | null = null;
  const withPasskey = async (conditional: boolean) => {
    controller?.abort();
    controller = new AbortController();
    const options = await passkeys.authenticationOptions();
    const credential = await getPasskey(options, conditional, controller.signal);
    const who = await passkeys.authenticate(credential);
    await signedIn(who, query);
  };
  const passkeyFailed = (error: unknown) => {
    if (error instanceof DOMException && (error.name === "AbortError" || error.name === "NotAllowedError")) return;
    showProblem(form, asProblem(error));
  };
  passkeyButton.addEventListener("click", () => {
    void busy(passkeyButton, () => withPasskey(false)).catch(passkeyFailed);
  });
  // Conditional UI: the browser offers saved passkeys in the email field's autofill.
  void conditionalAvailable().then((ok) => {
    if (ok) withPasskey(true).catch(passkeyFailed);
  });
  onLeave(() => controller?.abort());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
    void busy(button, async () => {
      try {
        controller?.abort();
        await signedIn(await auth.login(v.email ?? "", v.password ?? ""), query);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

export function portalSignInView(main: HTMLElement): void {
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "username" }),
    field({ label: t("field.password"), name: "password", type: "password", required: true, autocomplete: "current-password" }),
    h("button", { type: "submit" }, t("signin.submit")),
  );
  page(main, t("portal.signin_title", { name: appName() }), form, h("p", { class: "center" }, h("a", { href: "/signin" }, t("portal.staff_link"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        rememberSubscriber(await portal.login(v.email ?? "", v.password ?? ""));
        await navigate("/portal", true);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

export function forgotView(main: HTMLElement): void {
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "username" }),
    h("button", { type: "submit" }, t("forgot.submit")),
  );
  page(main, t("forgot.title"), h("p", null, t("forgot.intro")), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form.querySelector("button"), async () => {
      try {
        await auth.requestReset(formValues(form).email ?? "");
        mount(form, notice("ok", t("forgot.sent")));
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

function newPasswordFields(): HTMLElement[] {
  return [
    field({
      label: t("field.new_password"),
      name: "password",
      type: "password",
      required: true,
      autocomplete: "new-password",
      minlength: 10,
      hint: t("field.password_hint"),
    }),
    field({ label: t("field.repeat_password"), name: "repeat", type: "password", required: true, autocomplete: "new-password" }),
  ];
}

function mismatch(form: HTMLFormElement, v: Record<string, string>): boolean {
  if (v.password === v.repeat) return false;
  showProblem(form, { status: 422, title: t("error.invalid"), errors: [{ field: "repeat", message: t("field.mismatch") }] });
  return true;
}

export function resetView(main: HTMLElement, params: Params): void {
  const form = h("form", { class: "card stack", novalidate: true }, ...newPasswordFields(), h("button", { type: "submit" }, t("reset.submit")));
  page(main, t("reset.title"), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    if (mismatch(form, v)) return;
    void busy(form.querySelector("button"), async () => {
      try {
        await auth.resetPassword(params.token ?? "", v.password ?? "");
        await navigate("/signin?reset=1", true);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

/** The welcome mail's link: one press confirms the owner's address (a press, not the page
 * load, so a mail scanner that opens links confirms nothing). */
export function confirmView(main: HTMLElement, params: Params): void {
  const form = h("form", { class: "card stack", novalidate: true }, h("p", null, t("confirm.intro")), h("button", { type: "submit" }, t("confirm.submit")));
  page(main, t("confirm.title"), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form.querySelector("button"), async () => {
      try {
        await confirmOwner(params.token ?? "");
        page(main, t("confirm.title"), notice("ok", t("confirm.done")), h("p", null, h("a", { href: "/signin", class: "button" }, t("confirm.continue"))));
        main.querySelector("h1")?.focus();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

export function inviteView(main: HTMLElement, params: Params): void {
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({ label: t("field.name"), name: "name", required: true, autocomplete: "name" }),
    ...newPasswordFields(),
    h("button", { type: "submit" }, t("invite.submit")),
  );
  page(main, t("invite.title", { name: appName() }), h("p", null, t("invite.intro")), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    if (mismatch(form, v)) return;
    void busy(form.querySelector("button"), async () => {
      try {
        await auth.acceptInvitation(params.token ?? "", v.name ?? "", v.password ?? "");
        await navigate("/signin?welcome=1", true);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

export function portalInviteView(main: HTMLElement, params: Params): void {
  const form = h("form", { class: "card stack", novalidate: true }, ...newPasswordFields(), h("button", { type: "submit" }, t("invite.submit")));
  page(main, t("portal.invite_title", { name: appName() }), h("p", null, t("portal.invite_intro")), form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    if (mismatch(form, v)) return;
    void busy(form.querySelector("button"), async () => {
      try {
        rememberSubscriber(await portal.acceptInvitation(params.token ?? "", v.password ?? ""));
        await navigate("/portal", true);
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}

const CURRENCIES = ["USD", "EUR", "MXN", "COP", "ARS", "CLP", "PEN", "GTQ", "BRL", "CAD", "GBP"];

export function signupView(main: HTMLElement): void {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const host = location.host;
  const form = h(
    "form",
    { class: "card stack", novalidate: true },
    field({ label: t("signup.company"), name: "company_name", required: true, autocomplete: "organization" }),
    field({
      label: t("signup.slug"),
      name: "slug",
      required: true,
      autocomplete: "off",
      hint: t("signup.slug_hint"),
      attrs: { autocapitalize: "none", spellcheck: "false" },
    }),
    field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "email" }),
    field({
      label: t("field.password"),
      name: "password",
      type: "password",
      required: true,
      autocomplete: "new-password",
      hint: t("field.password_hint"),
    }),
    field({
      label: t("signup.language"),
      name: "language",
      value: currentLanguage(),
      options: LANGUAGES.map((l) => [l, t(`lang.${l}`)] as [string, string]),
    }),
    field({ label: t("signup.currency"), name: "currency", value: "USD", options: CURRENCIES.map((c) => [c, c] as [string, string]) }),
    field({ label: t("signup.timezone"), name: "timezone", value: zone, autocomplete: "off" }),
    h("button", { type: "submit" }, t("signup.submit")),
  );
  page(main, t("signup.title"), h("p", null, t("signup.intro")), form);
  const slugInput = form.querySelector<HTMLInputElement>("[name=slug]")!;
  const companyInput = form.querySelector<HTMLInputElement>("[name=company_name]")!;
  const preview = h("p", { class: "hint", id: "slug-preview", "aria-live": "polite" });
  slugInput.closest(".field")!.append(preview);
  const showPreview = () => {
    preview.textContent = slugInput.value ? t("signup.slug_preview", { url: `${location.protocol}//${slugInput.value}.${host}` }) : "";
  };
  companyInput.addEventListener("input", () => {
    if (slugInput.dataset.touched) return;
    slugInput.value = companyInput.value
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40);
    showPreview();
  });
  slugInput.addEventListener("input", () => {
    slugInput.dataset.touched = "1";
    showPreview();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(form);
    void busy(form.querySelector("button"), async () => {
      try {
        const made = await signup({
          company_name: v.company_name ?? "",
          slug: v.slug ?? "",
          email: v.email ?? "",
          password: v.password ?? "",
          language: v.language ?? "en",
          currency: v.currency ?? "USD",
          timezone: v.timezone ?? "UTC",
        });
        const link = `${made.portal_url}/signin`;
        page(
          main,
          t("signup.done_title"),
          notice("ok", t("signup.done", { url: made.portal_url })),
          made.email_confirmed ? null : notice("info", t("signup.confirm_email", { email: v.email ?? "" })),
          h("p", null, h("a", { href: link, class: "button", id: "portal-link" }, t("signup.go"))),
        );
        main.querySelector("h1")?.focus();
      } catch (error) {
        showProblem(form, asProblem(error));
      }
    });
  });
}
