// The manager's analytics page: members at risk with reasons, behavioural segments, class demand forecast vs
// actual, and the proposed timetable with its expected gain. Each panel loads on its own (one failing - e.g. no
// churn model registered yet - does not hide the others). Admins filter by unit; managers see their own.
import { api } from "./api.js";
import { mapLimited, memberById } from "./data.js";
import { formatDate, lang, t } from "./i18n.js";
import { errorBox, h, loading } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const state = { weeks: 8, showCurrent: false, segment: null };

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) if (child) element.append(child instanceof Node ? child : String(child));
  return element;
}

function panel(id, title, intro, load) {
  const body = h("div", { class: "panel-body" }, loading());
  const section = h("section", { class: "card panel", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title), intro ? h("p", { class: "muted" }, intro) : null, body);
  load().then((content) => body.replaceChildren(...[content].flat(Infinity).filter(Boolean)))
    .catch((error) => body.replaceChildren(errorBox(error)));
  return section;
}

const pct = (x) => `${(100 * x).toLocaleString(lang(), { maximumFractionDigits: 1 })} %`;
const num = (x, digits = 1) => Number(x).toLocaleString(lang(), { maximumFractionDigits: digits });
const fixed = (x, digits) => Number(x).toLocaleString(lang(), { minimumFractionDigits: digits,
  maximumFractionDigits: digits });

export function weekdayName(day) {
  return new Intl.DateTimeFormat(lang(), { weekday: "short" }).format(new Date(2024, 0, 1 + day));
}

function reasonText(reason) {
  return t("analytics.reason", { feature: t(`feature.${reason.feature}`), value: num(reason.value, 2) });
}

async function riskPanel(unit) {
  const data = await api("GET", `analytics/units/${unit}/churn-risk`, { query: { limit: 15 } });
  if (!data.members.length) return h("p", { class: "empty" }, t("analytics.risk_empty"));
  const people = await mapLimited(data.members, 4, (m) => memberById(m.member_id).catch(() => null));
  const head = h("thead", {}, h("tr", {}, ["analytics.col.member", "analytics.col.risk", "analytics.col.reasons"]
    .map((key) => h("th", { scope: "col" }, t(key)))));
  const rows = data.members.map((m, i) => h("tr", { dataset: { memberId: m.member_id }, class: "risk-row" },
    h("td", { "data-label": t("analytics.col.member") },
      h("a", { href: `#/console/members/${m.member_id}` }, people[i]?.full_name || `#${m.member_id}`)),
    h("td", { "data-label": t("analytics.col.risk") }, h("span", { class: `badge risk-${m.churn_risk >= 0.15 ? "high"
      : m.churn_risk >= 0.05 ? "mid" : "low"}` }, pct(m.churn_risk))),
    h("td", { "data-label": t("analytics.col.reasons") }, h("ul", { class: "reasons" },
      m.reasons.filter((r) => r.shap > 0).map((r) => h("li", {}, reasonText(r)))))));
  return [h("p", { class: "muted" }, t("analytics.risk_meta", { n: data.active_members, days: data.horizon_days,
    version: data.model_version })), h("table", { class: "table stack", id: "risk-table" }, head,
    h("tbody", {}, rows))];
}

async function segmentMembers(data, label, target) {
  const ids = data.assignments.filter((a) => a.segment === label).slice(0, 12).map((a) => a.member_id);
  target.replaceChildren(loading());
  const people = await mapLimited(ids, 4, (id) => memberById(id).catch(() => null));
  target.replaceChildren(h("h3", {}, t("analytics.segment_members", { n: label + 1 })),
    h("ul", { class: "list segment-members" }, ids.map((id, i) => h("li", {},
      h("a", { href: `#/console/members/${id}` }, people[i]?.full_name || `#${id}`)))));
}

