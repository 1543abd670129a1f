// The billing dashboard: asks for an API key once (kept in this tab's sessionStorage,
// nowhere else), then draws the reports of documents.md with Chart.js. Every figure is
// written from the API's own integers by the browser's currency formatting; each element
// that shows one keeps the integer in `data-cents`, so what is shown can be checked.
"use strict";

const KEY = "billing.apiKey";
const $ = (id) => document.getElementById(id);
const state = { reports: null, charts: {}, drawing: 0 };

function apiKey() { return sessionStorage.getItem(KEY); }

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${apiKey()}` } });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    const error = new Error(problem.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// Months as UTC instants: the first of the month `offset` months from `date`'s.
function monthStart(date, offset) {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + offset, 1));
}
const iso = (date) => date.toISOString().replace(".000Z", "Z");
const monthLabel = (text) => text.slice(0, 7);

const formats = new Map();  // per currency: its decimals and its written form of 0, made once
function formatOf(currency) {
  if (!formats.has(currency)) {
    formats.set(currency, {
      digits: new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits,
      zero: new Intl.NumberFormat("en", { style: "currency", currency, maximumFractionDigits: 0 }).format(0),
    });
  }
  return formats.get(currency);
}

// Minor units written for their currency, exactly: the integer's digits placed by the
// currency's own number of decimals, never through a float.
function money(cents, currency) {
  const { digits, zero } = formatOf(currency);
  const negative = cents < 0;
  const text = String(Math.abs(cents)).padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits);
  const fraction = digits ? "." + text.slice(text.length - digits) : "";
  const formatted = zero.replace("0", whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + fraction);
  return (negative ? "-" : "") + formatted;
}

function show(element, cents, currency) {
  element.textContent = money(cents, currency);
  element.dataset.cents = String(cents);
  element.dataset.currency = currency;
}

async function load() {
  const now = new Date();
  const from = iso(monthStart(now, -11));
  const to = iso(monthStart(now, 1));
  const range = `from=${from}&to=${to}&interval=month`;
  $("status").textContent = "Loading…";
  const [mrr, movements, revenue, subscriptions, overdue] = await Promise.all([
    api(`/reports/mrr?as_of=${iso(now)}`),
    api(`/reports/mrr-movements?${range}`),
    api(`/reports/revenue?${range}`),
    api(`/reports/subscriptions?${range}`),
    api("/reports/overdue?limit=1"),
  ]);
  state.reports = { mrr, movements, revenue, subscriptions, overdue };
  const currencies = new Set();
  for (const row of mrr.currencies) currencies.add(row.currency);
  for (const report of [movements, revenue]) for (const b of report.buckets) for (const row of b.currencies) currencies.add(row.currency);
  for (const row of overdue.currencies) currencies.add(row.currency);
  const select = $("currency");
  const previous = select.value;
  select.replaceChildren(...[...currencies].sort().map((code) => new Option(code, code)));
  const largest = [...mrr.currencies].sort((a, b) => b.mrr_cents - a.mrr_cents)[0];
  select.value = currencies.has(previous) ? previous : (largest ? largest.currency : [...currencies][0] || "");
  select.disabled = currencies.size < 2;
  await draw();
  $("status").textContent = `As of ${iso(now)} (UTC), the last 12 months.`;
  loadPool();
}

async function draw() {
  const { mrr, movements, revenue, subscriptions, overdue } = state.reports;
  const currency = $("currency").value || "EUR";
  // A later draw (another currency chosen meanwhile) wins: this one's answer is dropped.
  const drawing = ++state.drawing;
  const debtors = await api(`/reports/overdue?currency=${currency}&limit=10`);
  if (drawing !== state.drawing) return;
  const current = mrr.currencies.find((row) => row.currency === currency) || { mrr_cents: 0, subscriptions: 0 };
  show($("tile-mrr"), current.mrr_cents, currency);
  $("tile-mrr-as-of").textContent = `as of ${mrr.as_of}`;
  $("tile-subscriptions").textContent = String(current.subscriptions);
  $("tile-subscriptions").dataset.count = String(current.subscriptions);
  const owed = overdue.currencies.find((row) => row.currency === currency) || { open_cents: 0, overdue_cents: 0 };
  show($("tile-open"), owed.open_cents, currency);
  show($("tile-overdue"), owed.overdue_cents, currency);

  const labels = movements.buckets.map((b) => monthLabel(b.start));
  const of = (bucket) => bucket.currencies.find((row) => row.currency === currency) || {};
  chart("chart-mrr", {
    type: "line",
    data: { labels, datasets: [{ label: "MRR", data: movements.buckets.map((b) => (of(b).mrr_end_cents || 0)), borderColor: "#1849a9", backgroundColor: "rgba(24,73,169,.12)", fill: true, tension: 0 }] },
    options: moneyAxes(currency),
  });
  chart("chart-revenue", {
    type: "bar",
    data: {
      labels: revenue.buckets.map((b) => monthLabel(b.start)),
      datasets: [
        { label: "Invoiced", data: revenue.buckets.map((b) => of(b).invoiced_cents || 0), backgroundColor: "#1849a9" },
        { label: "Paid", data: revenue.buckets.map((b) => of(b).paid_cents || 0), backgroundColor: "#12b76a" },
        { label: "Credited", data: revenue.buckets.map((b) => of(b).credited_cents || 0), backgroundColor: "#f79009" },
      ],
    },
    options: moneyAxes(currency),
  });
  chart("chart-subscriptions", {
    type: "bar",
    data: {
      labels: subscriptions.buckets.map((b) => monthLabel(b.start)),
      datasets: [
        { label: "New", data: subscriptions.buckets.map((b) => b.new), backgroundColor: "#12b76a", yAxisID: "y" },
        { label: "Canceled", data: subscriptions.buckets.map((b) => b.canceled.requested + b.canceled.nonpayment), backgroundColor: "#b42318", yAxisID: "y" },
        { label: "Churn rate", type: "line", data: subscriptions.buckets.map((b) => Number(b.churn_rate) * 100), borderColor: "#667085", yAxisID: "churn" },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: {
        y: { beginAtZero: true, ticks: { precision: 0 } },
        churn: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { callback: (v) => `${v}%` } },
      },
    },
  });

  const rows = debtors.customers.map((row) => {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = row.name;
    const link = document.createElement("td");
    const a = document.createElement("a");
    a.href = row.hosted_invoice_url;
    a.textContent = row.oldest_invoice_number;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    link.append(a);
    const days = cell(String(row.days_overdue));
    const count = cell(String(row.overdue_invoices));
    const amount = cell("");
    show(amount, row.overdue_cents, row.currency);
    tr.append(name, link, days, count, amount);
    return tr;
  });
  $("overdue").tBodies[0].replaceChildren(...rows);
  $("overdue-empty").hidden = rows.length > 0;
}

function cell(text) {
  const td = document.createElement("td");
  td.className = "num";
  td.textContent = text;
  return td;
}

function moneyAxes(currency) {
  return {
    maintainAspectRatio: false,
    scales: { y: { beginAtZero: true, ticks: { callback: (value) => money(Math.round(value), currency) } } },
    plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${money(item.raw, currency)}` } } },
  };
}

