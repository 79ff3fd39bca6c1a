// The member portal: upcoming classes (book, wait-list, cancel), my bookings, visits, plan, privacy (LGPD).
import { api } from "./api.js";
import { areaNames, byDay, classById, mapLimited, minutesBetween, upcomingClasses } from "./data.js";
import { formatDate, formatDateTime, formatDay, formatMoney, formatTime, t } from "./i18n.js";
import { busy, h, meter, notify, notifyError } from "./ui.js";

export const VIEWS = [["classes", "nav.classes"], ["bookings", "nav.bookings"], ["visits", "nav.visits"],
  ["plan", "nav.plan"], ["assistant", "nav.assistant"], ["privacy", "nav.privacy"]];
export { assistant } from "./assistant.js";

function myBookings(user, limit = 200) {
  return api("GET", `members/members/${user.member_id}/bookings`, { query: { limit } });
}

export function statusBadge(booking) {
  if (booking.status === "waitlisted") {
    return h("span", { class: "badge badge-wait" }, booking.waitlist_position
      ? t("booking.waitlisted", { position: booking.waitlist_position }) : t("booking.waitlisted_short"));
  }
  return h("span", { class: `badge badge-${booking.status}` }, t(`booking.${booking.status}`));
}

async function book(button, cls, ctx) {
  await busy(button, async () => {
    try {
      const booking = await api("POST", "members/bookings", { body: { class_id: cls.id } });
      notify(booking.status === "confirmed" ? t("booking.done_confirmed", { title: cls.title })
        : t("booking.done_waitlisted", { title: cls.title, position: booking.waitlist_position ?? "?" }));
      ctx.refresh();
    } catch (error) {
      notifyError(error);
    }
  });
}

/** Two-step cancel: the first click asks, the second one cancels (no modal dialog, works with one thumb). */
function cancelButton(booking, cls, ctx, label) {
  const button = h("button", { type: "button", class: "button secondary", dataset: { action: "cancel" } }, label);
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.classList.add("danger");
      button.textContent = t("booking.confirm_cancel", { title: cls.title });
      return;
    }
    await busy(button, async () => {
      try {
        await api("POST", `members/bookings/${booking.id}/cancel`);
        notify(t("booking.done_cancelled", { title: cls.title }));
        ctx.refresh();
      } catch (error) {
        notifyError(error);
      }
    });
  });
  return button;
}

function classCard(cls, booking, areas, ctx) {
  const full = cls.seats_left <= 0;
  let action;
  if (cls.status === "cancelled") action = h("span", { class: "badge badge-cancelled" }, t("classes.cancelled_class"));
  else if (booking) {
    action = cancelButton(booking, cls, ctx,
      booking.status === "waitlisted" ? t("classes.leave_waitlist") : t("classes.cancel"));
  } else {
    action = h("button", { type: "button", class: full ? "button secondary" : "button primary",
      dataset: { action: "book" }, onclick: (event) => book(event.currentTarget, cls, ctx) },
    full ? t("classes.join_waitlist") : t("classes.book"));
  }
  return h("li", { class: "card class-card", dataset: { classId: cls.id } },
    h("div", { class: "class-head" },
      h("h3", {}, cls.title),
      h("span", { class: "time" }, `${formatTime(cls.starts_at)}–${formatTime(cls.ends_at)}`)),
    h("p", { class: "muted" }, t("classes.area", { area: areas.get(cls.area_id) ?? `#${cls.area_id}` }), " · ",
      t("common.minutes", { n: minutesBetween(cls.starts_at, cls.ends_at) })),
    meter(cls.booked_count, cls.capacity, t("classes.occupancy")),
    h("p", { class: "seats" }, full ? t("classes.full", { capacity: cls.capacity })
      : t("classes.seats", { left: cls.seats_left, capacity: cls.capacity })),
    h("div", { class: "card-actions" }, booking ? statusBadge(booking) : null, action));
}

