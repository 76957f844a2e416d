// The operator console: a framework-free page over the public /v1 API.
//
// The API key lives in sessionStorage only (this tab, until it closes) and goes with every
// request as a Bearer token, so the key's scopes apply here exactly as they do to curl.
// Pages are drawn with DOM calls (never innerHTML), so tenant data cannot inject markup.

const KEY_STORAGE = "tenant-registry.api-key";
const COMMANDS = ["activate", "start-grace", "pause", "cancel", "reactivate", "delete", "restore"];
const LABELS = {
  activate: "Activate",
  "start-grace": "Start grace period",
  pause: "Pause",
  cancel: "Cancel",
  reactivate: "Reactivate",
  delete: "Delete",
  restore: "Restore",
};
// SPEC §2.1: the commands that change a tenant from each status (not deleted).
const FROM_STATUS = {
  trial: ["activate", "pause", "cancel"],
  active: ["start-grace", "pause", "cancel"],
  grace: ["activate", "pause", "cancel"],
  paused: ["activate", "cancel"],
  cancelled: ["reactivate", "delete"],
};
const STATUSES = Object.keys(FROM_STATUS);
const SCOPES = ["tenants:read", "tenants:write", "tenants:delete", "admin"];
const EVENT_TYPES = [
  "TenantRegistered", "TenantActivated", "TenantGracePeriodStarted", "TenantPaused",
  "TenantCancelled", "TenantReactivated", "TenantDeleted", "TenantRestored",
  "TenantProfileUpdated", "TenantTrialExpired", "TenantGraceExpired", "TenantPurged",
];
const DATES = [
  ["created_at", "Registered"],
  ["updated_at", "Last change"],
  ["trial_ends_at", "Trial ends"],
  ["grace_ends_at", "Grace ends"],
  ["activated_at", "Activated"],
  ["paused_at", "Paused"],
  ["cancelled_at", "Cancelled"],
  ["deleted_at", "Deleted"],
  ["purge_after", "Purged after"],
];

const state = { key: null, me: null, position: 0, pages: new Map() };
const main = () => document.getElementById("main");
// Draw the page: replaceChildren would print a skipped (null) part as "null".
const show = (...parts) => main().replaceChildren(...parts.filter((part) => part));