// Draws (or redraws) a chart; the canvas says when it has been drawn (`data-drawn`).
function chart(id, config) {
  if (state.charts[id]) state.charts[id].destroy();
  const canvas = $(id);
  delete canvas.dataset.drawn;
  config.plugins = [{ id: "drawn", afterRender: (c) => { c.canvas.dataset.drawn = "true"; } }];
  state.charts[id] = new Chart(canvas, config);
}

// The pool's own status answers only on the host itself (loopback); elsewhere it stays hidden.
async function loadPool() {
  try {
    const status = await api("/status");
    const pool = status.pool;
    const facts = [
      ["Workers", `${status.workers.length} of ${pool.workers_configured}`],
      ["Threads busy", `${pool.active_threads} of ${pool.total_threads}`],
      ["Requests", String(pool.accepted_requests)],
      ["Restarts", String(pool.restarts.crash + pool.restarts.recycle + pool.restarts.timeout)],
      ["Reloads", String(pool.reloads)],
      ["Webhooks pending", String(status.webhook_deliveries ? status.webhook_deliveries.pending : "—")],
      ["Started", pool.start_time],
    ];
    $("pool-status").replaceChildren(...facts.flatMap(([label, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }));
    $("pool").hidden = false;
  } catch (error) {
    $("pool").hidden = true;
  }
}

function signedIn() {
  $("key-form").hidden = true;
  $("board").hidden = false;
  $("forget").hidden = false;
  load().catch((error) => {
    if (error.status === 401) return signOut("That key was refused.");
    $("status").textContent = `Could not load the reports: ${error.message}`;
  });
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  for (const chart of Object.values(state.charts)) chart.destroy();
  state.charts = {};
  $("board").hidden = true;
  $("forget").hidden = true;
  $("key-form").hidden = false;
  $("key-error").textContent = message || "";
  $("key").focus();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  $("key").value = "";
  signedIn();
});
$("forget").addEventListener("click", () => signOut());
$("currency").addEventListener("change", () => {
  if (state.reports) draw().catch((error) => { $("status").textContent = `Could not load the reports: ${error.message}`; });
});

if (apiKey()) signedIn(); else signOut();
