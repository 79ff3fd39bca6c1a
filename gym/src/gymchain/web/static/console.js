// The manager console: members of the unit (search, paging, detail, book into a class), classes with occupancy and
// wait-list, and live occupancy per area. Admins pick the unit; trainers and managers see their own.
import { api } from "./api.js";
import { areaNames, byDay, forgetMember, mapLimited, memberById, upcomingClasses } from "./data.js";
import { formatClock, formatDate, formatDateTime, formatDay, formatTime, t } from "./i18n.js";
import { contractList, profileList, statusBadge, visitList } from "./portal.js";
import { busy, errorBox, h, meter, notify, notifyError } from "./ui.js";
import { analyticsPage, memberRiskCard } from "./analytics.js";

// [name, label, roles allowed (all console roles when absent)]
export const VIEWS = [["members", "nav.members"], ["classes", "nav.classes"], ["occupancy", "nav.occupancy"],
  ["analytics", "nav.analytics", ["manager", "admin"]]];
const PAGE_SIZE = 20;
const OCCUPANCY_REFRESH_S = 5;
const UNIT_KEY = "gymchain.unit";
const search = { query: "", page: 0 };

function isAdmin(user) {
  return user.role === "admin";
}

function unitOf(user) {
  return isAdmin(user) ? Number(sessionStorage.getItem(UNIT_KEY)) || null : user.unit_id;
}

/** Admins choose the unit they look at (remembered for the tab); everyone else is fixed to theirs. */
async function unitPicker(ctx) {
  if (!isAdmin(ctx.user)) return null;
  const units = await api("GET", "members/units");
  if (!unitOf(ctx.user) && units.length) sessionStorage.setItem(UNIT_KEY, String(units[0].id));
  const select = h("select", { id: "unit", onchange: (event) => {
    sessionStorage.setItem(UNIT_KEY, event.target.value);
    search.page = 0;
    ctx.refresh();
  } }, units.map((u) => h("option", { value: u.id, selected: u.id === unitOf(ctx.user) }, `${u.code} · ${u.name}`)));
  return h("div", { class: "field inline" }, h("label", { for: "unit" }, t("console.unit")), select);
}

function memberQuery(text) {
  const value = text.trim();
  if (!value) return {};
  return value.includes("@") ? { email: value } : { cpf: value };
}

function memberTable(list) {
  const head = h("thead", {}, h("tr", {}, ["members.col.name", "members.col.email", "members.col.cpf",
    "members.col.status", "members.col.consent"].map((key) => h("th", { scope: "col" }, t(key)))));
  const rows = list.map((m) => h("tr", { dataset: { memberId: m.id } },
    h("td", { "data-label": t("members.col.name") }, h("a", { href: `#/console/members/${m.id}` },
      m.full_name || `#${m.id}`)),
    h("td", { "data-label": t("members.col.email") }, m.email || t("common.none")),
    h("td", { "data-label": t("members.col.cpf") }, m.cpf_masked || t("common.none")),
    h("td", { "data-label": t("members.col.status") }, t(`members.status.${m.status}`)),
    h("td", { "data-label": t("members.col.consent") }, t(m.camera_consent ? "members.consent.yes"
      : "members.consent.no"))));
  return h("table", { class: "table stack" }, head, h("tbody", {}, rows));
}

