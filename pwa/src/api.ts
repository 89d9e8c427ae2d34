// Every call to the server, in one place. Errors come back as problem details (RFC 9457);
// a request that never reached the server raises `Offline`, so callers can queue or wait.
import type { components } from "./api/schema";
import { currentLanguage } from "./i18n";

/**
 * The JSON the server sends and takes, generated from its OpenAPI document
 * (`pwa/openapi.json` → `src/api/schema.d.ts`; regenerate with `wisp openapi`). The few types
 * written here are the ones the document does not describe (problem details, the device's view
 * of who is signed in, the work-order steps as a list).
 */
type Schemas = components["schemas"];

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

export class Offline extends Error {
  constructor() {
    super("offline");
  }
}

const SAFE = new Set(["GET", "HEAD"]);

function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

/** Any GET leaves the CSRF cookie behind; the API path skips the service worker. */
async function csrfToken(): Promise<string> {
  let token = cookie("csrftoken");
  if (!token) {
    await fetch("/api/v1/auth/me", { credentials: "same-origin", cache: "no-store" }).catch(() => null);
    token = cookie("csrftoken");
  }
  return token ?? "";
}

export interface CallOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export async function call<T>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = {
    Accept: "application/json, application/problem+json",
    "Accept-Language": currentLanguage(),
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE.has(method)) headers["X-CSRFToken"] = await csrfToken();
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: opts.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new Offline();
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem: Problem =
      data && typeof data === "object"
        ? { status: response.status, ...(data as object) }
        : { status: response.status, title: response.statusText };
    throw new ApiError(problem);
  }
  return data as T;
}

const get = <T>(path: string, opts?: CallOptions) => call<T>("GET", path, undefined, opts);
const post = <T>(path: string, body?: unknown, opts?: CallOptions) => call<T>("POST", path, body ?? {}, opts);
const patch = <T>(path: string, body: unknown) => call<T>("PATCH", path, body);
const del = (path: string) => call<void>("DELETE", path);

function qs(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") search.set(k, String(v));
  const s = search.toString();
  return s ? `?${s}` : "";
}

// Who is signed in ------------------------------------------------------------------------------

/** The staff member the server says is signed in. */
export type StaffMe = Schemas["MeOut"];

/** Who uses the app, as this device remembers them: a staff member, or a subscriber described
 * in the same shape from their portal account (role "subscriber", no tenant); `kind` tells. */
export type Me = Omit<StaffMe, "tenant"> & { tenant?: StaffMe["tenant"]; kind?: "staff" | "subscriber" };

export const auth = {
  login: (email: string, password: string) =>
    post<StaffMe>("/api/v1/auth/login", { email, password } satisfies Schemas["LoginIn"]),
  me: () => get<StaffMe>("/api/v1/auth/me"),
  logout: () => post<void>("/api/v1/auth/logout"),
  acceptInvitation: (token: string, name: string, password: string) =>
    post<Schemas["StaffOut"]>("/api/v1/auth/invitations/accept", { token, name, password } satisfies Schemas["AcceptInvitationIn"]),
  requestReset: (email: string) =>
    post<void>("/api/v1/auth/password-reset", { email } satisfies Schemas["PasswordResetIn"]),
  resetPassword: (token: string, password: string) =>
    post<void>("/api/v1/auth/password-reset/confirm", { token, password } satisfies Schemas["PasswordResetConfirmIn"]),
};

export const passkeys = {
  registrationOptions: () => post<Record<string, unknown>>("/api/v1/auth/passkeys/registration/options"),
  register: (credential: unknown, name: string) =>
    post<Passkey>("/api/v1/auth/passkeys/registration", { ...(credential as object), name }),
  authenticationOptions: () => post<Record<string, unknown>>("/api/v1/auth/passkeys/authentication/options"),
  authenticate: (credential: unknown) => post<StaffMe>("/api/v1/auth/passkeys/authentication", credential),
  list: () => get<Schemas["PasskeyList"]>("/api/v1/auth/passkeys"),
  remove: (id: string) => del(`/api/v1/auth/passkeys/${encodeURIComponent(id)}`),
  passkeyOnly: (enabled: boolean) =>
    patch<Schemas["PasskeyOnlyOut"]>("/api/v1/auth/passkey-only", { enabled } satisfies Schemas["PasskeyOnlyIn"]),
};

export type Passkey = Schemas["PasskeyOut"];

export type SignupIn = Schemas["SignupIn"];

export const signup = (data: SignupIn) => post<Schemas["SignupOut"]>("/api/v1/signup", data);
export const confirmOwner = (token: string) =>
  post<Schemas["ConfirmOut"]>("/api/v1/signup/confirm", { token } satisfies Schemas["ConfirmIn"]);

// Subscriber portal ------------------------------------------------------------------------------

export const portal = {
  login: (email: string, password: string) =>
    post<PortalMe>("/api/v1/portal/auth/login", { email, password } satisfies Schemas["PortalLoginIn"]),
  me: () => get<PortalMe>("/api/v1/portal/me"),
  billing: () => get<Schemas["PortalBillingOut"]>("/api/v1/portal/billing"),
  pdfUrl: (id: string) => `/api/v1/portal/billing/invoices/${encodeURIComponent(id)}/pdf`,
  logout: () => post<void>("/api/v1/auth/logout"),
  acceptInvitation: (token: string, password: string) =>
    post<PortalMe>("/api/v1/portal/invitations/accept", { token, password } satisfies Schemas["PortalAcceptIn"]),
};