// ---------------------------------------------------------------- small helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "value") el.value = value;
    else if (name === "checked") el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function field(id, label, input, hint) {
  input.id = id;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function announce(text) {
  const region = document.getElementById("status");
  region.textContent = "";
  // A fresh text node makes screen readers read it again even when it repeats.
  setTimeout(() => { region.textContent = text; }, 30);
}

function may(scope) {
  const scopes = state.me ? state.me.scopes : [];
  return scopes.includes("admin") || scopes.includes(scope);
}

const scopeOf = (command) => (command === "delete" || command === "restore"
  ? "tenants:delete" : "tenants:write");

function allowedFrom(tenant, now = Date.now()) {
  if (tenant.deleted_at) {
    return tenant.purge_after && Date.parse(tenant.purge_after) > now ? ["restore"] : [];
  }
  return FROM_STATUS[tenant.status] || [];
}

function when(iso, timeZone) {
  if (!iso) return "—";
  const options = {
    timeZone, year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  };
  try {
    return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat("en-GB", { ...options, timeZone: "UTC" }).format(new Date(iso));
  }
}

const timeEl = (iso, timeZone) => h("time", { datetime: iso }, when(iso, timeZone));

function badge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

function eventLabel(type) {
  const words = type.replace(/^Tenant/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// ---------------------------------------------------------------- the API

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, { body, headers = {} } = {}) {
  const init = {
    method,
    headers: { Authorization: `Bearer ${state.key}`, Accept: "application/json", ...headers },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem(0, {
      title: "The registry cannot be reached",
      detail: "Check the network connection and try again.",
    });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  const position = Number(response.headers.get("X-Event-Position"));
  if (position > state.position) state.position = position;
  if (!response.ok) {
    const problem = new Problem(response.status, data || { title: response.statusText });
    if (response.status === 401 && state.me) signOut("Your API key is unknown or was revoked.");
    throw problem;
  }
  return { data, headers: response.headers, status: response.status };
}

// Reads wait for the read side to include this tab's own last command.
const fresh = (path) => (state.position
  ? `${path}${path.includes("?") ? "&" : "?"}min_position=${state.position}` : path);

function problemBox(problem, ...more) {
  const body = problem.body || {};
  const lines = [];
  if (problem.status === 403) {
    lines.push(h("p", {},
      `Your API key “${state.me ? state.me.name : ""}” is not allowed to do this. `,
      "Ask an administrator for a key with the scope it needs."));
  }
  if (Array.isArray(body.errors)) {
    lines.push(h("ul", {}, body.errors.map((e) => h("li", {}, `${e.field}: ${e.message}`))));
  }
  return h("div", { class: "problem", role: "alert" },
    h("p", { class: "problem-title" }, body.title || "Something went wrong"),
    body.detail ? h("p", { class: "problem-detail" }, body.detail) : null,
    lines, more);
}

// ---------------------------------------------------------------- sign-in

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  state.me = null;
  state.position = 0;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  renderSignIn(message);
}

function signedIn(me) {
  state.me = me;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-name").textContent = `Key ${me.name} (${me.scopes.join(", ")})`;
  for (const el of document.querySelectorAll(".admin-only")) el.hidden = !may("admin");
  detectWebhooks();
}

function renderSignIn(message) {
  const input = h("input", { type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const notice = h("div", { class: "notice-slot" },
    message ? h("div", { class: "problem", role: "alert" }, h("p", {}, message)) : null);
  const form = h("form", { class: "card narrow", "aria-labelledby": "page-title" },
    field("api-key", "API key", input,
      "Kept in this browser tab only, and sent with every request to the /v1 API."),
    h("button", { type: "submit" }, "Sign in"),
    notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    state.key = input.value.trim();
    try {
      const { data } = await api("GET", "/v1/api-keys/current");
      sessionStorage.setItem(KEY_STORAGE, state.key);
      signedIn(data);
      if (!location.hash || location.hash === "#/") location.hash = "#/tenants";
      else route();
    } catch (problem) {
      state.key = null;
      const text = problem.status === 401 ? "That API key is unknown or was revoked." : null;
      notice.replaceChildren(text
        ? h("div", { class: "problem", role: "alert" }, h("p", {}, text))
        : problemBox(problem));
    }
  });
  show(h("h1", { id: "page-title", tabindex: "-1" }, "Sign in"), form);
  input.focus();
}

// ---------------------------------------------------------------- tenants: list

function listQuery(params) {
  const query = new URLSearchParams();
  for (const name of ["q", "status", "plan"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  if (params.get("include_deleted") === "true") query.set("include_deleted", "true");
  return query;
}

async function renderTenants(params) {
  const filters = listQuery(params);
  const filterKey = filters.toString();
  const cursor = params.get("cursor") || "";
  const q = h("input", { type: "search", value: filters.get("q") || "" });
  const status = h("select", {},
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, s)));
  status.value = filters.get("status") || "";
  const plan = h("input", { type: "text", value: filters.get("plan") || "", pattern: "[a-z0-9_\\-]{1,40}" });
  const deleted = h("input", { type: "checkbox", checked: filters.get("include_deleted") === "true" });
  deleted.id = "f-deleted";
  const form = h("form", { role: "search", class: "filters", "aria-label": "Find tenants" },
    field("f-q", "Name or slug", q),
    field("f-status", "Status", status),
    field("f-plan", "Plan", plan),
    h("div", { class: "field check" }, deleted, h("label", { for: "f-deleted" }, "Include deleted")),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (q.value.trim()) next.set("q", q.value.trim());
    if (status.value) next.set("status", status.value);
    if (plan.value.trim()) next.set("plan", plan.value.trim());
    if (deleted.checked) next.set("include_deleted", "true");
    const target = `#/tenants?${next}`;
    if (location.hash === target) route(); else location.hash = target;
  });
  const results = h("section", { "aria-labelledby": "results-title", class: "results" },
    h("h2", { id: "results-title" }, "Results"), h("p", {}, "Loading…"));
  show(
    h("h1", { id: "page-title", tabindex: "-1" }, "Tenants"),
    form,
    may("tenants:write") ? registerForm() : null,
    results);

  const query = new URLSearchParams(filters);
  query.set("limit", "20");
  if (cursor) query.set("cursor", cursor);
  try {
    const { data } = await api("GET", fresh(`/v1/tenants?${query}`));
    drawResults(results, data, filters, filterKey, cursor);
  } catch (problem) {
    results.replaceChildren(h("h2", { id: "results-title" }, "Results"), problemBox(problem));
  }
}

function drawResults(results, page, filters, filterKey, cursor) {
  const trail = state.pages.get(filterKey) || [];
  if (!cursor) trail.length = 0;
  state.pages.set(filterKey, trail);
  const link = (c) => {
    const query = new URLSearchParams(filters);
    if (c) query.set("cursor", c);
    return `#/tenants?${query}`;
  };
  const rows = page.data.map((t) => h("tr", {},
    h("td", {}, h("a", { href: `#/tenants/${t.id}` }, t.name)),
    h("td", {}, h("code", {}, t.slug)),
    h("td", {}, badge(t.status), t.deleted_at ? [" ", h("span", { class: "badge deleted" }, "deleted")] : null),
    h("td", { class: "wide" }, t.plan),
    h("td", { class: "wide" }, timeEl(t.created_at, "UTC"))));
  const table = rows.length
    ? h("table", {},
      h("caption", { class: "visually-hidden" }, "Tenants, newest first"),
      h("thead", {}, h("tr", {},
        ["Name", "Slug", "Status"].map((c) => h("th", { scope: "col" }, c)),
        ["Plan", "Registered (UTC)"].map((c) => h("th", { scope: "col", class: "wide" }, c)))),
      h("tbody", {}, rows))
    : h("p", {}, "No tenant matches.");
  const previous = trail.length
    ? h("a", { class: "button secondary", href: link(trail[trail.length - 1]), onclick: () => { trail.pop(); } }, "Previous page")
    : null;
  const next = page.next_cursor
    ? h("a", { class: "button secondary", href: link(page.next_cursor), onclick: () => { trail.push(cursor); } }, "Next page")
    : null;
  results.replaceChildren(
    h("h2", { id: "results-title" }, "Results"),
    table,
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, next));
}

function registerForm() {
  const inputs = {
    slug: h("input", { type: "text", required: true, pattern: "[a-z0-9][a-z0-9\\-]{1,61}[a-z0-9]", autocomplete: "off" }),
    name: h("input", { type: "text", required: true, maxlength: "200", autocomplete: "off" }),
    plan: h("input", { type: "text", placeholder: "standard", autocomplete: "off" }),
    timezone: h("input", { type: "text", placeholder: "Asia/Jerusalem", autocomplete: "off" }),
    contact_email: h("input", { type: "email", autocomplete: "off" }),
    trial_days: h("input", { type: "number", min: "1", max: "90", inputmode: "numeric" }),
  };
  const out = h("div", { class: "notice-slot" });
  const form = h("form", { class: "grid" },
    field("r-slug", "Slug", inputs.slug, "3–63 lower-case letters, digits and hyphens; never changes."),
    field("r-name", "Name", inputs.name),
    field("r-plan", "Plan", inputs.plan),
    field("r-timezone", "Time zone", inputs.timezone),
    field("r-email", "Contact e-mail", inputs.contact_email),
    field("r-trial", "Trial days", inputs.trial_days),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Register")),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, input] of Object.entries(inputs)) {
      const value = input.value.trim();
      if (value) body[name] = name === "trial_days" ? Number(value) : value;
    }
    try {
      const { data } = await api("POST", "/v1/tenants",
        { body, headers: { "Idempotency-Key": randomKey() } });
      announce(`Registered ${data.name}.`);
      location.hash = `#/tenants/${data.id}`;
    } catch (problem) {
      out.replaceChildren(problemBox(problem));
    }
  });
  return h("details", { class: "card" }, h("summary", {}, "Register a tenant"), form);
}