async function memberList(ctx) {
  const picker = await unitPicker(ctx);  // first: it settles an admin's unit
  const unit = unitOf(ctx.user);
  const list = await api("GET", "members/members", { query: { unit_id: isAdmin(ctx.user) ? unit : undefined,
    limit: PAGE_SIZE + 1, offset: search.page * PAGE_SIZE, ...memberQuery(search.query) } });
  const more = list.length > PAGE_SIZE;
  const input = h("input", { id: "member-search", type: "search", value: search.query, maxlength: 254,
    "aria-describedby": "member-search-help", autocomplete: "off" });
  const form = h("form", { class: "search", role: "search", onsubmit: (event) => {
    event.preventDefault();
    search.query = input.value;
    search.page = 0;
    ctx.refresh();
  } },
  h("label", { for: "member-search" }, t("members.search")),
  h("div", { class: "search-row" }, input,
    h("button", { type: "submit", class: "button primary" }, t("members.search_button")),
    search.query ? h("button", { type: "button", class: "button ghost", onclick: () => {
      search.query = "";
      search.page = 0;
      ctx.refresh();
    } }, t("members.clear")) : null),
  h("small", { id: "member-search-help", class: "muted" }, t("members.search_help")));
  const pager = h("nav", { class: "pager", "aria-label": t("common.page", { n: search.page + 1 }) },
    h("button", { type: "button", class: "button secondary", id: "prev-page", disabled: search.page === 0,
      onclick: () => { search.page -= 1; ctx.refresh(); } }, `‹ ${t("common.prev")}`),
    h("span", { id: "page-number" }, t("common.page", { n: search.page + 1 })),
    h("button", { type: "button", class: "button secondary", id: "next-page", disabled: !more,
      onclick: () => { search.page += 1; ctx.refresh(); } }, `${t("common.next")} ›`));
  return [h("h1", {}, t("members.title")), picker, form,
    list.length ? memberTable(list.slice(0, PAGE_SIZE)) : h("p", { class: "empty" }, t("members.empty")), pager];
}

function bookForm(member, classes, ctx) {
  const open = classes.filter((c) => c.status === "scheduled" && new Date(c.starts_at) > Date.now());
  const select = h("select", { id: "book-class", required: true },
    h("option", { value: "" }, t("member.choose_class")),
    open.map((c) => h("option", { value: c.id }, `${formatDateTime(c.starts_at)} · ${c.title} · ${
      c.seats_left > 0 ? t("classes.seats", { left: c.seats_left, capacity: c.capacity })
        : t("classes.full", { capacity: c.capacity })}`)));
  const submit = h("button", { type: "submit", class: "button primary", id: "book-submit" }, t("member.book"));
  return h("form", { class: "card", id: "book-form", onsubmit: async (event) => {
    event.preventDefault();
    if (!select.value) {
      select.focus();
      select.reportValidity();
      return;
    }
    await busy(submit, async () => {
      try {
        const booking = await api("POST", "members/bookings", { body: { class_id: Number(select.value),
          member_id: member.id } });
        const cls = open.find((c) => c.id === booking.class_id);
        const status = booking.status === "waitlisted"
          ? t("booking.waitlisted", { position: booking.waitlist_position ?? "?" }) : t(`booking.${booking.status}`);
        ctx.refresh();
        notify(t("member.booked", { name: member.full_name || `#${member.id}`, status, title: cls?.title ?? "" }));
      } catch (error) {
        notifyError(error);
      }
    });
  } },
  h("h2", {}, t("member.book_title")),
  h("div", { class: "field" }, h("label", { for: "book-class" }, t("member.class")), select), submit);
}

