// The member portal's assistant chat: questions answered from cited guidelines, plans, booking by conversation.
// Calls POST /api/assistant/conversations/{id}/ask with the member's own session (the assistant acts only for them).
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { busy, h, notifyError } from "./ui.js";

const SUGGESTIONS = ["assistant.try_protein", "assistant.try_plan", "assistant.try_book"];

function sourceList(sources) {
  if (!sources || !sources.length) return null;
  return h("details", { class: "chat-sources" }, h("summary", {}, t("assistant.sources", { n: sources.length })),
    h("ul", {}, sources.map((s) => h("li", {}, h("strong", {}, s.source), " — ", s.text,
      h("span", { class: "muted" }, ` (${s.reference})`)))));
}

function messageItem(message) {
  const mine = message.role === "member";
  const actions = (message.actions || []).filter((a) => a.ok && a.tool !== "my_bookings");
  return h("li", { class: `chat-msg ${mine ? "chat-member" : "chat-assistant"}`, dataset: { intent: message.intent || "" } },
    h("span", { class: "visually-hidden" }, mine ? t("assistant.you") : t("assistant.bot")),
    h("p", { class: "chat-text" }, message.text),
    actions.length ? h("p", {}, actions.map((a) => h("span", { class: "badge badge-confirmed" },
      t(a.tool === "book_class" ? "assistant.did_book" : "assistant.did_cancel")))) : null,
    message.escalate ? h("p", { class: "badge badge-wait" }, t("assistant.escalated")) : null,
    mine ? null : sourceList(message.sources));
}

async function currentConversation() {
  const [latest] = await api("GET", "assistant/conversations", { query: { limit: 1 } });
  if (latest) return api("GET", `assistant/conversations/${latest._id}`);
  return api("POST", "assistant/conversations", { body: { title: t("assistant.title"),
    language: lang() === "en" ? "en" : "pt-BR" } });
}

export async function assistant(ctx) {
  let conversation = await currentConversation();
  const log = h("ol", { class: "chat-log", id: "chat-log", "aria-live": "polite" },
    (conversation.messages || []).map(messageItem));
  const input = h("textarea", { id: "chat-input", rows: 2, maxlength: 1000, required: true,
    placeholder: t("assistant.placeholder") });
  const send = h("button", { type: "submit", class: "button primary", id: "chat-send" }, t("assistant.send"));
  const ask = async (text) => {
    await busy(send, async () => {
      try {
        const answer = await api("POST", `assistant/conversations/${conversation._id}/ask`, { body: { text } });
        log.append(messageItem({ role: "member", text }), messageItem(answer.reply));
        input.value = "";
        log.lastElementChild.scrollIntoView({ block: "nearest" });
      } catch (error) {
        notifyError(error);
      }
    });
  };
  const form = h("form", { class: "chat-form", onsubmit: (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) ask(text);
  } }, h("label", { for: "chat-input", class: "visually-hidden" }, t("assistant.placeholder")), input, send);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const fresh = h("button", { type: "button", class: "button secondary", id: "chat-new" }, t("assistant.new"));
  fresh.addEventListener("click", () => busy(fresh, async () => {
    conversation = await api("POST", "assistant/conversations", { body: { title: t("assistant.title"),
      language: lang() === "en" ? "en" : "pt-BR" } });
    log.replaceChildren();
  }));
  const chips = h("p", { class: "chat-chips" }, SUGGESTIONS.map((key) => h("button", { type: "button",
    class: "button secondary chat-chip", onclick: () => ask(t(key)) }, t(key))));
  return [h("h1", {}, t("assistant.title")), h("p", { class: "muted" }, t("assistant.intro")), chips, log, form,
    h("p", { class: "muted" }, fresh)];
}