// ---------------------------------------------------------------- tenants: one

async function renderTenant(id) {
  show(h("h1", { id: "page-title", tabindex: "-1" }, "Tenant"), h("p", {}, "Loading…"));
  let tenant;
  try {
    ({ data: tenant } = await api("GET", fresh(`/v1/tenants/${encodeURIComponent(id)}`)));
  } catch (problem) {
    const title = problem.status === 410 ? "Purged tenant" : "Tenant";
    const words = problem.status === 410
      ? h("p", { class: "purged" }, "This tenant was purged",
        problem.body.purged_at ? [" on ", timeEl(problem.body.purged_at, "UTC")] : null,
        ": its data has been erased for good and only a tombstone remains.")
      : problemBox(problem);
    show(h("h1", { id: "page-title", tabindex: "-1" }, title), words, backLink());
    return;
  }
  await drawTenant(tenant);
}

const backLink = () => h("p", {}, h("a", { href: "#/tenants" }, "← All tenants"));

async function drawTenant(tenant, notice) {
  const zone = tenant.timezone;
  const history = h("section", { "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "History"), h("p", {}, "Loading…"));
  show(
    backLink(),
    h("h1", { id: "page-title", tabindex: "-1" }, tenant.name, " ", badge(tenant.status),
      tenant.deleted_at ? [" ", h("span", { class: "badge deleted" }, "deleted")] : null),
    notice || null,
    h("div", { class: "columns" },
      h("div", {}, detailsSection(tenant), datesSection(tenant, zone)),
      h("div", {}, actionsSection(tenant), profileSection(tenant))),
    history);
  loadHistory(history, tenant);
}

function detailsSection(tenant) {
  const rows = [
    ["Id", h("code", {}, tenant.id)],
    ["Slug", h("code", {}, tenant.slug)],
    ["Status", [badge(tenant.status), tenant.deleted_at ? " (deleted)" : ""]],
    ["Plan", tenant.plan],
    ["Time zone", tenant.timezone],
    ["Contact e-mail", tenant.contact_email || "—"],
    ["Metadata", h("code", {}, JSON.stringify(tenant.metadata || {}))],
    ["Version", String(tenant.version)],
  ];
  return h("section", { class: "card", "aria-labelledby": "details-title" },
    h("h2", { id: "details-title" }, "Details"),
    h("dl", {}, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])));
}

