// genlab API reference: renders /api/openapi.json (endpoints, parameters with their limits, request bodies and a
// "try it" form per endpoint). Plain JavaScript served by this server, so it works offline under the page's CSP.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function resolveRef(spec, schema) {
  let s = schema || {};
  while (s.$ref) s = s.$ref.split("/").slice(1).reduce((o, k) => o[k], spec);
  if (s.anyOf) {
    const real = s.anyOf.filter((x) => x.type !== "null");
    if (real.length === 1) s = {...resolveRef(spec, real[0]), ...s, anyOf: undefined, nullable: true};
  }
  return s;
}

function limits(s) {
  const out = [];
  if (s.enum) out.push(`one of ${s.enum.join(", ")}`);
  if (s.const !== undefined) out.push(`= ${s.const}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) out.push(`length ${s.minLength ?? 0}–${s.maxLength ?? "∞"}`);
  if (s.minItems !== undefined || s.maxItems !== undefined) out.push(`${s.minItems ?? 0}–${s.maxItems ?? "∞"} items`);
  if (s.pattern) out.push(`pattern ${s.pattern}`);
  return out.join("; ");
}

function fieldTable(spec, rows) {
  const table = el("table", "fields");
  table.innerHTML = "<tr><th>name</th><th>in</th><th>type</th><th>default</th><th>limits</th><th>description</th></tr>";
  for (const r of rows) {
    const s = resolveRef(spec, r.schema);
    const tr = table.insertRow();
    for (const v of [r.name + (r.required ? " *" : ""), r.where, s.type || (s.enum ? "enum" : ""),
      s.default === undefined ? "" : JSON.stringify(s.default), limits(s), r.description || s.description || ""]) {
      tr.insertCell().textContent = v;
    }
  }
  return table;
}

function bodyRows(spec, op) {
  const content = op.requestBody && op.requestBody.content;
  if (!content || !content["application/json"]) return [];
  const schema = resolveRef(spec, content["application/json"].schema);
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, s]) => (
    {name, where: "body", schema: s, required: required.has(name)}));
}

function example(spec, rows) {
  const out = {};
  for (const r of rows) {
    const s = resolveRef(spec, r.schema);
    if (r.required) out[r.name] = r.name === "snapshot" ? "pretrained:mnist-ddpm" : s.default ?? "";
    else if (s.default !== undefined && s.default !== null) out[r.name] = s.default;
  }
  return JSON.stringify(out, null, 1);
}

function tryIt(method, path, rows, spec) {
  const box = el("div", "try");
  const body = rows.length ? el("textarea") : null;
  const pathParams = (path.match(/{[^}]+}/g) || []).map((p) => p.slice(1, -1));
  const inputs = {};
  for (const p of pathParams) {
    const label = el("label", null, `${p} `);
    inputs[p] = el("input");
    label.appendChild(inputs[p]);
    box.appendChild(label);
  }
  if (body) {
    body.value = example(spec, rows);
    body.rows = 6;
    box.appendChild(body);
  }
  const button = el("button", "secondary", `Send ${method.toUpperCase()}`);
  const out = el("pre", "response");
  button.addEventListener("click", async () => {
    let url = path;
    for (const p of pathParams) url = url.replace(`{${p}}`, encodeURIComponent(inputs[p].value));
    out.textContent = "…";
    try {
      const resp = await fetch(url, {method: method.toUpperCase(),
        headers: body ? {"Content-Type": "application/json"} : {}, body: body ? body.value : undefined});
      const type = resp.headers.get("content-type") || "";
      const text = type.includes("json") ? JSON.stringify(await resp.json(), null, 1) : `(${type})`;
      out.textContent = `HTTP ${resp.status}\n${text.length > 4000 ? text.slice(0, 4000) + "\n…" : text}`;
    } catch (err) {
      out.textContent = String(err);
    }
  });
  box.appendChild(button);
  box.appendChild(out);
  return box;
}

function endpoint(spec, path, method, op) {
  const sec = el("details", "endpoint");
  const head = el("summary");
  head.appendChild(el("span", `method ${method}`, method.toUpperCase()));
  head.appendChild(el("code", null, ` ${path} `));
  head.appendChild(el("span", "note", op.summary || ""));
  sec.appendChild(head);
  if (op.description) sec.appendChild(el("p", "note", op.description));
  const rows = (op.parameters || []).map((p) => ({name: p.name, where: p.in, schema: p.schema,
    required: p.required, description: p.description})).concat(bodyRows(spec, op));
  if (rows.length) sec.appendChild(fieldTable(spec, rows));
  const responses = Object.keys(op.responses || {}).join(", ");
  if (responses) sec.appendChild(el("p", "note", `responses: ${responses}; errors are {"error": "one line"}`));
  sec.appendChild(tryIt(method, path, rows.filter((r) => r.where === "body"), spec));
  return sec;
}

async function init() {
  try {
    const spec = await (await fetch("/api/openapi.json")).json();
    $("api-description").textContent = `${spec.info.title} ${spec.info.version}: ${spec.info.description || ""}`;
    const list = $("endpoints");
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) list.appendChild(endpoint(spec, path, method, op));
    }
    document.body.dataset.ready = "1";
  } catch (err) {
    const m = $("message");
    m.textContent = `could not read /api/openapi.json: ${err.message}`;
    m.className = "error";
  }
}

document.addEventListener("DOMContentLoaded", init);
