// The technician's work orders: fetched from the server when online (with the subscriber, plan
// and access point each needs on site), kept in IndexedDB, and shown with the device's pending
// changes applied on top.
import {
  ApiError,
  accessPoints,
  ratePlans,
  subscribers,
  workOrders,
  type AccessPoint,
  type RatePlan,
  type Subscriber,
  type WorkOrder,
} from "./api";
import { cachedWorkOrder, cachedWorkOrders, kvGet, kvSet, outboxItems, storeDetailed, storeWorkOrders, type CachedWorkOrder, type Details, type OutboxItem } from "./db";
import { applyPending } from "./outbox";

export interface LocalOrder extends Details {
  order: WorkOrder;
  server: WorkOrder;
  changes: OutboxItem[];
  fetched_at: string;
}

const MAX_PAGES = 10;
const AP_KEY = "access_points";

async function all(params: { technician_id?: string; status?: string }): Promise<WorkOrder[]> {
  const out: WorkOrder[] = [];
  let cursor: string | null | undefined = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const pageData = await workOrders.list({ ...params, cursor, limit: 100 });
    out.push(...pageData.items);
    cursor = pageData.next_cursor;
    if (!cursor) break;
  }
  return out;
}

/** A lookup that may be refused to this role or not exist yet: then the detail is left out. */
async function optional<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) return undefined;
    throw error;
  }
}

/** Fetch this user's orders (assigned to them, and the open ones anyone may take) and store them. */
export async function refreshMine(user: string): Promise<void> {
  const [mine, open] = await Promise.all([all({ technician_id: user }), all({ status: "open" })]);
  const byId = new Map<string, WorkOrder>();
  for (const o of [...open, ...mine]) byId.set(o.id, o);
  const subs = new Map<string, Subscriber | undefined>();
  const plans = new Map<string, RatePlan>();
  const aps = new Map<string, AccessPoint>();
  const planList = await optional(() => ratePlans.list());
  for (const p of planList?.items ?? []) plans.set(p.id, p);
  const apList = await optional(() => accessPoints.list());
  for (const a of apList?.items ?? []) aps.set(a.id, a);
  if (apList) await kvSet(AP_KEY, apList.items); // for the CPE step with no network
  // A few lookups at a time: quick on a good signal, gentle on a weak one.
  const wanted = [...new Set([...byId.values()].map((o) => o.subscriber_id))];
  const fetchers = Array.from({ length: Math.min(4, wanted.length) }, async () => {
    for (let id = wanted.pop(); id !== undefined; id = wanted.pop()) {
      const subscriberId = id;
      subs.set(subscriberId, await optional(() => subscribers.get(subscriberId)));
    }
  });
  await Promise.all(fetchers);
  const rows: { order: WorkOrder; details: Details }[] = [];
  for (const order of byId.values()) {
    const subscriber = subs.get(order.subscriber_id);
    const apId = order.access_point_id ?? subscriber?.access_point_id;
    rows.push({
      order,
      details: {
        subscriber,
        plan: subscriber?.plan_id ? plans.get(subscriber.plan_id) : undefined,
        access_point: apId ? aps.get(apId) : undefined,
      },
    });
  }
  const keep = new Set((await outboxItems()).filter((i) => i.state !== "synced").map((i) => i.work_order));
  await storeWorkOrders(user, rows, keep);
}

function local(cached: CachedWorkOrder, items: OutboxItem[], aps: AccessPoint[]): LocalOrder {
  const changes = items.filter((i) => i.work_order === cached.id && i.user === cached.user);
  const order = applyPending(cached.server, changes);
  // A CPE recorded offline may name an access point the cached details do not know yet.
  const apId = order.access_point_id ?? cached.access_point?.id;
  return {
    order,
    server: cached.server,
    changes,
    subscriber: cached.subscriber,
    plan: cached.plan,
    access_point: aps.find((a) => a.id === apId) ?? cached.access_point,
    fetched_at: cached.fetched_at,
  };
}

async function cachedAccessPoints(): Promise<AccessPoint[]> {
  return (await kvGet<AccessPoint[]>(AP_KEY)) ?? [];
}

export async function localOrders(user: string): Promise<LocalOrder[]> {
  const [items, aps] = await Promise.all([outboxItems(), cachedAccessPoints()]);
  return (await cachedWorkOrders(user)).map((c) => local(c, items, aps));
}

export async function localOrder(id: string): Promise<LocalOrder | null> {
  const cached = await cachedWorkOrder(id);
  if (!cached) return null;
  const [items, aps] = await Promise.all([outboxItems(), cachedAccessPoints()]);
  return local(cached, items, aps);
}

/** The access points to choose from: the server's list, or the copy kept for offline use. */
export async function accessPointChoices(): Promise<AccessPoint[]> {
  try {
    const items = (await optional(() => accessPoints.list()))?.items ?? [];
    await kvSet(AP_KEY, items);
    return items;
  } catch {
    return (await kvGet<AccessPoint[]>(AP_KEY)) ?? [];
  }
}

/** One order straight from the server (office staff open any order from the board). */
export async function fetchOne(user: string, id: string): Promise<LocalOrder | null> {
  const order = await workOrders.get(id);
  const subscriber = await optional(() => subscribers.get(order.subscriber_id));
  const plan = subscriber?.plan_id
    ? (await optional(() => ratePlans.list()))?.items.find((p) => p.id === subscriber.plan_id)
    : undefined;
  const apId = order.access_point_id ?? subscriber?.access_point_id;
  const access_point = apId ? (await accessPointChoices()).find((a) => a.id === apId) : undefined;
  await storeDetailed(user, order, { subscriber, plan, access_point });
  return localOrder(id);
}