async function memberDetail(ctx, id) {
  forgetMember(id);
  const member = await memberById(id);
  const [contracts, plans, visits, bookings, classes, areas] = await Promise.all([
    api("GET", `members/members/${id}/contracts`), api("GET", "members/plans"),
    api("GET", `members/members/${id}/visits`, { query: { limit: 10 } }),
    api("GET", `members/members/${id}/bookings`, { query: { limit: 20 } }),
    upcomingClasses(member.unit_id, isAdmin(ctx.user)), areaNames(member.unit_id)]);
  const classTitles = new Map(classes.map((c) => [c.id, c]));
  const bookingItems = bookings.map((b) => {
    const cls = classTitles.get(b.class_id);
    return h("li", { class: "visit", dataset: { bookingId: b.id } },
      h("span", {}, cls ? `${formatDateTime(cls.starts_at)} · ${cls.title}` : `#${b.class_id}`), statusBadge(b));
  });
  return [h("p", {}, h("a", { href: "#/console/members", class: "back" }, `‹ ${t("common.back")}`)),
    h("h1", {}, member.full_name || t("member.title", { id })),
    h("p", { class: "muted" }, t("member.title", { id }), " · ", t(`members.status.${member.status}`), " · ",
      t("member.since", { date: formatDate(member.created_at) })),
    h("div", { class: "grid-2" },
      h("section", {}, h("h2", {}, t("member.profile")), profileList(member)),
      h("section", {}, h("h2", {}, t("plan.contracts")), contractList(contracts, new Map(plans.map((p) => [p.id, p]))))),
    member.status === "active" && ["manager", "admin"].includes(ctx.user.role) ? memberRiskCard(id) : null,
    member.status === "active" ? bookForm(member, classes, ctx) : null,
    h("div", { class: "grid-2" },
      h("section", {}, h("h2", {}, t("member.bookings")), bookingItems.length
        ? h("ul", { class: "list" }, bookingItems) : h("p", { class: "empty" }, t("bookings.empty"))),
      h("section", {}, h("h2", {}, t("member.visits")), visitList(visits, areas)))];
}

export async function members(ctx) {
  const [id] = ctx.args;
  if (id !== undefined) {
    if (!/^\d{1,18}$/.test(id)) throw new Error(`not a member id: ${id.slice(0, 20)}`);
    return memberDetail(ctx, Number(id));
  }
  return memberList(ctx);
}

async function roster(cls, target) {
  target.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
  try {
    const list = await api("GET", `members/classes/${cls.id}/bookings`);
    if (!list.length) {
      target.replaceChildren(h("p", { class: "empty" }, t("classes.roster_empty")));
      return list;
    }
    const people = await mapLimited(list, 4, (b) => memberById(b.member_id).catch(() => null));
    target.replaceChildren(h("ol", { class: "list roster" }, list.map((b, i) => h("li", {},
      h("a", { href: `#/console/members/${b.member_id}` }, people[i]?.full_name || `#${b.member_id}`),
      statusBadge(b)))));
    return list;
  } catch (error) {
    target.replaceChildren(errorBox(error));
    return [];
  }
}

/** Front-desk booking from a class card: find the member by e-mail or CPF, book, show the roster again. */
function deskBookForm(cls, ctx) {
  const id = `desk-${cls.id}`;
  const input = h("input", { id, type: "search", required: true, maxlength: 254, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "button secondary" }, t("member.book"));
  return h("form", { class: "desk-book", onsubmit: async (event) => {
    event.preventDefault();
    if (!input.value.trim()) {
      input.reportValidity();
      return;
    }
    await busy(submit, async () => {
      try {
        const found = await api("GET", "members/members", { query: { ...memberQuery(input.value), limit: 2,
          unit_id: isAdmin(ctx.user) ? cls.unit_id : undefined } });
        if (found.length !== 1) {
          notify(t("members.empty"), "error");
          return;
        }
        const booking = await api("POST", "members/bookings", { body: { class_id: cls.id, member_id: found[0].id } });
        const status = booking.status === "waitlisted"
          ? t("booking.waitlisted", { position: booking.waitlist_position ?? "?" }) : t(`booking.${booking.status}`);
        notify(t("member.booked", { name: found[0].full_name || `#${found[0].id}`, status, title: cls.title }));
        await ctx.refresh();
      } catch (error) {
        notifyError(error);
      }
    });
  } }, h("label", { for: id }, t("classes.desk_book")), h("div", { class: "search-row" }, input, submit));
}

