// Who uses the app on this device. The last principal is remembered so that a technician who
// opens the app with no network still gets their work orders; the server stays the judge of
// every change (a stale principal only sees its own cached data).
import { ApiError, Offline, auth, portal, type Me, type PortalMe } from "./api";
import { chosenLanguage, setLanguage } from "./i18n";

const KEY = "wisp.me";

export interface Boot {
  host: "tenant" | "base";
  tenant: { slug: string; name: string } | null;
  lang: string;
  languages: string[];
  theme: string;
}

export function boot(): Boot {
  const el = document.getElementById("wisp-boot");
  const fallback: Boot = { host: "tenant", tenant: null, lang: "en", languages: ["en", "es"], theme: "#1d4ed8" };
  if (!el?.textContent) return fallback;
  try {
    return { ...fallback, ...(JSON.parse(el.textContent) as Partial<Boot>) };
  } catch {
    return fallback;
  }
}

let current: Me | null = null;
let offlineSession = false;

export function me(): Me | null {
  return current;
}

/** True when the principal comes from this device's memory because the server was unreachable. */
export function isOfflineSession(): boolean {
  return offlineSession;
}

export function remember(who: Me | null): void {
  current = who;
  offlineSession = false;
  if (who) {
    localStorage.setItem(KEY, JSON.stringify(who));
    if (who.language && !chosenLanguage()) setLanguage(who.language);
  } else {
    localStorage.removeItem(KEY);
  }
}

function remembered(): Me | null {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "null") as Me | null;
  } catch {
    return null;
  }
}

/** Ask the server who is signed in: staff first, then a subscriber; offline, trust memory. */
export async function load(): Promise<Me | null> {
  const last = remembered();
  const tryStaff = last?.kind !== "subscriber";
  try {
    if (tryStaff) {
      try {
        const who = await auth.me();
        remember({ ...who, kind: "staff" });
        return current;
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 403) throw error;
      }
    }
    rememberSubscriber(await portal.me());
    return current;
  } catch (error) {
    if (error instanceof Offline && last) {
      current = last;
      offlineSession = true;
      if (last.language && !chosenLanguage()) setLanguage(last.language);
      return current;
    }
    if (error instanceof ApiError && (error.status === 401 || error.status === 403 || error.status === 404)) {
      remember(null);
      return null;
    }
    if (last) {
      current = last;
      offlineSession = true;
      return current;
    }
    return null;
  }
}

export function rememberSubscriber(sub: PortalMe): void {
  remember({
    id: sub.account.id,
    email: sub.account.email,
    name: sub.account.name,
    role: "subscriber",
    language: sub.account.language ?? "",
    kind: "subscriber",
  });
}

export function isStaff(): boolean {
  return current?.kind === "staff";
}

export function hasRole(...roles: string[]): boolean {
  return !!current && current.kind === "staff" && roles.includes(current.role);
}