async function segmentPanel(unit) {
  const data = await api("GET", `analytics/units/${unit}/segments`, { query: { limit: 2000 } });
  const detail = h("div", { id: "segment-detail" });
  const cards = data.profiles.map((p) => h("li", { class: "card segment", dataset: { segment: p.segment } },
    h("div", { class: "class-head" }, h("h3", {}, t("analytics.segment", { n: p.segment + 1 })),
      h("span", { class: "badge" }, t("analytics.segment_size", { n: p.members }))),
    h("p", { class: "tags" }, p.tags.map((tag) => h("span", { class: "tag" }, t(`tag.${tag}`)))),
    h("dl", { class: "facts" },
      h("dt", {}, t("analytics.visits_week")), h("dd", {}, num(p.visits_per_week)),
      h("dt", {}, t("analytics.classes_week")), h("dd", {}, num(p.classes_per_week)),
      h("dt", {}, t("analytics.mean_hour")), h("dd", {}, `${Math.floor(p.mean_hour)}h${String(Math.round(
        (p.mean_hour % 1) * 60)).padStart(2, "0")}`),
      h("dt", {}, t("analytics.days_since")), h("dd", {}, num(p.days_since_last_visit, 0)),
      h("dt", {}, t("analytics.tenure")), h("dd", {}, num(p.tenure_days, 0))),
    h("button", { type: "button", class: "button secondary", "aria-controls": "segment-detail",
      onclick: () => { state.segment = p.segment; segmentMembers(data, p.segment, detail); } },
    t("analytics.segment_show"))));
  if (state.segment !== null && state.segment < data.k) segmentMembers(data, state.segment, detail);
  return [h("p", { class: "muted" }, t("analytics.segments_meta", { n: data.members, k: data.k })),
    h("ul", { class: "cards segments" }, cards), detail];
}