function consoleClassCard(cls, areas, ctx) {
  const body = h("div", { class: "roster-body" });
  const details = h("details", { ontoggle: () => {
    if (details.open && !details.dataset.loaded) {
      details.dataset.loaded = "yes";
      roster(cls, body);
    }
  } }, h("summary", {}, t("classes.roster")), body,
  cls.status === "scheduled" && new Date(cls.starts_at) > Date.now() ? deskBookForm(cls, ctx) : null);
  if (cls.seats_left <= 0 && cls.status === "scheduled") {  // a wait-list exists only when a class is full
    details.open = true;
    details.dataset.loaded = "yes";
    roster(cls, body);
  }
  return h("li", { class: "card class-card", dataset: { classId: cls.id } },
    h("div", { class: "class-head" }, h("h3", {}, cls.title),
      h("span", { class: "time" }, `${formatTime(cls.starts_at)}–${formatTime(cls.ends_at)}`)),
    h("p", { class: "muted" }, t("classes.area", { area: areas.get(cls.area_id) ?? `#${cls.area_id}` })),
    meter(cls.booked_count, cls.capacity, t("classes.occupancy")),
    h("p", { class: "seats" }, cls.status === "cancelled" ? t("classes.cancelled_class")
      : cls.seats_left > 0 ? t("classes.seats", { left: cls.seats_left, capacity: cls.capacity })
        : t("classes.full", { capacity: cls.capacity })),
    details);
}

export async function classes(ctx) {
  const picker = await unitPicker(ctx);
  const unit = unitOf(ctx.user);
  const [list, areas] = await Promise.all([upcomingClasses(unit, isAdmin(ctx.user)), areaNames(unit)]);
  const days = byDay(list, "starts_at").map((group) => h("section", { class: "day" },
    h("h2", {}, formatDay(group[0].starts_at)),
    h("ul", { class: "cards" }, group.map((cls) => consoleClassCard(cls, areas, ctx)))));
  return [h("h1", {}, t("console.classes_title")), picker, h("p", { class: "muted" }, t("classes.subtitle")),
    days.length ? days : h("p", { class: "empty" }, t("classes.empty"))];
}

function occupancyCards(data) {
  if (!data.areas.length) return h("p", { class: "empty" }, t("occupancy.empty"));
  return h("ul", { class: "cards occupancy" }, data.areas.map((area) => {
    const level = area.ratio >= 0.9 ? "high" : area.ratio >= 0.6 ? "mid" : "low";
    return h("li", { class: "card", dataset: { areaId: area.area_id } },
      h("div", { class: "class-head" }, h("h3", {}, area.name),
        h("span", { class: `badge level-${level}` }, t(`occupancy.level.${level}`))),
      meter(area.present, area.capacity, area.name),
      h("p", { class: "present" }, t("occupancy.present", { present: area.present, capacity: area.capacity })),
      area.sensor_people !== null && area.sensor_people !== undefined
        ? h("p", { class: "muted" }, t("occupancy.sensor", { n: Math.round(area.sensor_people) })) : null);
  }));
}

export async function occupancy(ctx) {
  const picker = await unitPicker(ctx);
  const unit = unitOf(ctx.user);
  const query = isAdmin(ctx.user) ? { unit_id: unit } : {};
  const live = h("div", { id: "occupancy-live", "aria-live": "off" });
  const stamp = h("p", { class: "muted", id: "occupancy-updated", role: "status" });
  const draw = (data) => {
    live.replaceChildren(occupancyCards(data));
    stamp.textContent = t("common.updated", { time: formatClock(data.at) });
  };
  draw(await api("GET", "members/occupancy", { query }));
  const timer = setInterval(async () => {
    try {
      draw(await api("GET", "members/occupancy", { query }));
    } catch (error) {
      live.replaceChildren(errorBox(error));
    }
  }, OCCUPANCY_REFRESH_S * 1000);
  ctx.onLeave(() => clearInterval(timer));
  return [h("h1", {}, t("occupancy.title")), picker,
    h("p", { class: "muted" }, t("occupancy.subtitle", { s: OCCUPANCY_REFRESH_S })), stamp, live];
}

export async function analytics(ctx) {
  const picker = await unitPicker(ctx);
  return analyticsPage(ctx, unitOf(ctx.user), picker);
}
