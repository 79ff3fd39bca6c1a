// The API client: tokens, refresh rotation, one-line errors.
// The access token lives in memory only; the refresh token (single use, rotated on each refresh) and the
// caller's role/unit live in sessionStorage, so a reload keeps the session but closing the tab ends it.

const REFRESH_KEY = "gymchain.refresh";
const USER_KEY = "gymchain.user";
const EARLY_REFRESH_MS = 30_000;

let access = null;
let accessExpiresAt = 0;
let refreshing = null;
let onSessionLost = () => {};

export class ApiError extends Error {
  constructor(status, detail, requestId) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.requestId = requestId;
  }
}

export function whenSessionLost(callback) {
  onSessionLost = callback;
}

export function currentUser() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

function keep(pair) {
  access = pair.access_token;
  accessExpiresAt = Date.now() + pair.expires_in * 1000;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  sessionStorage.setItem(USER_KEY, JSON.stringify({ role: pair.role, unit_id: pair.unit_id,
    member_id: pair.member_id, email: pair.email ?? currentUser()?.email ?? null }));
}

export function forget() {
  access = null;
  accessExpiresAt = 0;
  sessionStorage.removeItem(REFRESH_KEY);
  sessionStorage.removeItem(USER_KEY);
}

async function readError(response) {
  let detail = response.statusText || `HTTP ${response.status}`;
  let requestId = response.headers.get("X-Request-ID");
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
    requestId = body.request_id || requestId;
  } catch {
    // not JSON (e.g. a proxy page): keep the status text
  }
  return new ApiError(response.status, detail, requestId);
}

async function send(url, options) {
  try {
    return await fetch(url, options);
  } catch {
    throw new ApiError(0, "network", null);
  }
}

export async function login(email, password) {
  const form = new URLSearchParams({ username: email, password });
  const response = await send("/api/auth/token", { method: "POST", body: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  if (!response.ok) throw await readError(response);
  const pair = await response.json();
  keep({ ...pair, email });
  return currentUser();
}

async function rotate() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) throw new ApiError(401, "no session", null);
  const response = await send("/api/auth/refresh", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }) });
  if (!response.ok) {
    const error = await readError(response);
    if (response.status === 401 || response.status === 422) {
      forget();
      onSessionLost();
    }
    throw error;
  }
  keep(await response.json());
}

/** One refresh at a time: concurrent callers wait for the same rotation (a refresh token is single use). */
export function refreshSession() {
  if (!refreshing) refreshing = rotate().finally(() => { refreshing = null; });
  return refreshing;
}

export function hasSession() {
  return Boolean(sessionStorage.getItem(REFRESH_KEY));
}

async function validAccess() {
  if (!access || Date.now() > accessExpiresAt - EARLY_REFRESH_MS) await refreshSession();
  return access;
}

function urlOf(path, query) {
  const url = new URL(`/api/${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

/** Call the API through the gateway; returns the JSON body (null for 204) or throws ApiError. */
export async function api(method, path, { query, body } = {}) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const token = await validAccess();
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await send(urlOf(path, query), { method, headers,
      body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && attempt === 0) {
      access = null;  // expired or revoked: rotate once and retry
      continue;
    }
    if (!response.ok) throw await readError(response);
    return response.status === 204 ? null : response.json();
  }
  throw new ApiError(401, "unauthorized", null);
}

export async function logout() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  forget();
  if (token) {
    await send("/api/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }) }).catch(() => {});
  }
}
