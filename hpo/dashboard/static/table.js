// The trial table: sorting, filtering and paging are done by the server (a study can have
// many thousands of trials), so this module only keeps the query in `this.query`, turns
// header clicks and filter inputs into it, and renders one page.
//
// Contract with the tests: table#trials, th[data-sort=<field>], inputs #filter-state,
// #filter-source, #filter-q. Each row is tr[data-number]; each cell td[data-field] carries the
// raw value in data-value, so a test can check an order without parsing formatted text.

import { api, studyPath } from "./api.js";
import { DASH, badge, debounce, el, fmtConfig, fmtNumber, fmtTime, replace } from "./dom.js";

const DEFAULTS = { sort: "number", order: "asc", state: "", source: "", q: "", limit: 50, offset: 0 };
const PAGE_SIZES = [25, 50, 100, 200, 500];

export class TrialTable {
  /** `study`: the study, or a promise of it (the first page is fetched without waiting for
   * it; rendering waits). The page may set `table.study` afterwards, on each refresh. */
  constructor(name, study) {
    this.name = name;
    this.studyKnown = Promise.resolve(study).then((known) => (this.study = known));
    this.studyKnown.catch(() => {}); // a missing study is the page's to report, not the table's
    this.table = document.getElementById("trials");
    this.body = this.table.querySelector("tbody");
    this.status = document.getElementById("trials-status");
    this.query = { ...DEFAULTS, ...this.readHash() };
    this.expanded = new Set(); // trial numbers whose detail row is open, kept across refreshes
    this.sequence = 0; // answers to superseded requests are dropped
    this.bind();
  }