function datesSection(tenant, zone) {
  const rows = DATES.filter(([name]) => tenant[name]).map(([name, label]) => h("tr", {},
    h("th", { scope: "row" }, label),
    h("td", {}, timeEl(tenant[name], zone)),
    h("td", {}, timeEl(tenant[name], "UTC"))));
  return h("section", { class: "card", "aria-labelledby": "dates-title" },
    h("h2", { id: "dates-title" }, "Dates"),
    h("table", { class: "dates" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "What")),
        h("th", { scope: "col" }, `Tenant's time (${zone})`),
        h("th", { scope: "col" }, "UTC"))),
      h("tbody", {}, rows)));
}

function actionsSection(tenant) {
  const section = h("section", { class: "card", "aria-labelledby": "actions-title" },
    h("h2", { id: "actions-title" }, "Commands"));
  if (!may("tenants:write") && !may("tenants:delete")) {
    section.append(h("p", {}, "Your API key can only read: commands are not available."));
    return section;
  }
  const reason = h("textarea", { rows: "2", maxlength: "500" });
  const buttons = h("div", { class: "buttons", role: "group", "aria-label": "Allowed commands" });
  const out = h("div", { class: "notice-slot" });
  const draw = (allowed) => {
    const usable = COMMANDS.filter((c) => allowed.includes(c) && may(scopeOf(c)));
    buttons.replaceChildren(...usable.map((command) => h("button", {
      type: "button",
      class: command === "delete" || command === "cancel" ? "danger" : "",
      "data-command": command,
      onclick: () => (command === "delete" || command === "restore"
        ? confirmCommand(tenant, command, reason, out, buttons, draw)
        : runCommand(tenant, command, reason, out, draw)),
    }, LABELS[command])));
    if (!usable.length) buttons.append(h("p", {}, "No command is allowed from this state."));
  };
  draw(allowedFrom(tenant));
  section.append(field("reason", "Reason (optional, recorded on the event)", reason), buttons, out);
  return section;
}

function confirmCommand(tenant, command, reason, out, buttons, draw) {
  const question = command === "delete"
    ? `Delete ${tenant.name}? It leaves the lists, and its data is purged for good once its retention ends.`
    : `Restore ${tenant.name}? It comes back as cancelled.`;
  const keep = h("button", { type: "button", class: "secondary" }, "Keep as it is");
  const yes = h("button", { type: "button", class: command === "delete" ? "danger" : "" },
    `Yes, ${command}`);
  const box = h("div", { class: "confirm", role: "alertdialog", "aria-labelledby": "confirm-text" },
    h("p", { id: "confirm-text" }, question), yes, " ", keep);
  const close = () => { box.remove(); buttons.querySelector(`[data-command="${command}"]`)?.focus(); };
  keep.addEventListener("click", close);
  box.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
  yes.addEventListener("click", () => { box.remove(); runCommand(tenant, command, reason, out, draw); });
  out.replaceChildren(box);
  yes.focus();
}

async function runCommand(tenant, command, reason, out, draw) {
  const text = reason.value.trim();
  const path = command === "delete"
    ? `/v1/tenants/${tenant.id}` : `/v1/tenants/${tenant.id}/${command}`;
  try {
    const { data } = await api(command === "delete" ? "DELETE" : "POST", path, {
      body: text ? { reason: text } : undefined,
      headers: { "Idempotency-Key": randomKey() },
    });
    announce(`${LABELS[command]}: done. The tenant is ${data.status}${data.deleted_at ? " and deleted" : ""}.`);
    await drawTenant(data, h("p", { class: "notice" }, `${LABELS[command]}: done.`));
    document.getElementById("actions-title").focus?.();
  } catch (problem) {
    const body = problem.body || {};
    if (problem.status === 409 && Array.isArray(body.allowed)) {
      // The server knows the tenant's state better than this page: trust its list.
      draw(body.allowed);
      const names = body.allowed.map((c) => LABELS[c] || c);
      out.replaceChildren(problemBox(problem,
        h("p", {}, `The tenant is ${body.current_status} now. Allowed now: `,
          names.length ? names.join(", ") : "nothing", ".")));
    } else {
      out.replaceChildren(problemBox(problem));
    }
  }
}