export type PortalMe = Schemas["PortalMeOut"];

// Office ------------------------------------------------------------------------------------------

export type RatePlan = Schemas["PlanOut"];

export const ratePlans = {
  list: () => get<Schemas["PlanPage"]>("/api/v1/rate-plans"),
  create: (data: Schemas["PlanIn"], key: string) =>
    post<RatePlan>("/api/v1/rate-plans", data, { idempotencyKey: key }),
  archive: (id: string) => post<RatePlan>(`/api/v1/rate-plans/${encodeURIComponent(id)}/archive`),
};

export type Subscriber = Schemas["SubscriberOut"];
export type SubscriberIn = Schemas["SubscriberIn"];
export type LinkTest = Schemas["LinkTestOut"];
export type StatusChange = Schemas["StatusChangeOut"];

export const subscribers = {
  list: (q: string, cursor?: string | null) =>
    get<Schemas["SubscriberPage"]>(`/api/v1/subscribers${qs({ q, cursor })}`),
  get: (id: string) => get<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}`),
  history: (id: string) => get<Schemas["StatusHistory"]>(`/api/v1/subscribers/${encodeURIComponent(id)}/history`),
  create: (data: SubscriberIn, key: string) =>
    post<Schemas["SubscriberCreatedOut"]>("/api/v1/subscribers", data, { idempotencyKey: key }),
  suspend: (id: string, reason: string, note: string) =>
    post<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}/suspend`, { reason, note } satisfies Schemas["SuspendIn"]),
  resume: (id: string) => post<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}/resume`),
  changePlan: (id: string, plan_id: string, effective_date: string, key: string) =>
    post<Schemas["PlanChangeOut"]>(
      `/api/v1/subscribers/${encodeURIComponent(id)}/plan-changes`,
      { plan_id, effective_date } satisfies Schemas["PlanChangeIn"],
      { idempotencyKey: key },
    ),
  linkTest: (id: string, key: string) =>
    post<LinkTest>(`/api/v1/subscribers/${encodeURIComponent(id)}/link-test`, {} satisfies Schemas["LinkTestIn"], {
      idempotencyKey: key,
    }),
  linkTests: (id: string) => get<Schemas["LinkTestPage"]>(`/api/v1/subscribers/${encodeURIComponent(id)}/link-tests`),
};

export type WorkOrder = Schemas["WorkOrderOut"];

export const TRANSITIONS = ["schedule", "start", "authenticate-cpe", "activate", "sign-off", "cancel"] as const;
export type Transition = (typeof TRANSITIONS)[number];

/** What each step sends (the outbox adds `occurred_at`, the time it was done on the device). */
export interface TransitionBody {
  schedule: Schemas["ScheduleIn"];
  start: Schemas["StepIn"];
  "authenticate-cpe": Schemas["AuthenticateCpeIn"];
  activate: Schemas["StepIn"];
  "sign-off": Schemas["SignOffIn"];
  cancel: Schemas["CancelIn"];
}

export const workOrders = {
  list: (params: { technician_id?: string; subscriber_id?: string; status?: string; cursor?: string | null; limit?: number }) =>
    get<Schemas["WorkOrderPage"]>(`/api/v1/work-orders${qs(params)}`),
  get: (id: string) => get<WorkOrder>(`/api/v1/work-orders/${encodeURIComponent(id)}`),
  transition: (id: string, action: Transition, body: Record<string, unknown>, key: string) =>
    post<WorkOrder>(`/api/v1/work-orders/${encodeURIComponent(id)}/${action}`, body, { idempotencyKey: key }),
};

export type AccessPoint = Schemas["AccessPointOut"];

export const accessPoints = {
  list: () => get<Schemas["AccessPointPage"]>("/api/v1/access-points"),
};

export type StaffMember = Schemas["StaffOut"];

export const staff = {
  // "Page" is the staff list's page: the server's only schema with that bare name.
  list: () => get<Schemas["Page"]>("/api/v1/staff"),
  invite: (email: string, role: string, key: string) =>
    post<Schemas["InvitationOut"]>("/api/v1/staff/invitations", { email, role } satisfies Schemas["InvitationIn"], {
      idempotencyKey: key,
    }),
  invitations: () => get<Schemas["InvitationList"]>("/api/v1/staff/invitations"),
};

export type Invoice = Schemas["InvoiceOut"];

export type PaymentIn = Schemas["PaymentIn"];

export const PAYMENT_METHODS = ["cash", "bank_transfer", "card", "check", "mobile_money", "online", "other"];

export const billing = {
  invoices: (params: { subscriber_id?: string; status?: string; cursor?: string | null }) =>
    get<Schemas["InvoicePage"]>(`/api/v1/invoices${qs(params)}`),
  pdfUrl: (id: string) => `/api/v1/invoices/${encodeURIComponent(id)}/pdf`,
  pay: (data: PaymentIn, key: string) =>
    post<Schemas["PaymentOut"]>("/api/v1/payments", data, {
      idempotencyKey: key,
    }),
};

/** Whether an error says the route is not there (an optional capability not yet deployed). */
export function isMissingRoute(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405) && !error.problem.detail;
}