export async function classes(ctx) {
  const { user } = ctx;
  const [list, bookings, areas] = await Promise.all([upcomingClasses(user.unit_id, false), myBookings(user),
    areaNames(user.unit_id)]);
  const active = new Map(bookings.filter((b) => b.status !== "cancelled").map((b) => [b.class_id, b]));
  const days = byDay(list, "starts_at").map((group) => h("section", { class: "day" },
    h("h2", {}, formatDay(group[0].starts_at)),
    h("ul", { class: "cards" }, group.map((cls) => classCard(cls, active.get(cls.id), areas, ctx)))));
  return [h("h1", {}, t("classes.title")), h("p", { class: "muted" }, t("classes.subtitle")),
    days.length ? days : h("p", { class: "empty" }, t("classes.empty"))];
}

function bookingRow(booking, cls, ctx, canCancel) {
  return h("li", { class: "card booking-card", dataset: { bookingId: booking.id } },
    h("div", { class: "class-head" }, h("h3", {}, cls.title), statusBadge(booking)),
    h("p", { class: "muted" }, formatDateTime(cls.starts_at)),
    canCancel ? h("div", { class: "card-actions" }, cancelButton(booking, cls, ctx,
      booking.status === "waitlisted" ? t("classes.leave_waitlist") : t("classes.cancel"))) : null);
}

export async function bookings(ctx) {
  // the week's classes in one call; older ones one by one, a few at a time
  const [list] = await Promise.all([myBookings(ctx.user, 50), upcomingClasses(ctx.user.unit_id, false)]);
  const ids = [...new Set(list.map((b) => b.class_id))];
  const classesById = new Map(await mapLimited(ids, 4, async (id) => [id, await classById(id)]));
  const now = Date.now();
  const isUpcoming = (b) => b.status !== "cancelled" && new Date(classesById.get(b.class_id).starts_at) > now;
  const upcoming = list.filter(isUpcoming)
    .sort((a, b) => new Date(classesById.get(a.class_id).starts_at) - new Date(classesById.get(b.class_id).starts_at));
  const past = list.filter((b) => !isUpcoming(b));
  const section = (title, items, canCancel) => h("section", {}, h("h2", {}, title),
    h("ul", { class: "cards" }, items.map((b) => bookingRow(b, classesById.get(b.class_id), ctx, canCancel))));
  if (!list.length) return [h("h1", {}, t("bookings.title")), h("p", { class: "empty" }, t("bookings.empty"))];
  return [h("h1", {}, t("bookings.title")),
    upcoming.length ? section(t("bookings.upcoming"), upcoming, true) : null,
    past.length ? section(t("bookings.past"), past, false) : null];
}

export function visitList(visits, areas) {
  if (!visits.length) return h("p", { class: "empty" }, t("visits.empty"));
  return h("ul", { class: "list visits" }, visits.map((v) => h("li", { class: "visit", dataset: { visitId: v.id } },
    h("span", { class: "visit-when" }, formatDateTime(v.checked_in_at)),
    h("span", { class: "visit-where" }, areas.get(v.area_id) ?? `#${v.area_id}`),
    h("span", { class: "visit-length muted" }, v.checked_out_at
      ? t("common.minutes", { n: minutesBetween(v.checked_in_at, v.checked_out_at) }) : t("visits.open")))));
}

const VISITS_PAGE = 30;

export async function visits(ctx) {
  const { user } = ctx;
  const page = (offset) => api("GET", `members/members/${user.member_id}/visits`,
    { query: { limit: VISITS_PAGE, offset } });
  const [first, areas] = await Promise.all([page(0), areaNames(user.unit_id)]);
  const shown = [...first];
  const count = h("p", { class: "muted", id: "visits-count" }, t("visits.count", { n: shown.length }));
  const list = h("div", {}, visitList(shown, areas));
  const more = h("button", { type: "button", class: "button secondary", id: "more-visits",
    hidden: first.length < VISITS_PAGE }, t("visits.more"));
  more.addEventListener("click", () => busy(more, async () => {
    try {
      const next = await page(shown.length);
      shown.push(...next);
      list.replaceChildren(visitList(shown, areas));
      count.textContent = t("visits.count", { n: shown.length });
      more.hidden = next.length < VISITS_PAGE;
    } catch (error) {
      notifyError(error);
    }
  }));
  return [h("h1", {}, t("visits.title")), shown.length ? count : null, list, h("p", { class: "pager" }, more)];
}

