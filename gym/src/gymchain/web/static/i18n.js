// All user-visible strings, in two dictionaries (pt-BR is the default, as in the seed). t(key, params).
const DICTIONARIES = {
  "pt-BR": {
    "app.title": "gymchain",
    "app.skip": "Pular para o conteúdo",
    "lang.label": "Idioma",
    "nav.logout": "Sair",
    "nav.classes": "Aulas",
    "nav.bookings": "Reservas",
    "nav.visits": "Visitas",
    "nav.plan": "Plano",
    "nav.privacy": "Privacidade",
    "nav.members": "Membros",
    "nav.occupancy": "Ocupação",
    "nav.portal": "Portal do aluno",
    "nav.console": "Console do gestor",
    "login.title": "Entrar",
    "login.intro": "Acesse com o e-mail e a senha cadastrados na sua unidade.",
    "login.email": "E-mail",
    "login.password": "Senha",
    "login.submit": "Entrar",
    "login.busy": "Entrando…",
    "login.failed": "Não foi possível entrar: {detail}",
    "login.bad_credentials": "E-mail ou senha incorretos.",
    "common.loading": "Carregando…",
    "common.retry": "Tentar de novo",
    "common.updated": "Atualizado às {time}",
    "common.none": "—",
    "common.prev": "Anterior",
    "common.next": "Próxima",
    "common.page": "Página {n}",
    "common.close": "Fechar",
    "common.back": "Voltar",
    "common.minutes": "{n} min",
    "error.network": "Sem conexão com o servidor. Verifique a rede e tente de novo.",
    "error.session": "Sua sessão expirou. Entre novamente.",
    "error.forbidden": "Você não tem permissão para isto: {detail}",
    "error.generic": "Erro: {detail}",
    "error.rate": "Muitas requisições: {detail}",
    "error.request_id": "código da requisição {id}",
    "classes.title": "Próximas aulas",
    "classes.subtitle": "Aulas da sua unidade nos próximos 7 dias.",
    "classes.empty": "Nenhuma aula programada nos próximos 7 dias.",
    "classes.seats": "{left} de {capacity} vagas livres",
    "classes.full": "Lotada · capacidade {capacity}",
    "classes.book": "Reservar",
    "classes.join_waitlist": "Entrar na lista de espera",
    "classes.cancel": "Cancelar reserva",
    "classes.leave_waitlist": "Sair da lista de espera",
    "classes.cancelled_class": "Aula cancelada",
    "classes.occupancy": "Ocupação da aula",
    "classes.roster": "Lista de presença e espera",
    "classes.roster_empty": "Ninguém reservou ainda.",
    "classes.area": "Local: {area}",
    "booking.confirmed": "Confirmada",
    "booking.waitlisted": "Lista de espera: posição {position}",
    "booking.waitlisted_short": "Lista de espera",
    "booking.cancelled": "Cancelada",
    "booking.done_confirmed": "Reserva confirmada: {title}.",
    "booking.done_waitlisted": "Você está na lista de espera de {title}, posição {position}.",
    "booking.done_cancelled": "Reserva cancelada: {title}.",
    "booking.confirm_cancel": "Cancelar a reserva de {title}?",
    "bookings.title": "Minhas reservas",
    "bookings.empty": "Você ainda não tem reservas.",
    "bookings.upcoming": "Próximas",
    "bookings.past": "Anteriores e canceladas",
    "visits.title": "Minhas visitas",
    "visits.empty": "Nenhuma visita registrada ainda.",
    "visits.open": "em andamento",
    "visits.count": "{n} visitas mostradas",
    "visits.more": "Mostrar mais visitas",
    "plan.title": "Meu plano",
    "plan.profile": "Meus dados",
    "plan.name": "Nome",
    "plan.email": "E-mail",
    "plan.phone": "Telefone",
    "plan.cpf": "CPF",
    "plan.contracts": "Contratos",
    "plan.none": "Nenhum contrato encontrado.",
    "plan.period": "{start} a {end}",
    "plan.price": "{price} por mês",
    "plan.status.active": "Ativo",
    "plan.status.ended": "Encerrado",
    "plan.status.cancelled": "Cancelado",
    "privacy.title": "Privacidade (LGPD)",
    "privacy.consent": "Autorizo a análise de imagens das câmeras (contagem de pessoas e postura) com meus dados",
    "privacy.consent_help": "Você pode retirar o consentimento a qualquer momento. Sem ele, suas imagens não são analisadas.",
    "privacy.consent_on": "Consentimento registrado.",
    "privacy.consent_off": "Consentimento retirado.",
    "privacy.export": "Baixar meus dados (JSON)",
    "privacy.export_help": "Tudo o que a rede guarda sobre você: cadastro, contratos, reservas, visitas, anotações e quem acessou seus dados.",
    "privacy.exported": "Arquivo gerado: {name}",
    "members.title": "Membros da unidade",
    "members.search": "Buscar por e-mail ou CPF",
    "members.search_help": "Busca exata (os dados pessoais são criptografados). Deixe vazio para listar todos.",
    "members.search_button": "Buscar",
    "members.clear": "Limpar",
    "members.empty": "Nenhum membro encontrado.",
    "members.col.name": "Nome",
    "members.col.email": "E-mail",
    "members.col.cpf": "CPF",
    "members.col.status": "Situação",
    "members.col.consent": "Câmeras",
    "members.status.active": "Ativo",
    "members.status.erased": "Excluído (LGPD)",
    "members.consent.yes": "Autorizado",
    "members.consent.no": "Não autorizado",
    "member.title": "Membro #{id}",
    "member.profile": "Dados pessoais",
    "member.book_title": "Reservar uma aula para este membro",
    "member.class": "Aula",
    "member.choose_class": "Escolha uma aula",
    "member.book": "Reservar",
    "member.booked": "{name}: {status} em {title}.",
    "member.bookings": "Reservas",
    "member.visits": "Visitas recentes",
    "member.since": "Membro desde {date}",
    "console.unit": "Unidade",
    "console.classes_title": "Aulas e ocupação",
    "occupancy.title": "Ocupação ao vivo",
    "occupancy.subtitle": "Pessoas presentes por área; atualiza a cada {s} segundos.",
    "occupancy.present": "{present} de {capacity} pessoas",
    "occupancy.sensor": "sensores estimam {n} pessoas",
    "occupancy.empty": "Esta unidade não tem áreas cadastradas.",
    "occupancy.level.low": "tranquilo",
    "occupancy.level.mid": "movimentado",
    "occupancy.level.high": "lotado",
  },
  "en": {
    "app.title": "gymchain",
    "app.skip": "Skip to content",
    "lang.label": "Language",
    "nav.logout": "Log out",
    "nav.classes": "Classes",
    "nav.bookings": "Bookings",
    "nav.visits": "Visits",
    "nav.plan": "Plan",
    "nav.privacy": "Privacy",
    "nav.members": "Members",
    "nav.occupancy": "Occupancy",
    "nav.portal": "Member portal",
    "nav.console": "Manager console",
    "login.title": "Log in",
    "login.intro": "Use the e-mail and password registered at your gym.",
    "login.email": "E-mail",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.busy": "Logging in…",
    "login.failed": "Could not log in: {detail}",
    "login.bad_credentials": "Wrong e-mail or password.",
    "common.loading": "Loading…",
    "common.retry": "Try again",
    "common.updated": "Updated at {time}",
    "common.none": "—",
    "common.prev": "Previous",
    "common.next": "Next",
    "common.page": "Page {n}",
    "common.close": "Close",
    "common.back": "Back",
    "common.minutes": "{n} min",
    "error.network": "Cannot reach the server. Check the network and try again.",
    "error.session": "Your session has expired. Please log in again.",
    "error.forbidden": "You are not allowed to do this: {detail}",
    "error.generic": "Error: {detail}",
    "error.rate": "Too many requests: {detail}",
    "error.request_id": "request id {id}",
    "classes.title": "Upcoming classes",
    "classes.subtitle": "Classes at your gym in the next 7 days.",
    "classes.empty": "No classes scheduled in the next 7 days.",
    "classes.seats": "{left} of {capacity} seats free",
    "classes.full": "Full · capacity {capacity}",
    "classes.book": "Book",
    "classes.join_waitlist": "Join the wait-list",
    "classes.cancel": "Cancel booking",
    "classes.leave_waitlist": "Leave the wait-list",
    "classes.cancelled_class": "Class cancelled",
    "classes.occupancy": "Class occupancy",
    "classes.roster": "Roster and wait-list",
    "classes.roster_empty": "Nobody has booked yet.",
    "classes.area": "Where: {area}",
    "booking.confirmed": "Confirmed",
    "booking.waitlisted": "Wait-list: position {position}",
    "booking.waitlisted_short": "Wait-list",
    "booking.cancelled": "Cancelled",
    "booking.done_confirmed": "Booking confirmed: {title}.",
    "booking.done_waitlisted": "You are on the wait-list for {title}, position {position}.",
    "booking.done_cancelled": "Booking cancelled: {title}.",
    "booking.confirm_cancel": "Cancel your booking for {title}?",
    "bookings.title": "My bookings",
    "bookings.empty": "You have no bookings yet.",
    "bookings.upcoming": "Upcoming",
    "bookings.past": "Past and cancelled",
    "visits.title": "My visits",
    "visits.empty": "No visits recorded yet.",
    "visits.open": "in progress",
    "visits.count": "{n} visits shown",
    "visits.more": "Show more visits",
    "plan.title": "My plan",
    "plan.profile": "My details",
    "plan.name": "Name",
    "plan.email": "E-mail",
    "plan.phone": "Phone",
    "plan.cpf": "CPF",
    "plan.contracts": "Contracts",
    "plan.none": "No contract found.",
    "plan.period": "{start} to {end}",
    "plan.price": "{price} per month",
    "plan.status.active": "Active",
    "plan.status.ended": "Ended",
    "plan.status.cancelled": "Cancelled",
    "privacy.title": "Privacy (LGPD)",
    "privacy.consent": "I allow camera analytics (people counting and posture) with my data",
    "privacy.consent_help": "You can withdraw consent at any time. Without it, your images are not analysed.",
    "privacy.consent_on": "Consent recorded.",
    "privacy.consent_off": "Consent withdrawn.",
    "privacy.export": "Download my data (JSON)",
    "privacy.export_help": "Everything the chain holds about you: profile, contracts, bookings, visits, notes and who accessed your data.",
    "privacy.exported": "File created: {name}",
    "members.title": "Members of the unit",
    "members.search": "Search by e-mail or CPF",
    "members.search_help": "Exact match (personal data is encrypted). Leave empty to list everyone.",
    "members.search_button": "Search",
    "members.clear": "Clear",
    "members.empty": "No member found.",
    "members.col.name": "Name",
    "members.col.email": "E-mail",
    "members.col.cpf": "CPF",
    "members.col.status": "Status",
    "members.col.consent": "Cameras",
    "members.status.active": "Active",
    "members.status.erased": "Erased (LGPD)",
    "members.consent.yes": "Allowed",
    "members.consent.no": "Not allowed",
    "member.title": "Member #{id}",
    "member.profile": "Personal details",
    "member.book_title": "Book a class for this member",
    "member.class": "Class",
    "member.choose_class": "Choose a class",
    "member.book": "Book",
    "member.booked": "{name}: {status} for {title}.",
    "member.bookings": "Bookings",
    "member.visits": "Recent visits",
    "member.since": "Member since {date}",
    "console.unit": "Unit",
    "console.classes_title": "Classes and occupancy",
    "occupancy.title": "Live occupancy",
    "occupancy.subtitle": "People present per area; refreshes every {s} seconds.",
    "occupancy.present": "{present} of {capacity} people",
    "occupancy.sensor": "sensors estimate {n} people",
    "occupancy.empty": "This unit has no areas.",
    "occupancy.level.low": "quiet",
    "occupancy.level.mid": "busy",
    "occupancy.level.high": "crowded",
  },
};

