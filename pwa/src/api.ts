// Every call to the server, in one place. Errors come back as problem details (RFC 9457);
// a request that never reached the server raises `Offline`, so callers can queue or wait.
import { currentLanguage } from "./i18n";

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

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
  total?: number;
}

// Who is signed in ------------------------------------------------------------------------------

export interface Me {
  id: string;
  email: string;
  name: string;
  role: string; // a staff role, or "subscriber"
  language: string;
  tenant?: { slug: string; name: string };
  kind?: "staff" | "subscriber";
  subscriber_id?: string;
}

export const auth = {
  login: (email: string, password: string) => post<Me>("/api/v1/auth/login", { email, password }),
  me: () => get<Me>("/api/v1/auth/me"),
  logout: () => post<void>("/api/v1/auth/logout"),
  acceptInvitation: (token: string, name: string, password: string) =>
    post<Me>("/api/v1/auth/invitations/accept", { token, name, password }),
  requestReset: (email: string) => post<unknown>("/api/v1/auth/password-reset", { email }),
  resetPassword: (token: string, password: string) =>
    post<unknown>("/api/v1/auth/password-reset/confirm", { token, password }),
};

export const passkeys = {
  registrationOptions: () => post<Record<string, unknown>>("/api/v1/auth/passkeys/registration/options"),
  register: (credential: unknown, name: string) =>
    post<Passkey>("/api/v1/auth/passkeys/registration", { ...(credential as object), name }),
  authenticationOptions: () => post<Record<string, unknown>>("/api/v1/auth/passkeys/authentication/options"),
  authenticate: (credential: unknown) => post<Me>("/api/v1/auth/passkeys/authentication", credential),
  list: () => get<{ items: Passkey[]; passkey_only: boolean }>("/api/v1/auth/passkeys"),
  remove: (id: string) => del(`/api/v1/auth/passkeys/${encodeURIComponent(id)}`),
  passkeyOnly: (enabled: boolean) => patch<{ enabled: boolean }>("/api/v1/auth/passkey-only", { enabled }),
};

export interface Passkey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

export interface SignupIn {
  company_name: string;
  slug: string;
  email: string;
  password: string;
  language: string;
  currency: string;
  timezone: string;
}

export const signup = (data: SignupIn) =>
  post<{ slug: string; portal_url: string; email_confirmed: boolean }>("/api/v1/signup", data);
export const confirmOwner = (token: string) =>
  post<{ email_confirmed: boolean }>("/api/v1/signup/confirm", { token });

// Subscriber portal ------------------------------------------------------------------------------

export const portal = {
  login: (email: string, password: string) => post<PortalMe>("/api/v1/portal/auth/login", { email, password }),
  me: () => get<PortalMe>("/api/v1/portal/me"),
  billing: () => get<{ balance: string; currency: string; invoices: Invoice[] }>("/api/v1/portal/billing"),
  pdfUrl: (id: string) => `/api/v1/portal/billing/invoices/${encodeURIComponent(id)}/pdf`,
  logout: () => post<void>("/api/v1/auth/logout"),
  acceptInvitation: (token: string, password: string) =>
    post<PortalMe>("/api/v1/portal/invitations/accept", { token, password }),
};

export interface PortalMe {
  account: { id: string; name: string; email: string; phone?: string; address?: string; language?: string | null };
  plan: { name: string; download_kbps?: number; upload_kbps?: number; monthly_price?: string; currency?: string } | null;
  status: string;
  suspension_reason?: string | null;
  [extra: string]: unknown;
}

// Office ------------------------------------------------------------------------------------------

export interface RatePlan {
  id: string;
  name: string;
  download_kbps: number;
  upload_kbps: number;
  monthly_price: string;
  currency: string;
  archived?: boolean;
  data_cap_gb?: number | null;
}

export const ratePlans = {
  list: () => get<Page<RatePlan>>("/api/v1/rate-plans"),
  create: (data: Record<string, unknown>, key: string) =>
    post<RatePlan>("/api/v1/rate-plans", data, { idempotencyKey: key }),
  archive: (id: string) => post<RatePlan>(`/api/v1/rate-plans/${encodeURIComponent(id)}/archive`),
};

export interface Subscriber {
  id: string;
  name: string;
  email: string;
  phone?: string;
  address?: string;
  latitude?: string | number | null;
  longitude?: string | number | null;
  status: string;
  plan_id?: string;
  access_point_id?: string | null;
  suspension_reason?: string | null;
  cpe_mac?: string | null;
  [extra: string]: unknown;
}

export interface LinkTest {
  id: string;
  status: string; // pending, delivered, done, failed, expired
  created_at: string;
  completed_at: string | null;
  result: {
    ok: boolean;
    loss_percent?: number | null;
    rtt_avg_ms?: number | null;
    rtt_max_ms?: number | null;
    throughput_kbps?: number | null;
    error?: string;
  } | null;
}

