// Read helpers shared by the portal and the console (small per-page caches; nothing outlives a page load).
import { api } from "./api.js";

const areaCache = new Map();
const classCache = new Map();
const memberCache = new Map();

export async function areaNames(unitId) {
  if (!areaCache.has(unitId)) {
    areaCache.set(unitId, api("GET", `members/units/${unitId}/areas`)
      .then((areas) => new Map(areas.map((a) => [a.id, a.name])))
      .catch((error) => { areaCache.delete(unitId); throw error; }));
  }
  return areaCache.get(unitId);
}

export function rememberClasses(classes) {
  for (const cls of classes) classCache.set(cls.id, Promise.resolve(cls));
  return classes;
}

export async function upcomingClasses(unitId, isAdmin) {
  const query = isAdmin ? { unit_id: unitId } : {};
  return rememberClasses(await api("GET", "members/classes", { query }));
}

export function classById(id) {
  if (!classCache.has(id)) {
    classCache.set(id, api("GET", `members/classes/${id}`).catch((error) => { classCache.delete(id); throw error; }));
  }
  return classCache.get(id);
}

export function memberById(id) {
  if (!memberCache.has(id)) {
    memberCache.set(id, api("GET", `members/members/${id}`).catch((error) => { memberCache.delete(id); throw error; }));
  }
  return memberCache.get(id);
}

export function forgetMember(id) {
  memberCache.delete(id);
}

/** ``fn`` over ``items`` with at most ``limit`` calls in flight (keeps a page from bursting the rate limit). */
export async function mapLimited(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function byDay(items, when) {
  const groups = new Map();
  for (const item of items) {
    const day = new Date(item[when]).toDateString();
    if (!groups.has(day)) groups.set(day, []);
    groups.get(day).push(item);
  }
  return [...groups.values()];
}

export function minutesBetween(start, end) {
  return Math.round((new Date(end) - new Date(start)) / 60000);
}