function profileSection(tenant) {
  if (!may("tenants:write") || tenant.deleted_at) return null;
  const inputs = {
    name: h("input", { type: "text", required: true, maxlength: "200", value: tenant.name }),
    plan: h("input", { type: "text", required: true, value: tenant.plan }),
    timezone: h("input", { type: "text", required: true, value: tenant.timezone }),
    contact_email: h("input", { type: "email", value: tenant.contact_email || "" }),
    metadata: h("textarea", { rows: "3", value: JSON.stringify(tenant.metadata || {}) }),
  };
  const out = h("div", { class: "notice-slot" });
  const form = h("form", {},
    field("p-name", "Name", inputs.name),
    field("p-plan", "Plan", inputs.plan),
    field("p-timezone", "Time zone", inputs.timezone),
    field("p-email", "Contact e-mail", inputs.contact_email),
    field("p-metadata", "Metadata (JSON object)", inputs.metadata),
    h("button", { type: "submit" }, "Save profile"),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    for (const [name, input] of Object.entries(inputs)) {
      const value = input.value.trim();
      if (name === "metadata") {
        let parsed;
        try { parsed = JSON.parse(value || "{}"); } catch {
          out.replaceChildren(problemBox(new Problem(422, {
            title: "The request is not valid", detail: "Metadata must be a JSON object.",
          })));
          return;
        }
        if (JSON.stringify(parsed) !== JSON.stringify(tenant.metadata || {})) changes.metadata = parsed;
      } else if (name === "contact_email") {
        if (value !== (tenant.contact_email || "")) changes.contact_email = value || null;
      } else if (value !== tenant[name]) {
        changes[name] = value;
      }
    }
    if (!Object.keys(changes).length) {
      out.replaceChildren(h("p", { class: "notice" }, "Nothing changed."));
      return;
    }
    try {
      const { data } = await api("PATCH", `/v1/tenants/${tenant.id}`, {
        body: changes,
        headers: { "If-Match": `"${tenant.version}"`, "Idempotency-Key": randomKey() },
      });
      announce("Profile saved.");
      await drawTenant(data, h("p", { class: "notice" }, "Profile saved."));
    } catch (problem) {
      if (problem.status === 412) {
        const reload = h("button", { type: "button", onclick: () => renderTenant(tenant.id) },
          "Reload the tenant");
        out.replaceChildren(h("div", { class: "problem", role: "alert" },
          h("p", { class: "problem-title" }, "Someone else changed this tenant since you opened it."),
          h("p", {}, "Your edits were not saved. Reload to see the latest version, then edit again."),
          reload));
        reload.focus();
      } else {
        out.replaceChildren(problemBox(problem));
      }
    }
  });
  return h("section", { class: "card", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title" }, "Profile"), form);
}

async function loadHistory(section, tenant) {
  const title = h("h2", { id: "history-title" }, "History");
  try {
    const { data } = await api("GET", `/v1/tenants/${tenant.id}/events`);
    const items = data.data.slice().reverse().map((e) => h("li", { class: "event" },
      h("p", { class: "event-head" },
        h("strong", {}, eventLabel(e.type)), " by ", h("span", { class: "actor" }, e.actor)),
      h("p", { class: "event-time" }, timeEl(e.occurred_at, tenant.timezone),
        " · ", timeEl(e.occurred_at, "UTC")),
      e.reason ? h("p", { class: "event-reason" }, "Reason: ", e.reason) : null,
      e.correlation_id
        ? h("p", { class: "event-data" }, "Correlation id: ", h("code", {}, e.correlation_id))
        : null,
      e.type === "TenantProfileUpdated"
        ? h("p", { class: "event-data" }, "Changed: ", Object.keys(e.data || {}).join(", "))
        : null));
    section.replaceChildren(title,
      h("p", { class: "hint" }, "Newest first."),
      h("ol", { class: "timeline", reversed: true }, items));
  } catch (problem) {
    section.replaceChildren(title, problemBox(problem));
  }
}

// ---------------------------------------------------------------- admin: keys, projections

async function renderKeys() {
  const list = h("section", { "aria-labelledby": "keys-title" },
    h("h2", { id: "keys-title" }, "Keys"), h("p", {}, "Loading…"));
  const name = h("input", { type: "text", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off" });
  const boxes = SCOPES.map((scope) => h("input", { type: "checkbox", value: scope, id: `scope-${scope.replace(":", "-")}` }));
  const out = h("div", { class: "notice-slot" });
  const form = h("form", { class: "card" },
    h("h2", {}, "Create a key"),
    field("k-name", "Name", name, "Events caused with the key record key:<name>."),
    h("fieldset", {}, h("legend", {}, "Scopes"),
      boxes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, box.value)))),
    h("button", { type: "submit" }, "Create key"),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scopes = boxes.filter((b) => b.checked).map((b) => b.value);
    try {
      const { data } = await api("POST", "/v1/api-keys", { body: { name: name.value.trim(), scopes } });
      const secret = h("input", { type: "text", readonly: true, value: data.secret, class: "secret" });
      out.replaceChildren(h("div", { class: "notice", role: "status" },
        h("p", {}, h("strong", {}, "Copy this secret now: it is shown only once.")),
        field("k-secret", `Secret of ${data.name}`, secret)));
      secret.focus();
      secret.select();
      name.value = "";
      for (const box of boxes) box.checked = false;
      await loadKeys(list);
    } catch (problem) {
      out.replaceChildren(problemBox(problem));
    }
  });
  show(h("h1", { id: "page-title", tabindex: "-1" }, "API keys"), form, list);
  await loadKeys(list);
}