function chart(weekly) {
  const width = 640;
  const height = 240;
  const pad = { left: 44, right: 12, top: 12, bottom: 36 };
  const top = Math.max(1, ...weekly.flatMap((w) => [w.actual, w.forecast, w.seasonal_naive])) * 1.1;
  const x = (i) => pad.left + (i + 0.5) * (width - pad.left - pad.right) / weekly.length;
  const y = (v) => height - pad.bottom - v / top * (height - pad.top - pad.bottom);
  const bar = (width - pad.left - pad.right) / weekly.length * 0.55;
  const line = (key) => weekly.map((w, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(w[key]).toFixed(1)}`).join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * top / 1.1));
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", id: "forecast-chart",
    "aria-label": t("analytics.chart_label") },
  ticks.map((v) => [s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
    s("text", { x: pad.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, num(v, 0))]),
  weekly.map((w, i) => [
    s("rect", { x: x(i) - bar / 2, y: y(w.booked), width: bar, height: y(0) - y(w.booked), class: "bar-booked" },
      s("title", {}, `${formatDate(w.week_start)}: ${t("analytics.booked")} ${w.booked}`)),
    s("rect", { x: x(i) - bar / 2, y: y(w.actual), width: bar, height: y(w.booked) - y(w.actual),
      class: "bar-wait" }, s("title", {}, `${t("analytics.waitlisted")} ${w.waitlisted}`)),
    s("text", { x: x(i), y: height - pad.bottom + 16, class: "axis", "text-anchor": "middle" },
      formatDate(w.week_start).slice(0, 5))]),
  s("path", { d: line("seasonal_naive"), class: "line-naive" }),
  s("path", { d: line("forecast"), class: "line-forecast" }),
  weekly.map((w, i) => s("circle", { cx: x(i), cy: y(w.forecast), r: 3.5, class: "dot-forecast" },
    s("title", {}, `${t("analytics.forecast")} ${num(w.forecast)}`))));
}

async function forecastPanel(unit, ctx) {
  const data = await api("GET", `analytics/units/${unit}/demand-forecast`, { query: { weeks: state.weeks } });
  const select = h("select", { id: "forecast-weeks", onchange: (event) => {
    state.weeks = Number(event.target.value);
    ctx.refresh();
  } }, [4, 8, 12, 26].map((n) => h("option", { value: n, selected: n === state.weeks }, t("analytics.weeks", { n }))));
  const scores = data.mase;
  const legend = h("ul", { class: "legend" },
    h("li", { class: "key-booked" }, t("analytics.booked")), h("li", { class: "key-wait" }, t("analytics.waitlisted")),
    h("li", { class: "key-forecast" }, t("analytics.forecast")), h("li", { class: "key-naive" },
      t("analytics.naive")));
  return [h("div", { class: "field inline" }, h("label", { for: "forecast-weeks" }, t("analytics.period")), select),
    data.weekly.length ? [chart(data.weekly), legend] : h("p", { class: "empty" }, t("analytics.no_sessions")),
    scores.glm ? h("p", { id: "forecast-mase" }, t("analytics.mase", { glm: fixed(scores.glm.mase_mean, 2),
      naive: fixed(scores.seasonal_naive_week.mase_mean, 2), n: scores.glm.sessions, series: scores.glm.series }))
      : null,
    h("p", { class: "muted" }, t("analytics.forecast_meta", { cutoff: formatDate(data.cutoff),
      n: data.train_sessions }))];
}

function timetableGrid(sessions, compare) {
  const days = [...new Set(sessions.map((x) => x.weekday).concat(compare.map((x) => x.weekday)))].sort();
  const times = [...new Set(sessions.map((x) => x.start_time).concat(compare.map((x) => x.start_time)))].sort();
  const key = (x) => `${x.weekday}|${x.start_time}|${x.room_id}|${x.class_type}`;
  const other = new Set(compare.map(key));
  const head = h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("analytics.time")),
    days.map((d) => h("th", { scope: "col" }, weekdayName(d)))));
  const rows = times.map((time) => h("tr", {}, h("th", { scope: "row" }, time), days.map((d) => h("td", {},
    sessions.filter((x) => x.weekday === d && x.start_time === time).map((x) => h("div", {
      class: `chip${other.has(key(x)) ? "" : " changed"}`, title: `${x.room} · ${t("analytics.expected", {
        n: num(x.expected_attendance ?? 0) })}` },
    h("strong", {}, x.class_type), h("span", {}, x.room), h("span", { class: "muted" },
      x.expected_attendance === null ? "" : t("analytics.expected", { n: num(x.expected_attendance) }))))))));
  return h("div", { class: "table-scroll" }, h("table", { class: "table timetable", id: "timetable-grid" }, head,
    h("tbody", {}, rows)));
}

async function timetablePanel(unit, ctx) {
  const data = await api("GET", `analytics/units/${unit}/timetable-proposal`, { query: { time_limit_s: 5 } });
  const gain = data.expected_gain;
  const shown = state.showCurrent ? data.current : data.proposed;
  const other = state.showCurrent ? data.proposed : data.current;
  const toggle = h("div", { class: "segmented", role: "group", "aria-label": t("analytics.show") },
    [["proposed", false], ["current", true]].map(([name, value]) => h("button", { type: "button",
      class: `button ${state.showCurrent === value ? "primary" : "secondary"}`, id: `show-${name}`,
      "aria-pressed": String(state.showCurrent === value), onclick: () => { state.showCurrent = value; ctx.refresh(); } },
    t(`analytics.show_${name}`))));
  return [h("div", { class: "gain", id: "timetable-gain" },
    h("strong", {}, t("analytics.gain", { n: num(gain.attendance_per_week),
      pct: gain.attendance_pct === null ? "—" : num(gain.attendance_pct) })),
    h("span", {}, t("analytics.gain_wait", { n: num(gain.waitlist_per_week) }))),
  h("p", { class: "muted" }, t("analytics.timetable_meta", { sessions: data.proposed.totals.sessions,
    current: data.current.totals.sessions, status: data.status, s: num(data.solve_seconds, 2) })),
  toggle, timetableGrid(shown.sessions, other.sessions),
  h("p", { class: "muted small" }, t("analytics.changed_note"))];
}

/** The page (ctx: user, refresh); ``unit`` comes from the console's unit picker. */
export async function analyticsPage(ctx, unit, picker) {
  if (!unit) return [h("h1", {}, t("analytics.title")), picker, h("p", { class: "empty" }, t("analytics.no_unit"))];
  return [h("h1", {}, t("analytics.title")), picker, h("p", { class: "muted" }, t("analytics.subtitle")),
    h("div", { class: "grid-2 analytics" },
      panel("panel-risk", t("analytics.risk_title"), t("analytics.risk_intro"), () => riskPanel(unit)),
      panel("panel-segments", t("analytics.segments_title"), t("analytics.segments_intro"),
        () => segmentPanel(unit))),
    panel("panel-forecast", t("analytics.forecast_title"), t("analytics.forecast_intro"),
      () => forecastPanel(unit, ctx)),
    panel("panel-timetable", t("analytics.timetable_title"), t("analytics.timetable_intro"),
      () => timetablePanel(unit, ctx))];
}

/** The member page's churn card (drill-down from the risk list): risk and every reason, or why there is none. */
export function memberRiskCard(memberId) {
  return panel("member-risk", t("analytics.member_risk_title"), null, async () => {
    try {
      const data = await api("GET", `analytics/members/${memberId}/churn-risk`);
      return [h("p", { class: "risk-value" }, t("analytics.member_risk", { risk: pct(data.churn_risk),
        days: data.horizon_days })),
      h("ul", { class: "reasons" }, data.reasons.map((r) => h("li", {}, reasonText(r), " ",
        h("span", { class: "muted" }, r.shap > 0 ? t("analytics.raises") : t("analytics.lowers")))))];
    } catch (error) {
      if (error.status === 404 || error.status === 409) return h("p", { class: "muted" }, error.detail);
      throw error;
    }
  });
}