export const LANGUAGES = [["pt-BR", "Português"], ["en", "English"]];
const STORAGE_KEY = "gymchain.lang";
let current = DICTIONARIES[localStorage.getItem(STORAGE_KEY)] ? localStorage.getItem(STORAGE_KEY) : "pt-BR";

export function lang() {
  return current;
}

export function setLang(code) {
  if (!DICTIONARIES[code]) throw new Error(`unknown language ${code}`);
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  document.documentElement.lang = code;
}

export function t(key, params = {}) {
  const text = DICTIONARIES[current][key] ?? DICTIONARIES["pt-BR"][key];
  if (text === undefined) {
    console.warn(`missing string ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function keys(code) {
  return Object.keys(DICTIONARIES[code] || {});
}

export function formatDateTime(value) {
  return new Intl.DateTimeFormat(current, { weekday: "short", day: "2-digit", month: "short", hour: "2-digit",
    minute: "2-digit" }).format(new Date(value));
}

export function formatDay(value) {
  const text = new Intl.DateTimeFormat(current, { weekday: "long", day: "numeric", month: "long" })
    .format(new Date(value));
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function formatDate(value) {
  // a bare date (2026-12-07) is a calendar day, not UTC midnight: read it at local noon so no zone shifts it
  const when = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T12:00:00` : value;
  return new Intl.DateTimeFormat(current, { day: "2-digit", month: "2-digit", year: "numeric" })
    .format(new Date(when));
}

export function formatTime(value) {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit" }).format(new Date(value));
}

export function formatClock(value) {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .format(new Date(value));
}

export function formatMoney(cents) {
  return new Intl.NumberFormat(current, { style: "currency", currency: "BRL" }).format(cents / 100);
}