export interface StatusChange {
  from_status: string | null;
  to_status: string;
  reason?: string | null;
  note?: string;
  actor_label?: string;
  occurred_at: string;
}

export const subscribers = {
  list: (q: string, cursor?: string | null) => get<Page<Subscriber>>(`/api/v1/subscribers${qs({ q, cursor })}`),
  get: (id: string) => get<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}`),
  history: (id: string) => get<Page<StatusChange>>(`/api/v1/subscribers/${encodeURIComponent(id)}/history`),
  create: (data: Record<string, unknown>, key: string) =>
    post<Subscriber>("/api/v1/subscribers", data, { idempotencyKey: key }),
  suspend: (id: string, reason: string, note: string) =>
    post<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}/suspend`, { reason, note }),
  resume: (id: string) => post<Subscriber>(`/api/v1/subscribers/${encodeURIComponent(id)}/resume`),
  changePlan: (id: string, plan_id: string, effective_date: string, key: string) =>
    post<Record<string, unknown>>(
      `/api/v1/subscribers/${encodeURIComponent(id)}/plan-changes`,
      { plan_id, effective_date },
      { idempotencyKey: key },
    ),
  linkTest: (id: string, key: string) =>
    post<LinkTest>(`/api/v1/subscribers/${encodeURIComponent(id)}/link-test`, {}, { idempotencyKey: key }),
  linkTests: (id: string) => get<Page<LinkTest>>(`/api/v1/subscribers/${encodeURIComponent(id)}/link-tests`),
};

export interface WorkOrder {
  id: string;
  kind: string;
  status: string;
  subscriber_id: string;
  subscriber?: {
    id: string;
    name: string;
    phone?: string;
    address?: string;
    latitude?: string | number | null;
    longitude?: string | number | null;
    plan?: { id: string; name: string; download_kbps?: number; upload_kbps?: number } | null;
    plan_name?: string;
    status?: string;
  } | null;
  technician_id?: string | null;
  install_date?: string | null;
  cpe_mac?: string | null;
  access_point_id?: string | null;
  access_point?: { id: string; name: string; ssid?: string } | null;
  description?: string;
  signed_by?: string;
  updated_at?: string;
  [extra: string]: unknown;
}

export const TRANSITIONS = ["schedule", "start", "authenticate-cpe", "activate", "sign-off", "cancel"] as const;
export type Transition = (typeof TRANSITIONS)[number];

export const workOrders = {
  list: (params: { technician_id?: string; subscriber_id?: string; status?: string; cursor?: string | null; limit?: number }) =>
    get<Page<WorkOrder>>(`/api/v1/work-orders${qs(params)}`),
  get: (id: string) => get<WorkOrder>(`/api/v1/work-orders/${encodeURIComponent(id)}`),
  transition: (id: string, action: Transition, body: Record<string, unknown>, key: string) =>
    post<WorkOrder>(`/api/v1/work-orders/${encodeURIComponent(id)}/${action}`, body, { idempotencyKey: key }),
};

export interface AccessPoint {
  id: string;
  name: string;
  ssid?: string;
  site_id?: string;
}

export const accessPoints = {
  list: () => get<Page<AccessPoint>>("/api/v1/access-points"),
};

export interface StaffMember {
  id: string;
  email: string;
  name: string;
  role: string;
  is_active: boolean;
}

export const staff = {
  list: () => get<Page<StaffMember>>("/api/v1/staff"),
  invite: (email: string, role: string, key: string) =>
    post<Record<string, unknown>>("/api/v1/staff/invitations", { email, role }, { idempotencyKey: key }),
  invitations: () => get<Page<{ id: string; email: string; role: string; expires_at: string }>>("/api/v1/staff/invitations"),
};

export interface Invoice {
  id: string;
  kind: string;
  number: string;
  subscriber_id: string;
  issue_date: string;
  due_date: string;
  total: string;
  balance: string;
  currency: string;
  status: string;
}

export interface PaymentIn {
  subscriber_id: string;
  amount: string;
  method: string;
  reference: string;
  paid_on?: string;
}

export const PAYMENT_METHODS = ["cash", "bank_transfer", "card", "check", "mobile_money", "online", "other"];

export const billing = {
  invoices: (params: { subscriber_id?: string; status?: string; cursor?: string | null }) =>
    get<Page<Invoice>>(`/api/v1/invoices${qs(params)}`),
  pdfUrl: (id: string) => `/api/v1/invoices/${encodeURIComponent(id)}/pdf`,
  pay: (data: PaymentIn, key: string) =>
    post<{ id: string; amount: string; currency: string; subscriber_status: string }>("/api/v1/payments", data, {
      idempotencyKey: key,
    }),
};

/** Whether an error says the route is not there (an optional capability not yet deployed). */
export function isMissingRoute(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405) && !error.problem.detail;
}