  /** The query lives in the URL fragment, so a reload or a shared link shows the same view. */
  readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const query = {};
    for (const key of Object.keys(DEFAULTS)) {
      if (!params.has(key)) continue;
      query[key] = typeof DEFAULTS[key] === "number" ? Number(params.get(key)) || 0 : params.get(key);
    }
    return query;
  }

  writeHash() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(this.query)) {
      if (value !== DEFAULTS[key]) params.set(key, String(value));
    }
    const text = params.toString();
    history.replaceState(null, "", text ? `#${text}` : location.pathname + location.search);
  }

  bind() {
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      th.tabIndex = 0;
      th.addEventListener("click", () => this.sortBy(th.dataset.sort));
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.sortBy(th.dataset.sort);
        }
      });
    }
    // Typing narrows the rows after a short pause (one request per pause, not per key);
    // Enter applies at once.
    for (const key of ["state", "source", "q"]) {
      const input = document.getElementById(`filter-${key}`);
      input.value = this.query[key];
      const apply = () => {
        const value = input.value.trim();
        if (!this.valid(key, value)) return;
        this.setFilter(key, value, false);
      };
      input.addEventListener("input", debounce(apply, 300));
      input.addEventListener("change", apply);
      input.addEventListener("keydown", (event) => event.key === "Enter" && apply());
    }
    const size = document.getElementById("page-size");
    replace(size, PAGE_SIZES.map((n) => el("option", { value: n, selected: n === this.query.limit }, n)));
    size.addEventListener("change", () => {
      this.query.limit = Number(size.value);
      this.query.offset = 0;
      this.load();
    });
    document.getElementById("page-prev").addEventListener("click", () => this.page(-1));
    document.getElementById("page-next").addEventListener("click", () => this.page(1));
    document.getElementById("filter-clear").addEventListener("click", () => {
      for (const key of ["state", "source", "q"]) {
        this.query[key] = "";
        document.getElementById(`filter-${key}`).value = "";
        this.valid(key, "");
      }
      this.query.offset = 0;
      this.load();
    });
  }

  /** A header click: the same column flips the order; a new one starts in its natural order
   * (best values first, newest updates first, otherwise ascending). */
  sortBy(field) {
    if (this.query.sort === field) {
      this.query.order = this.query.order === "asc" ? "desc" : "asc";
    } else {
      this.query.sort = field;
      const bestFirst = this.study.direction === "maximize" ? "desc" : "asc";
      this.query.order = field === "last_value" ? bestFirst : field === "updated_at" ? "desc" : "asc";
    }
    this.query.offset = 0;
    this.load();
  }

  /** State and source filters are comma-separated lists of known values (the options of
   * the inputs' datalists). The server answers 400 to an unknown one; checking here means a
   * half-typed "compl" shows a hint instead of an error, and sends no request. */
  valid(key, value) {
    const input = document.getElementById(`filter-${key}`);
    const list = input.list;
    if (!list || !value) {
      input.removeAttribute("aria-invalid");
      return true;
    }
    const known = [...list.options].map((option) => option.value);
    const unknown = value.split(",").map((v) => v.trim()).filter((v) => v && !known.includes(v));
    if (unknown.length === 0) {
      input.removeAttribute("aria-invalid");
      replace(this.status);
      return true;
    }
    input.setAttribute("aria-invalid", "true");
    replace(this.status, el("span", { class: "muted" },
      `${key}: "${unknown[0]}" is not one of ${known.join(", ")}`));
    return false;
  }

  /** Set one filter (also used by the header's state counts); `syncInput` updates the box. */
  setFilter(key, value, syncInput = true) {
    if (syncInput) {
      document.getElementById(`filter-${key}`).value = value;
      this.valid(key, value);
    }
    if (this.query[key] === value) return;
    this.query[key] = value;
    this.query.offset = 0;
    this.load();
  }

  page(step) {
    const offset = this.query.offset + step * this.query.limit;
    if (offset < 0 || (this.total !== undefined && offset >= this.total)) return;
    this.query.offset = offset;
    this.load();
  }

  /** Fetch and render the current page. Resolves once rendered (or the error is shown). */
  async load() {
    const sequence = ++this.sequence;
    this.writeHash();
    this.renderHeaders();
    this.table.setAttribute("aria-busy", "true");
    try {
      const answer = await api(studyPath(this.name, "/trials"), this.query);
      await this.studyKnown;
      if (sequence !== this.sequence) return;
      this.total = answer.total;
      if (answer.trials.length === 0 && this.query.offset > 0 && answer.total > 0) {
        // The rows shrank under the current page (a live refresh): go to the last page.
        this.query.offset = Math.floor((answer.total - 1) / this.query.limit) * this.query.limit;
        await this.load();
        return;
      }
      this.render(answer.trials);
      replace(this.status);
    } catch (error) {
      if (sequence !== this.sequence) return;
      replace(this.status, el("span", { class: "error" }, `Could not load trials: ${error.message}`));
    } finally {
      if (sequence === this.sequence) this.table.removeAttribute("aria-busy");
    }
  }

  renderHeaders() {
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      const active = th.dataset.sort === this.query.sort;
      if (active) th.setAttribute("aria-sort", this.query.order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
  }

  render(trials) {
    const best = this.study.best ? this.study.best.trial : null;
    const rows = [];
    for (const trial of trials) {
      rows.push(this.row(trial, trial.number === best));
      if (this.expanded.has(trial.number)) rows.push(this.detail(trial));
    }
    if (trials.length === 0) {
      rows.push(el("tr", { class: "empty" }, el("td", { colspan: 11 }, "No trials match.")));
    }
    replace(this.body, rows);
    const { offset, limit } = this.query;
    const first = this.total === 0 ? 0 : offset + 1;
    replace(document.getElementById("page-info"),
      `${first}\u2013${offset + trials.length} of ${this.total}`);
    document.getElementById("page-prev").disabled = offset === 0;
    document.getElementById("page-next").disabled = offset + limit >= this.total;
  }

  row(trial, isBest) {
    const cell = (field, value, text, attrs = {}, ...more) =>
      el("td", { "data-field": field, "data-value": value ?? "", ...attrs }, text, ...more);
    // A trial whose last report breaks an outcome constraint is marked infeasible.
    const broken = trial.violated?.length ? trial.violated : null;
    const classes = [isBest ? "best" : "", broken ? "infeasible" : ""].filter(Boolean);
    const tr = el("tr", {
      "data-number": trial.number,
      class: classes.join(" ") || null,
      title: isBest ? "best trial" : null,
      onclick: (event) => {
        if (event.target.closest("a, button")) return;
        if (this.expanded.has(trial.number)) this.expanded.delete(trial.number);
        else this.expanded.add(trial.number);
        const next = tr.nextElementSibling;
        if (next && next.classList.contains("detail")) next.remove();
        else tr.after(this.detail(trial));
      },
    },
    cell("number", trial.number, `#${trial.number}`, {}, broken && el("span", {
      class: "infeasible-mark", title: `infeasible: breaks ${broken.join(", ")}`,
    }, "\u2715")),
    cell("state", trial.state, badge(trial.state), { title: trial.fail_reason || null }),
    cell("source", trial.source, badge(trial.source)),
    cell("bracket", trial.bracket, fmtNumber(trial.bracket)),
    cell("rung", trial.rung, trial.rung < 0 ? DASH : String(trial.rung)),
    cell("last_resource", trial.last_resource, fmtNumber(trial.last_resource)),
    cell("last_value", trial.last_value, fmtNumber(trial.last_value), { class: "num" }),
    cell("worker", trial.worker_id, trial.worker_id || DASH, { class: "worker", title: trial.worker_id || null }),
    cell("retries", trial.retries, String(trial.retries ?? 0)),
    cell("updated_at", trial.updated_at, fmtTime(trial.updated_at), { title: trial.updated_at || null }),
    cell("config", JSON.stringify(trial.config), fmtConfig(trial.config), { class: "config" }));
    return tr;
  }

  /** The row's details: the whole configuration, timestamps and the failure reason. */
  detail(trial) {
    const item = (label, value) => [el("dt", {}, label), el("dd", {}, value)];
    return el("tr", { class: "detail" }, el("td", { colspan: 11 },
      el("dl", {},
        item("config", el("pre", {}, JSON.stringify(trial.config, null, 2))),
        item("bracket / rung", `${trial.bracket} / ${trial.rung}`),
        item("target resource", fmtNumber(trial.target_resource)),
        trial.last_metrics
          ? item("last metrics", el("pre", {}, JSON.stringify(trial.last_metrics, null, 2)))
          : null,
        trial.violated?.length ? item("breaks", trial.violated.join(", ")) : null,
        item("created", fmtTime(trial.created_at)),
        item("updated", fmtTime(trial.updated_at)),
        item("worker", trial.worker_id || DASH),
        trial.fail_reason ? item("failure", el("pre", { class: "error" }, trial.fail_reason)) : null)));
  }
}
