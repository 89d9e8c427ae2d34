// Changes made on the device, sent in order when the network allows.
//
// Each change gets its own Idempotency-Key and the time it really happened when it is made, and
// is applied at once to the local copy. Replay sends the oldest pending change first; a network
// failure, a 5xx or a 429 stops the run (the change stays pending and is retried on the next
// `online` event, on load, or by hand); a 401 waits for the user to sign in again; anything else
// the server refuses is kept, with the server's reason, until the user dismisses it.
import { ApiError, Offline, workOrders, type Transition, type WorkOrder } from "./api";
import { db, storeWorkOrder, type OutboxItem } from "./db";

type Listener = () => void;
const listeners = new Set<Listener>();
let running: Promise<void> | null = null;
let rerun = false;
export let needsSignIn = false;

export function onOutboxChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(): void {
  for (const listener of listeners) listener();
}

const NEXT_STATUS: Record<Transition, string> = {
  schedule: "scheduled",
  start: "in_progress",
  "authenticate-cpe": "cpe_authenticated",
  activate: "activated",
  "sign-off": "signed_off",
  cancel: "cancelled",
};

/** The work order as it will be once its pending changes are accepted. */
export function applyPending(order: WorkOrder, items: OutboxItem[]): WorkOrder {
  let out = { ...order };
  for (const item of items) {
    if (item.work_order !== order.id || item.state !== "pending") continue;
    out = { ...out, status: NEXT_STATUS[item.action] };
    const b = item.body;
    if (item.action === "schedule") {
      out.install_date = String(b.install_date ?? out.install_date ?? "");
      if (b.technician_id) out.technician_id = String(b.technician_id);
    }
    if (item.action === "authenticate-cpe") {
      out.cpe_mac = String(b.cpe_mac ?? "");
      if (b.access_point_id) out.access_point_id = String(b.access_point_id);
    }
    if (item.action === "sign-off") out.signed_by = String(b.signed_by ?? "");
  }
  return out;
}

export async function enqueue(
  user: string,
  workOrder: string,
  action: Transition,
  body: Record<string, unknown>,
): Promise<OutboxItem> {
  const occurred_at = new Date().toISOString();
  const item: OutboxItem = {
    key: crypto.randomUUID(),
    user,
    work_order: workOrder,
    action,
    body: { ...body, occurred_at },
    occurred_at,
    state: "pending",
    created_at: occurred_at,
  };
  item.seq = await (await db()).add("outbox", item);
  changed();
  void replay(user);
  return item;
}

export async function dismiss(seq: number): Promise<void> {
  const database = await db();
  const item = await database.get("outbox", seq);
  if (item && item.state !== "pending") await database.delete("outbox", seq);
  changed();
}

const KEEP_SYNCED = 30;

async function prune(): Promise<void> {
  const database = await db();
  const synced = await database.getAllFromIndex("outbox", "by_state", "synced");
  synced.sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0));
  for (const old of synced.slice(KEEP_SYNCED)) await database.delete("outbox", old.seq!);
}

async function sendNext(user: string): Promise<boolean> {
  const database = await db();
  const pending = (await database.getAllFromIndex("outbox", "by_state", "pending"))
    .filter((i) => i.user === user)
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  const item = pending[0];
  if (!item) return false;
  item.tried_at = new Date().toISOString();
  try {
    const order = await workOrders.transition(item.work_order, item.action, item.body, item.key);
    item.state = "synced";
    item.synced_at = new Date().toISOString();
    await database.put("outbox", item);
    if (order && typeof order === "object" && order.id) await storeWorkOrder(user, order);
    changed();
    return true;
  } catch (error) {
    if (error instanceof Offline) return false;
    if (!(error instanceof ApiError)) throw error;
    const status = error.status;
    if (status === 401) {
      needsSignIn = true;
      changed();
      return false;
    }
    if (status === 408 || status === 429 || status >= 500) return false;
    item.state = "refused";
    item.status = status;
    item.title = error.problem.title;
    item.detail = error.problem.detail ?? error.problem.errors?.map((e) => e.message).join(" ") ?? error.problem.title;
    await database.put("outbox", item);
    changed();
    return true;
  }
}

/** Send what is pending, oldest first; one run at a time in this tab and across tabs. */
export function replay(user: string): Promise<void> {
  if (running) {
    // A change made while a run is finishing must not wait for the next trigger.
    rerun = true;
    return running;
  }
  const run = async () => {
    needsSignIn = false;
    const work = async () => {
      while (navigator.onLine && (await sendNext(user))) {
        /* next */
      }
      await prune();
    };
    if (navigator.locks) await navigator.locks.request("wisp-outbox", work);
    else await work();
  };
  running = run().finally(() => {
    running = null;
    changed();
    if (rerun) {
      rerun = false;
      void replay(user);
    }
  });
  return running;
}

export async function pendingCount(user: string): Promise<number> {
  const items = await (await db()).getAllFromIndex("outbox", "by_state", "pending");
  return items.filter((i) => i.user === user).length;
}
