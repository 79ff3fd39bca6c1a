// The shell: language switch, login, navigation (hash routes) for the member portal and the manager console.
import { currentUser, hasSession, login, logout, whenSessionLost } from "./api.js";
import * as consoleViews from "./console.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import * as portalViews from "./portal.js";
import { errorBox, h, notify, render } from "./ui.js";

const SECTIONS = {
  portal: { title: "nav.portal", views: portalViews.VIEWS, home: "classes" },
  console: { title: "nav.console", views: consoleViews.VIEWS, home: "members" },
};
let stopView = () => {};

function sectionFor(user) {
  return user && user.role === "member" ? "portal" : "console";
}

function parseHash() {
  const [section, view, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { section, view, args: rest.map(decodeURIComponent) };
}

export function go(path) {
  if (location.hash === `#/${path}`) show();
  else location.hash = `#/${path}`;
}

function languageSwitch() {
  const select = h("select", { id: "lang", "aria-label": t("lang.label"), onchange: (event) => {
    setLang(event.target.value);
    show();
  } }, LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === lang() }, name)));
  return h("label", { class: "lang" }, h("span", { class: "visually-hidden" }, t("lang.label")), select);
}

function header(user, section) {
  const right = [languageSwitch()];
  if (user) {
    right.push(h("button", { type: "button", class: "button ghost", id: "logout", onclick: async () => {
      await logout();
      go("login");
    } }, t("nav.logout")));
  }
  return h("header", { class: "topbar" },
    h("a", { class: "brand", href: user ? `#/${section}` : "#/login" }, h("span", { class: "logo", "aria-hidden": "true" }, "▲"),
      t("app.title")),
    section ? h("span", { class: "section-name" }, t(SECTIONS[section].title)) : null,
    h("div", { class: "topbar-right" }, right));
}

function viewsFor(section, user) {
  return SECTIONS[section].views.filter(([, , roles]) => !roles || roles.includes(user.role));
}

function navigation(section, active, user) {
  const items = viewsFor(section, user).map(([name, label]) => h("li", {},
    h("a", { href: `#/${section}/${name}`, "aria-current": name === active ? "page" : null }, t(label))));
  return h("nav", { class: "tabs", "aria-label": t(SECTIONS[section].title) }, h("ul", {}, items));
}

function loginView() {
  const email = h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true,
    maxlength: 254, inputmode: "email" });
  const password = h("input", { id: "password", name: "password", type: "password", required: true, maxlength: 128,
    autocomplete: "current-password" });
  const submit = h("button", { type: "submit", class: "button primary", id: "login-submit" }, t("login.submit"));
  const problems = h("div", { id: "login-error", "aria-live": "assertive" });
  const form = h("form", { class: "card login-card", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    submit.textContent = t("login.busy");
    try {
      const user = await login(email.value.trim(), password.value);
      go(sectionFor(user));
    } catch (error) {
      const box = errorBox(error);
      if (error.status === 401) box.firstChild.textContent = t("login.bad_credentials");
      else if (error.status) box.firstChild.textContent = t("login.failed", { detail: error.detail });
      problems.replaceChildren(box);
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = t("login.submit");
    }
  } },
  h("h1", {}, t("login.title")), h("p", { class: "muted" }, t("login.intro")),
  h("div", { class: "field" }, h("label", { for: "email" }, t("login.email")), email),
  h("div", { class: "field" }, h("label", { for: "password" }, t("login.password")), password),
  problems, submit);
  return { body: h("div", { class: "login-wrap" }, form), focus: email };
}

function layout(user, section, content) {
  const root = document.getElementById("root");
  const parts = [h("a", { class: "skip-link", href: "#main" }, t("app.skip")), header(user, section),
    section ? navigation(section, content.view, user) : null,
    h("div", { id: "notice", class: "notice", role: "status", "aria-live": "polite" }),
    h("main", { id: "main", tabindex: "-1" }, content.body)];
  root.replaceChildren(...parts.filter(Boolean));
  return root.querySelector("main");
}

export async function show() {
  stopView();
  stopView = () => {};
  document.title = t("app.title");
  const user = hasSession() ? currentUser() : null;
  const { section, view, args } = parseHash();
  if (!user) {
    const page = loginView();
    layout(null, null, page);
    page.focus.focus();
    return;
  }
  const home = sectionFor(user);
  if (section !== home || !viewsFor(home, user).some(([name]) => name === view)) {
    go(`${home}/${SECTIONS[home].home}`);
    return;
  }
  const body = h("div", { class: "view" });
  const main = layout(user, home, { body, view });
  const build = () => SECTIONS[home].module[view](context);
  const context = { user, args, go, onLeave: (stop) => { stopView = stop; }, refresh: async () => {
    // re-draw only the view, in place (no loading flash, no scroll jump), and give focus back to the same card
    stopView();
    stopView = () => {};
    const anchor = document.activeElement?.closest("[data-class-id],[data-booking-id],[data-member-id]");
    const key = anchor ? Object.entries(anchor.dataset)[0] : null;
    const opened = [...body.querySelectorAll("[data-class-id] details[open]")]
      .map((details) => details.closest("[data-class-id]").dataset.classId);
    await render(body, build, { quiet: true });
    for (const classId of opened) {  // rosters the user had open stay open (and reload)
      const details = body.querySelector(`[data-class-id="${CSS.escape(classId)}"] details`);
      if (details) details.open = true;
    }
    if (key) {
      const attr = key[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      body.querySelector(`[data-${attr}="${CSS.escape(key[1])}"] button, [data-${attr}="${CSS.escape(key[1])}"] a`)
        ?.focus({ preventScroll: true });
    }
  } };
  await render(body, build);
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · ${t("app.title")}`;
}

SECTIONS.portal.module = portalViews;
SECTIONS.console.module = consoleViews;
whenSessionLost(() => {
  go("login");
  setTimeout(() => notify(t("error.session"), "error"), 0);
});
document.documentElement.lang = lang();
window.addEventListener("hashchange", show);
show();