export function contractList(contracts, plans) {
  if (!contracts.length) return h("p", { class: "empty" }, t("plan.none"));
  return h("ul", { class: "cards" }, contracts.map((c) => {
    const plan = plans.get(c.plan_id);
    return h("li", { class: "card contract" },
      h("div", { class: "class-head" }, h("h3", {}, plan ? plan.name : `#${c.plan_id}`),
        h("span", { class: `badge badge-${c.status === "active" ? "confirmed" : "cancelled"}` },
          t(`plan.status.${c.status}`) || c.status)),
      h("p", {}, t("plan.period", { start: formatDate(c.starts_on), end: formatDate(c.ends_on) })),
      h("p", { class: "muted" }, t("plan.price", { price: formatMoney(c.monthly_price_cents) })),
      plan ? h("p", { class: "muted" }, plan.weekly_class_limit ? t("plan.weekly", { n: plan.weekly_class_limit })
        : t("plan.unlimited"), " · ", plan.all_units ? t("plan.all_units") : t("plan.own_unit")) : null);
  }));
}

export function profileList(member) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value || t("common.none"))];
  return h("dl", { class: "facts" }, row(t("plan.name"), member.full_name), row(t("plan.email"), member.email),
    row(t("plan.phone"), member.phone), row(t("plan.cpf"), member.cpf_masked));
}

export async function plan(ctx) {
  const { user } = ctx;
  const [member, contracts, plans] = await Promise.all([api("GET", "members/members/me"),
    api("GET", `members/members/${user.member_id}/contracts`), api("GET", "members/plans")]);
  return [h("h1", {}, t("plan.title")), h("section", {}, h("h2", {}, t("plan.contracts")),
    contractList(contracts, new Map(plans.map((p) => [p.id, p])))),
  h("section", {}, h("h2", {}, t("plan.profile")), profileList(member),
    h("p", { class: "muted" }, t("member.since", { date: formatDate(member.created_at) })))];
}

function download(name, data) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const link = h("a", { href: url, download: name, class: "visually-hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function privacy(ctx) {
  const { user } = ctx;
  const member = await api("GET", "members/members/me");
  const toggle = h("input", { type: "checkbox", id: "consent", role: "switch", checked: member.camera_consent,
    "aria-describedby": "consent-help" });
  toggle.addEventListener("change", async () => {
    const wanted = toggle.checked;
    toggle.disabled = true;
    try {
      const saved = await api("PUT", `members/members/${user.member_id}/consent`, { body: { camera_consent: wanted } });
      toggle.checked = saved.camera_consent;
      notify(saved.camera_consent ? t("privacy.consent_on") : t("privacy.consent_off"));
    } catch (error) {
      toggle.checked = !wanted;
      notifyError(error);
    } finally {
      toggle.disabled = false;
    }
  });
  const exportButton = h("button", { type: "button", class: "button secondary", id: "export" }, t("privacy.export"));
  exportButton.addEventListener("click", () => busy(exportButton, async () => {
    try {
      const data = await api("GET", `members/members/${user.member_id}/export`);
      const name = `gymchain-member-${user.member_id}-${new Date().toISOString().slice(0, 10)}.json`;
      download(name, data);
      notify(t("privacy.exported", { name }));
    } catch (error) {
      notifyError(error);
    }
  }));
  return [h("h1", {}, t("privacy.title")),
    h("section", { class: "card" }, h("div", { class: "switch-row" }, toggle, h("label", { for: "consent" },
      t("privacy.consent"))), h("p", { class: "muted", id: "consent-help" }, t("privacy.consent_help"))),
    h("section", { class: "card" }, h("p", {}, t("privacy.export_help")), exportButton)];
}
