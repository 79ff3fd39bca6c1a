// Small DOM helpers: elements are built with textContent only (no innerHTML), so API data can never inject markup.
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** The one-line message for an API error, in the current language (the server's detail is kept verbatim). */
export function errorText(error) {
  if (!(error instanceof ApiError)) return t("error.generic", { detail: error?.message || String(error) });
  if (error.status === 0) return t("error.network");
  if (error.status === 401) return t("error.session");
  if (error.status === 403) return t("error.forbidden", { detail: error.detail });
  if (error.status === 429) return t("error.rate", { detail: error.detail });
  return t("error.generic", { detail: error.detail });
}

export function errorBox(error) {
  const requestId = error instanceof ApiError && error.requestId;
  return h("div", { class: "alert alert-error", role: "alert" }, h("span", {}, errorText(error)),
    requestId ? h("small", { class: "request-id" }, t("error.request_id", { id: requestId })) : null);
}

/** Show a message in the page's live region (announced by screen readers). */
export function notify(text, kind = "ok") {
  const region = document.getElementById("notice");
  region.replaceChildren(h("div", { class: `alert alert-${kind}` }, text));
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => region.replaceChildren(), 8000);
}

export function notifyError(error) {
  const region = document.getElementById("notice");
  region.replaceChildren(errorBox(error));
  clearTimeout(notify.timer);
}

export function loading() {
  return h("p", { class: "muted", role: "status" }, t("common.loading"));
}

/** Render ``build()`` into ``target``; errors become an alert with a retry button. */
export async function render(target, build, { quiet = false } = {}) {
  if (!quiet) target.replaceChildren(loading());
  try {
    const content = await build();
    target.replaceChildren(...[content].flat(Infinity).filter((node) => node !== null && node !== undefined));
  } catch (error) {
    target.replaceChildren(errorBox(error),
      h("button", { type: "button", class: "button secondary", onclick: () => render(target, build) },
        t("common.retry")));
  }
}

/** Disable a button while ``work`` runs, so a double click cannot send twice. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function meter(value, max, label) {
  const ratio = max > 0 ? Math.min(value / max, 1) : 0;
  const level = ratio >= 0.9 ? "high" : ratio >= 0.6 ? "mid" : "low";
  const fill = h("div", { class: "meter-fill" });
  fill.style.width = `${Math.round(ratio * 100)}%`;  // CSSOM, allowed by the CSP (style attributes are not)
  return h("div", { class: `meter meter-${level}`, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": max,
    "aria-valuenow": value, "aria-label": label }, fill);
}