async function loadKeys(section) {
  const title = h("h2", { id: "keys-title" }, "Keys");
  try {
    const { data } = await api("GET", "/v1/api-keys");
    const rows = data.data.map((key) => {
      const cell = h("td", {});
      if (!key.revoked_at) {
        cell.append(h("button", {
          type: "button", class: "danger small", "aria-label": `Revoke ${key.name}`,
          onclick: () => confirmRevoke(key, cell, section),
        }, "Revoke"));
      }
      return h("tr", {},
        h("td", {}, key.name),
        h("td", { class: "wide" }, h("code", {}, key.key_id)),
        h("td", {}, key.scopes.join(", ")),
        h("td", { class: "wide" }, timeEl(key.created_at, "UTC")),
        h("td", {}, key.revoked_at ? ["revoked ", timeEl(key.revoked_at, "UTC")] : "active"),
        cell);
    });
    section.replaceChildren(title, h("table", {},
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "wide" }, "Key id"),
        h("th", { scope: "col" }, "Scopes"), h("th", { scope: "col", class: "wide" }, "Created (UTC)"),
        h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      h("tbody", {}, rows)));
  } catch (problem) {
    section.replaceChildren(title, problemBox(problem));
  }
}

function confirmRevoke(key, cell, section) {
  const yes = h("button", { type: "button", class: "danger small" }, `Yes, revoke ${key.name}`);
  const keep = h("button", { type: "button", class: "secondary small" }, "Keep");
  cell.replaceChildren(h("span", { class: "visually-hidden" }, "Requests with this key will fail within a second. "), yes, " ", keep);
  keep.addEventListener("click", () => loadKeys(section));
  yes.addEventListener("click", async () => {
    try {
      await api("DELETE", `/v1/api-keys/${encodeURIComponent(key.name)}`);
      announce(`Revoked ${key.name}.`);
      await loadKeys(section);
    } catch (problem) {
      cell.replaceChildren(problemBox(problem));
    }
  });
  yes.focus();
}

async function renderProjections() {
  const section = h("section", { "aria-labelledby": "page-title" }, h("p", {}, "Loading…"));
  show(h("h1", { id: "page-title", tabindex: "-1" }, "Projections"),
    h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => route() }, "Refresh")),
    section);
  try {
    const { data } = await api("GET", "/v1/projections");
    const cols = ["Name", "State", "Position", "Head", "Lag (events)", "Lag (s)", "Last error"];
    section.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, data.data.map((p) => h("tr", {},
        h("td", {}, p.name), h("td", {}, h("span", { class: `badge state-${p.state}` }, p.state)),
        h("td", {}, String(p.position)), h("td", {}, String(p.head)),
        h("td", {}, String(p.lag_events)), h("td", {}, p.lag_seconds.toFixed(1)),
        h("td", {}, p.last_error || "—"))))));
  } catch (problem) {
    section.replaceChildren(problemBox(problem));
  }
}

// ---------------------------------------------------------------- admin: webhooks (SPEC §10)
//
// Shown only when this server has the webhooks API (GET /v1/webhooks does not answer 404).

async function detectWebhooks() {
  const item = document.getElementById("nav-webhooks");
  item.hidden = true;
  if (!may("admin")) return;
  try {
    await api("GET", "/v1/webhooks");
    item.hidden = false;
  } catch {
    item.hidden = true;
  }
}

function secretNotice(label, secret) {
  const input = h("input", { type: "text", readonly: true, value: secret, class: "secret" });
  const box = h("div", { class: "notice", role: "status" },
    h("p", {}, h("strong", {}, "Copy this secret now: it is shown only once.")),
    field(`secret-${randomKey().slice(0, 8)}`, label, input));
  setTimeout(() => { input.focus(); input.select(); }, 0);
  return box;
}

async function renderWebhooks() {
  const list = h("section", { "aria-labelledby": "hooks-title" },
    h("h2", { id: "hooks-title" }, "Endpoints"), h("p", {}, "Loading…"));
  const url = h("input", { type: "url", required: true, autocomplete: "off", placeholder: "https://" });
  const description = h("input", { type: "text", maxlength: "500", autocomplete: "off" });
  const boxes = EVENT_TYPES.map((t) => h("input", { type: "checkbox", value: t, id: `type-${t}` }));
  const out = h("div", { class: "notice-slot" });
  const form = h("form", { class: "card" },
    h("h2", {}, "Add an endpoint"),
    field("w-url", "URL", url, "http(s); it receives signed POSTs (Standard Webhooks)."),
    field("w-description", "Description", description),
    h("fieldset", {}, h("legend", {}, "Event types (none ticked: all)"),
      h("div", { class: "types" }, boxes.map((box) => h("div", { class: "check" }, box,
        h("label", { for: box.id }, eventLabel(box.value)))))),
    h("button", { type: "submit" }, "Add endpoint"),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      url: url.value.trim(),
      description: description.value.trim(),
      event_types: boxes.filter((b) => b.checked).map((b) => b.value),
    };
    try {
      const { data } = await api("POST", "/v1/webhooks", { body });
      out.replaceChildren(secretNotice(`Signing secret of ${data.url}`, data.secret));
      url.value = "";
      description.value = "";
      for (const box of boxes) box.checked = false;
      await loadWebhooks(list);
    } catch (problem) {
      out.replaceChildren(problemBox(problem));
    }
  });
  show(h("h1", { id: "page-title", tabindex: "-1" }, "Webhooks"), form, list);
  await loadWebhooks(list);
}

