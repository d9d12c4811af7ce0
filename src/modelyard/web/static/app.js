// modelyard's pages: tabs, form helpers, and live predictions. No framework, no CDN.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function post(url, body) {
  return fetch(url, {
    method: "POST",
    body: body,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
  });
}

// -- tabs: arrow keys move between them, the URL hash remembers the open one ---------------------
function setupTabs() {
  const list = document.querySelector(".tabs");
  if (!list) return;
  const tabs = Array.from(list.querySelectorAll('[role="tab"]'));
  const show = (tab, focus) => {
    tabs.forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", (e) => {
      e.preventDefault();
      show(tab, false);
      history.replaceState(null, "", tab.getAttribute("href"));
    });
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) show(tabs[(i + step + tabs.length) % tabs.length], true);
    });
  });
  const wanted = tabs.find((t) => t.getAttribute("href") === location.hash);
  show(wanted || tabs[0], false);
}

// -- form helpers -------------------------------------------------------------------------------
function setupForm(root) {
  root.addEventListener("input", (e) => {
    const other = e.target.dataset && e.target.dataset.mirror;
    if (other) document.getElementById(other).value = e.target.value;
  });
  root.addEventListener("change", (e) => {
    const box = e.target.dataset && e.target.dataset.preview;
    if (!box || !e.target.files) return;
    const preview = document.getElementById(box);
    preview.textContent = "";
    for (const file of e.target.files) {
      const kind = file.type.split("/")[0];
      const tag = { image: "img", audio: "audio", video: "video" }[kind];
      if (!tag) {
        preview.textContent = file.name;
        continue;
      }
      const el = document.createElement(tag);
      el.src = URL.createObjectURL(file);
      if (tag === "img") el.alt = "Preview of " + file.name;
      else el.controls = true;
      preview.appendChild(el);
    }
  });
  root.addEventListener("click", (e) => {
    const t = e.target;
    if (t.classList.contains("add")) {
      const list = t.closest(".list");
      const rows = list.querySelectorAll(".list-row");
      const row = rows[rows.length - 1].cloneNode(true);
      const suffix = "-" + (rows.length + 1);
      const renamed = {};
      row.querySelectorAll("[id]").forEach((el) => {
        const id = el.id.replace(/-\d+(-preview|-slider)?$/, "$1");
        const fresh = id.replace(/(-preview|-slider)?$/, suffix + "$1");
        renamed[el.id] = fresh;
        el.id = fresh;
      });
      row.querySelectorAll("input, textarea, select").forEach((el) => {
        if (el.type === "hidden") el.remove();
        else el.value = "";
        for (const key of ["preview", "mirror"]) {
          if (el.dataset[key]) el.dataset[key] = renamed[el.dataset[key]] || el.dataset[key];
        }
      });
      row.querySelectorAll(".preview, .help").forEach((el) => {
        if (el.classList.contains("preview")) el.textContent = "";
        else el.remove();
      });
      list.insertBefore(row, t);
      const first = row.querySelector("input, textarea, select");
      if (first) first.focus();
    } else if (t.classList.contains("remove")) {
      const list = t.closest(".list");
      if (list.querySelectorAll(".list-row").length > 1) t.closest(".list-row").remove();
      else t.closest(".list-row").querySelectorAll("input, textarea").forEach((el) => (el.value = ""));
    } else if (t.classList.contains("copy")) {
      const text = document.getElementById(t.dataset.copy).innerText;
      navigator.clipboard.writeText(text).then(() => (t.textContent = "Copied"), () => {});
    } else if (t.dataset.cancel) {
      t.disabled = true;
      post(t.dataset.cancel, null);
    }
  });
}

// -- running and watching a prediction ---------------------------------------------------------
function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => {
    p.hidden = true;
    p.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  document.getElementById("form-error").hidden = true;
}

function showErrors(form, problem) {
  let placed = false;
  for (const err of problem.errors || []) {
    const p = document.getElementById("error-" + err.field);
    if (!p) continue;
    p.textContent = err.message;
    p.hidden = false;
    const input = document.getElementById("in-" + err.field);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "error-" + err.field);
      if (!placed) input.focus();
    }
    placed = true;
  }
  if (!placed) {
    const box = document.getElementById("form-error");
    box.textContent = problem.detail || "The prediction could not be created.";
    box.hidden = false;
  }
}

async function refreshPanel(result, id, whole) {
  const response = await fetch("/p/" + id + "/live", { credentials: "same-origin" });
  const html = await response.text();
  if (whole) {
    result.innerHTML = html;
    return;
  }
  const fresh = document.createElement("div");
  fresh.innerHTML = html;
  const line = result.querySelector(".status-line");
  if (line) line.replaceWith(fresh.querySelector(".status-line"));
}

function watch(result, id) {
  const iterator = result.dataset.iterator === "true";
  let finished = false;
  const events = new EventSource("/p/" + id + "/events");
  const text = () => {
    let box = result.querySelector(".output .out-text.live");
    if (!box) {
      const output = result.querySelector(".output");
      output.textContent = "";
      box = document.createElement("div");
      box.className = "out-text live";
      output.appendChild(box);
    }
    return box;
  };
  events.addEventListener("output", (e) => {
    if (iterator) text().textContent += JSON.parse(e.data);
  });
  events.addEventListener("logs", (e) => {
    const logs = result.querySelector(".logs");
    if (logs) logs.textContent += JSON.parse(e.data);
  });
  events.addEventListener("done", () => {
    finished = true;
    events.close();
    refreshPanel(result, id, true);
  });
  events.onerror = () => {
    if (!finished) {
      events.close();
      finished = true;
      refreshPanel(result, id, true);
    }
  };
  const tick = () => {
    if (finished) return;
    refreshPanel(result, id, false).finally(() => setTimeout(tick, 1000));
  };
  setTimeout(tick, 500);
}

function setupRun() {
  const form = document.getElementById("run-form");
  const result = document.getElementById("result");
  if (result && result.dataset.watch === "true") watch(result, result.dataset.id);
  if (!form || !document.getElementById("run")) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const button = document.getElementById("run");
    button.disabled = true;
    try {
      const response = await post(form.action, new FormData(form));
      const body = await response.json();
      if (!response.ok) {
        showErrors(form, body);
        return;
      }
      await refreshPanel(result, body.id, true);
      watch(result, body.id);
    } catch (err) {
      showErrors(form, { detail: "The server could not be reached: " + err });
    } finally {
      button.disabled = false;
    }
  });
}

// -- live tables (deployment instances) ---------------------------------------------------------
function setupRefresh() {
  document.querySelectorAll("[data-refresh]").forEach((box) => {
    const tick = async () => {
      const response = await fetch(box.dataset.refresh, { credentials: "same-origin" });
      if (response.ok) box.innerHTML = await response.text();
      setTimeout(tick, 3000);
    };
    setTimeout(tick, 3000);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupForm(document.body);
  setupRun();
  setupRefresh();
});
