// The device's copy of the technician's work: work orders as the server last sent them, and the
// outbox of changes made here. IndexedDB is per origin, so per WISP.
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { AccessPoint, RatePlan, Subscriber, Transition, WorkOrder } from "./api";

export type OutboxState = "pending" | "synced" | "refused";

export interface OutboxItem {
  seq?: number;
  /** Sent as the Idempotency-Key: a replay after a lost answer changes nothing twice. */
  key: string;
  user: string;
  work_order: string;
  action: Transition;
  body: Record<string, unknown>;
  occurred_at: string;
  state: OutboxState;
  created_at: string;
  tried_at?: string;
  synced_at?: string;
  status?: number;
  title?: string;
  detail?: string;
}

/** What the technician needs on site, fetched with the order while online. */
export interface Details {
  subscriber?: Subscriber;
  plan?: RatePlan;
  access_point?: AccessPoint;
}

export interface CachedWorkOrder extends Details {
  id: string;
  user: string;
  server: WorkOrder;
  fetched_at: string;
}

interface WispDB extends DBSchema {
  workorders: { key: string; value: CachedWorkOrder; indexes: { by_user: string } };
  outbox: { key: number; value: OutboxItem; indexes: { by_state: OutboxState; by_work_order: string } };
  kv: { key: string; value: unknown };
}

let dbPromise: Promise<IDBPDatabase<WispDB>> | null = null;

export function db(): Promise<IDBPDatabase<WispDB>> {
  dbPromise ??= openDB<WispDB>("wisp", 1, {
    upgrade(database) {
      const wo = database.createObjectStore("workorders", { keyPath: "id" });
      wo.createIndex("by_user", "user");
      const outbox = database.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      outbox.createIndex("by_state", "state");
      outbox.createIndex("by_work_order", "work_order");
      database.createObjectStore("kv");
    },
  });
  return dbPromise;
}

export async function kvGet<T>(key: string): Promise<T | undefined> {
  return (await (await db()).get("kv", key)) as T | undefined;
}

export async function kvSet(key: string, value: unknown): Promise<void> {
  await (await db()).put("kv", value, key);
}

export async function cachedWorkOrders(user: string): Promise<CachedWorkOrder[]> {
  return (await db()).getAllFromIndex("workorders", "by_user", user);
}

export async function cachedWorkOrder(id: string): Promise<CachedWorkOrder | undefined> {
  return (await db()).get("workorders", id);
}

/**
 * Replace this user's cached list with what the server sent. Orders no longer listed go,
 * unless a change made here still refers to them.
 */
export async function storeWorkOrders(
  user: string,
  orders: { order: WorkOrder; details: Details }[],
  keepIds: Set<string>,
): Promise<void> {
  const database = await db();
  const tx = database.transaction("workorders", "readwrite");
  const listed = new Set(orders.map((o) => o.order.id));
  for (const old of await tx.store.index("by_user").getAll(user)) {
    if (!listed.has(old.id) && !keepIds.has(old.id)) await tx.store.delete(old.id);
  }
  const now = new Date().toISOString();
  for (const { order, details } of orders) {
    await tx.store.put({ ...details, id: order.id, user, server: order, fetched_at: now });
  }
  await tx.done;
}

/** Keep the details already fetched; only the order itself changed. */
export async function storeWorkOrder(user: string, order: WorkOrder): Promise<void> {
  const database = await db();
  const old = await database.get("workorders", order.id);
  await database.put("workorders", {
    subscriber: old?.subscriber,
    plan: old?.plan,
    access_point: old?.access_point,
    id: order.id,
    user,
    server: order,
    fetched_at: new Date().toISOString(),
  });
}

export async function outboxItems(): Promise<OutboxItem[]> {
  return (await db()).getAll("outbox");
}

export async function storeDetailed(user: string, order: WorkOrder, details: Details): Promise<void> {
  await (await db()).put("workorders", { ...details, id: order.id, user, server: order, fetched_at: new Date().toISOString() });
}