async function loadWebhooks(section) {
  const title = h("h2", { id: "hooks-title" }, "Endpoints");
  try {
    const { data } = await api("GET", "/v1/webhooks");
    const rows = data.data.map((w) => h("tr", {},
      h("td", {}, h("a", { href: `#/webhooks/${w.id}` }, w.url)),
      h("td", { class: "wide" }, w.description || "—"),
      h("td", {}, w.event_types.length ? w.event_types.map(eventLabel).join(", ") : "all"),
      h("td", {}, w.enabled ? "enabled" : "disabled")));
    section.replaceChildren(title, rows.length
      ? h("table", {},
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "URL"), h("th", { scope: "col", class: "wide" }, "Description"),
          h("th", { scope: "col" }, "Events"), h("th", { scope: "col" }, "State"))),
        h("tbody", {}, rows))
      : h("p", {}, "No endpoint yet."));
  } catch (problem) {
    section.replaceChildren(title, problemBox(problem));
  }
}

async function renderWebhook(id, params) {
  let hook;
  try {
    ({ data: hook } = await api("GET", `/v1/webhooks/${encodeURIComponent(id)}`));
  } catch (problem) {
    show(h("h1", { id: "page-title", tabindex: "-1" }, "Webhook endpoint"), problemBox(problem),
      h("p", {}, h("a", { href: "#/webhooks" }, "← All endpoints")));
    return;
  }
  const out = h("div", { class: "notice-slot" });
  const toggle = h("button", { type: "button", class: "secondary" },
    hook.enabled ? "Disable" : "Enable");
  toggle.addEventListener("click", async () => {
    try {
      await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { enabled: !hook.enabled } });
      announce(hook.enabled ? "Endpoint disabled." : "Endpoint enabled.");
      await renderWebhook(hook.id, params);
    } catch (problem) { out.replaceChildren(problemBox(problem)); }
  });
  const rotate = h("button", { type: "button", class: "secondary" }, "Rotate secret");
  rotate.addEventListener("click", () => confirmThen(out, rotate,
    "Rotate the signing secret? The old one keeps signing beside the new one for 24 hours.",
    "Yes, rotate", async () => {
      const { data } = await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`);
      out.replaceChildren(secretNotice(`New signing secret of ${hook.url}`, data.secret));
    }));
  const remove = h("button", { type: "button", class: "danger" }, "Delete endpoint");
  remove.addEventListener("click", () => confirmThen(out, remove,
    `Delete the endpoint ${hook.url}? Nothing more is delivered to it.`,
    "Yes, delete", async () => {
      await api("DELETE", `/v1/webhooks/${hook.id}`);
      announce("Endpoint deleted.");
      location.hash = "#/webhooks";
    }));
  const after = h("input", { type: "number", min: "0", value: "0", inputmode: "numeric" });
  const replay = h("form", { class: "inline" },
    field("w-after", "Replay every matching event after position", after),
    h("button", { type: "submit", class: "secondary" }, "Replay"));
  replay.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { data } = await api("POST", `/v1/webhooks/${hook.id}/replay`,
        { body: { after: Number(after.value || 0) } });
      out.replaceChildren(h("p", { class: "notice" }, `Replaying ${data.replayed} event(s).`));
    } catch (problem) { out.replaceChildren(problemBox(problem)); }
  });
  const deliveries = h("section", { "aria-labelledby": "deliveries-title" },
    h("h2", { id: "deliveries-title" }, "Deliveries"), h("p", {}, "Loading…"));
  show(
    h("p", {}, h("a", { href: "#/webhooks" }, "← All endpoints")),
    h("h1", { id: "page-title", tabindex: "-1" }, "Webhook endpoint"),
    h("section", { class: "card", "aria-labelledby": "hook-title" },
      h("h2", { id: "hook-title" }, hook.url),
      h("dl", {},
        h("dt", {}, "Id"), h("dd", {}, h("code", {}, hook.id)),
        h("dt", {}, "Description"), h("dd", {}, hook.description || "—"),
        h("dt", {}, "Events"), h("dd", {}, hook.event_types.length ? hook.event_types.map(eventLabel).join(", ") : "all"),
        h("dt", {}, "State"), h("dd", {}, hook.enabled ? "enabled" : "disabled"),
        h("dt", {}, "Created"), h("dd", {}, timeEl(hook.created_at, "UTC")),
        hook.previous_secret_expires_at
          ? [h("dt", {}, "Old secret signs until"), h("dd", {}, timeEl(hook.previous_secret_expires_at, "UTC"))]
          : null),
      h("div", { class: "buttons" }, toggle, rotate, remove),
      replay,
      out),
    deliveries);
  await loadDeliveries(deliveries, hook, params);
}

function confirmThen(out, opener, question, yesText, action) {
  const yes = h("button", { type: "button" }, yesText);
  const keep = h("button", { type: "button", class: "secondary" }, "Keep as it is");
  const box = h("div", { class: "confirm", role: "alertdialog", "aria-labelledby": "confirm-text" },
    h("p", { id: "confirm-text" }, question), yes, " ", keep);
  const close = () => { box.remove(); opener.focus(); };
  keep.addEventListener("click", close);
  box.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
  yes.addEventListener("click", async () => {
    box.remove();
    try { await action(); } catch (problem) { out.replaceChildren(problemBox(problem)); }
  });
  out.replaceChildren(box);
  yes.focus();
}

async function loadDeliveries(section, hook, params) {
  const title = h("h2", { id: "deliveries-title" }, "Deliveries");
  const status = h("select", {}, h("option", { value: "" }, "Any status"),
    ["pending", "delivered", "failed"].map((s) => h("option", { value: s }, s)));
  status.value = params.get("status") || "";
  const filter = h("form", { class: "inline", "aria-label": "Filter deliveries" },
    field("d-status", "Status", status), h("button", { type: "submit", class: "secondary" }, "Show"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/webhooks/${hook.id}${status.value ? `?status=${status.value}` : ""}`;
  });
  const query = new URLSearchParams({ limit: "50" });
  if (params.get("status")) query.set("status", params.get("status"));
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  try {
    const { data } = await api("GET", `/v1/webhooks/${hook.id}/deliveries?${query}`);
    const rows = data.data.map((d) => h("tr", {},
      h("td", {}, String(d.position)),
      h("td", {}, eventLabel(d.event_type)),
      h("td", { class: "wide" }, h("a", { href: `#/tenants/${d.tenant_id}` }, h("code", {}, d.tenant_id.slice(0, 8)))),
      h("td", {}, h("span", { class: `badge delivery-${d.status}` }, d.status)),
      h("td", {}, String(d.attempt)),
      h("td", {}, d.http_status ? `HTTP ${d.http_status}` : d.error || "—"),
      h("td", { class: "wide" }, d.duration_ms === null ? "—" : `${Math.round(d.duration_ms)} ms`),
      h("td", { class: "wide" }, d.next_attempt_at ? timeEl(d.next_attempt_at, "UTC") : "—")));
    const next = new URLSearchParams();
    if (params.get("status")) next.set("status", params.get("status"));
    if (data.next_cursor) next.set("cursor", data.next_cursor);
    section.replaceChildren(title, filter, rows.length
      ? h("table", {},
        h("thead", {}, h("tr", {}, ["Position", "Event"].map((c) => h("th", { scope: "col" }, c)),
          h("th", { scope: "col", class: "wide" }, "Tenant"),
          ["Status", "Attempts", "Last answer"].map((c) => h("th", { scope: "col" }, c)),
          ["Duration", "Next attempt (UTC)"].map((c) => h("th", { scope: "col", class: "wide" }, c)))),
        h("tbody", {}, rows))
      : h("p", {}, "No delivery yet."),
      data.next_cursor
        ? h("nav", { class: "pager", "aria-label": "Delivery pages" },
          h("a", { class: "button secondary", href: `#/webhooks/${hook.id}?${next}` }, "Older deliveries"))
        : null);
  } catch (problem) {
    section.replaceChildren(title, problemBox(problem));
  }
}

// ---------------------------------------------------------------- routing

async function route() {
  if (!state.key) { renderSignIn(); return; }
  const [path, query = ""] = (location.hash.slice(1) || "/tenants").split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query);
  if (parts[0] === "tenants" && parts[1]) await renderTenant(parts[1]);
  else if (parts[0] === "keys") await renderKeys();
  else if (parts[0] === "projections") await renderProjections();
  else if (parts[0] === "webhooks" && parts[1]) await renderWebhook(parts[1], params);
  else if (parts[0] === "webhooks") await renderWebhooks();
  else await renderTenants(params);
  document.getElementById("page-title")?.focus();
  document.title = `${document.getElementById("page-title")?.textContent || "Console"} · Tenant Registry`;
}

async function start() {
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    announce("Signed out.");
  });
  window.addEventListener("hashchange", route);
  state.key = sessionStorage.getItem(KEY_STORAGE);
  if (!state.key) { renderSignIn(); return; }
  try {
    const { data } = await api("GET", "/v1/api-keys/current");
    signedIn(data);
    await route();
  } catch (problem) {
    signOut(problem.status === 401 ? "Your API key is unknown or was revoked." : problem.message);
  }
}

start();
