// Provenance of prior knowledge: the study's queued/enqueued/LLM/transfer proposals and, for an
// LLM prior, every exchange with the model (prompt messages and the raw answer, verbatim).
//
// LLM answers are the least trusted text on the page: they are only ever put in text nodes
// (inside <pre>), never parsed as HTML.

import { DASH, badge, el, fmtConfig, fmtTime, replace } from "./dom.js";

// Ids of the expanded exchanges, kept open when the section is re-rendered (study.js re-renders
// it only when the priors changed).
const openExchanges = new Set();

export function renderPriors(data) {
  const proposals = data.proposals || [];
  const exchanges = data.exchanges || [];
  const root = document.getElementById("priors");
  root.dataset.proposals = String(proposals.length);
  root.dataset.exchanges = String(exchanges.length);
  if (proposals.length === 0 && exchanges.length === 0) {
    replace(root, el("p", { class: "muted" },
      "No prior proposals and no LLM exchanges: this study started from scratch."));
    return;
  }
  replace(root,
    el("h3", {}, `Proposals (${proposals.length})`),
    proposals.length ? proposalTable(proposals) : el("p", { class: "muted" }, "none"),
    el("h3", {}, `LLM exchanges (${exchanges.length})`),
    exchanges.length ? exchanges.map(exchange) : el("p", { class: "muted" }, "none"));
}

function proposalTable(proposals) {
  return el("table", { class: "dense", id: "proposals" },
    el("thead", {}, el("tr", {},
      ["#", "source", "run first", "trial", "config"].map((h) => el("th", {}, h)))),
    el("tbody", {}, proposals.map((p) => el("tr", {},
      el("td", {}, String(p.position)),
      el("td", {}, badge(p.source)),
      el("td", {}, p.run_first ? "yes" : "no (shapes the prior)"),
      el("td", {}, p.trial_number === null || p.trial_number === undefined
        ? (p.run_first ? "queued" : DASH) : `#${p.trial_number}`),
      el("td", { class: "config" }, fmtConfig(p.config))))));
}

function exchange(x) {
  const accepted = Array.isArray(x.accepted) ? x.accepted.length : 0;
  const rejected = Array.isArray(x.rejected) ? x.rejected.length : 0;
  const summary = el("summary", {},
    el("strong", {}, `#${x.id} ${x.model || "?"}`), " \u00b7 ",
    fmtTime(x.created_at), " \u00b7 ",
    `${accepted} accepted, ${rejected} rejected`,
    x.replayed_from ? ` \u00b7 replayed from #${x.replayed_from}` : null,
    x.error ? el("span", { class: "error" }, ` \u00b7 error: ${x.error}`) : null);
  const details = el("details", {
    class: "exchange", "data-exchange": x.id, open: openExchanges.has(x.id),
    ontoggle: (event) => {
      if (event.target.open) openExchanges.add(x.id);
      else openExchanges.delete(x.id);
    },
  }, summary,
  el("dl", {},
    el("dt", {}, "endpoint"), el("dd", {}, x.base_url || DASH),
    el("dt", {}, "prompt hash"), el("dd", { class: "mono" }, x.prompt_hash || DASH)),
  el("h4", {}, "Prompt"),
  (x.messages || []).map((m) => el("div", { class: "message" },
    el("div", { class: "role" }, String(m.role)),
    el("pre", {}, typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2)))),
  el("h4", {}, "Raw answer"),
  el("pre", { class: "answer" }, x.raw_answer ?? "(no answer)"),
  accepted ? [el("h4", {}, "Accepted"), el("pre", {}, JSON.stringify(x.accepted, null, 2))] : null,
  rejected ? [el("h4", {}, "Rejected"), el("pre", {}, JSON.stringify(x.rejected, null, 2))] : null);
  return details;
}
