// The web page of the prediction service: plain DOM, no library, no request to another origin.
// The bearer token lives in this tab's sessionStorage and is dropped on log out or on a 401.
"use strict";

(() => {
  const TOKEN_KEY = "nba-mlops.token";
  const USER_KEY = "nba-mlops.user";
  const EXPIRES_KEY = "nba-mlops.expires";
  const SVG = "http://www.w3.org/2000/svg";
  const HEALTH_EVERY_MS = 30000;

  const $ = (id) => document.getElementById(id);
  const state = { token: null, user: null, teams: new Map(), expiryTimer: null };

  // silent: already shown (a 401 sends the page back to the login form with its own message).
  class ApiError extends Error {
    constructor(status, message, silent = false) {
      super(message);
      this.status = status;
      this.silent = silent;
    }
  }

  // Talking to the service ---------------------------------------------------------------------
  function describe(status, doc) {
    if (doc && typeof doc.error === "string") return doc.error;
    if (status === 429) return "Too many requests: wait a little and try again.";
    if (status >= 500) return `The service failed to answer (HTTP ${status}).`;
    return `The request was refused (HTTP ${status}).`;
  }

  async function send(path, options) {
    try {
      const response = await fetch(path, { cache: "no-store", credentials: "omit", ...options });
      setServiceStatus(true);
      return response;
    } catch (err) {
      setServiceStatus(false);
      throw new ApiError(0, "The service cannot be reached: check that it is running, then try again.");
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await send(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const doc = await readJson(response);
    if (response.status === 401) {
      expire(doc && doc.reason === "expired"
        ? "Your session has expired: log in again."
        : `You were logged out (${describe(401, doc)}): log in again.`);
      throw new ApiError(401, "Not logged in.", true);
    }
    if (!response.ok) throw new ApiError(response.status, describe(response.status, doc));
    return doc;
  }

  async function readJson(response) {
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (err) {
      return null;
    }
  }

  // Service status in the header bar -----------------------------------------------------------
  let lastUp = null;
  function setServiceStatus(up, text) {
    const el = $("service-status");
    if (text) {
      el.textContent = text;
    } else if (up !== lastUp || !up) {
      el.textContent = up ? "Service reachable" : "Service unreachable";
    }
    el.classList.toggle("down", !up);
    lastUp = up;
  }

  async function checkHealth() {
    try {
      const response = await send("/api/health", { headers: { Accept: "application/json" } });
      const doc = await readJson(response);
      const ready = Boolean(doc && doc.ready);
      setServiceStatus(true, ready ? `Service ready (${doc.status || "ok"})` : "Service not ready");
    } catch (err) {
      setServiceStatus(false);
    }
  }

  // Messages -----------------------------------------------------------------------------------
  function showError(id, message) {
    const el = $(id);
    el.textContent = message;
    el.hidden = false;
  }

  function clearError(id) {
    const el = $(id);
    el.textContent = "";
    el.hidden = true;
  }

  // Run an action of a form: busy button, the error shown in the form's own box.
  async function run(button, errorId, action) {
    clearError(errorId);
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      if (!(err instanceof ApiError && err.silent)) {
        showError(errorId, err instanceof ApiError ? err.message : `Unexpected error: ${err}`);
      }
    } finally {
      button.disabled = false;
    }
  }

  // Log in and out -----------------------------------------------------------------------------
  function showApp(loggedIn) {
    $("login-view").hidden = loggedIn;
    $("app-view").hidden = !loggedIn;
    $("session").hidden = !loggedIn;
    $("session-user").textContent = loggedIn ? state.user : "";
  }

  function remember(token, user, expiresIn) {
    state.token = token;
    state.user = user;
    const expires = Date.now() + expiresIn * 1000;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, user);
    sessionStorage.setItem(EXPIRES_KEY, String(expires));
    scheduleExpiry(expires);
  }

  function scheduleExpiry(expires) {
    clearTimeout(state.expiryTimer);
    state.expiryTimer = setTimeout(
      () => expire("Your session has expired: log in again."),
      Math.max(0, Math.min(expires - Date.now(), 2 ** 31 - 1)),
    );
  }

  function forget() {
    clearTimeout(state.expiryTimer);
    state.token = null;
    state.user = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(EXPIRES_KEY);
  }

  function expire(message) {
    forget();
    showApp(false);
    showError("login-error", message);
    $("login-username").focus();
  }

  async function login(event) {
    event.preventDefault();
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username || !password) {
      showError("login-error", "Enter a user name and a password.");
      return;
    }
    await run($("login-submit"), "login-error", async () => {
      const response = await send("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username, password }),
      });
      const doc = await readJson(response);
      if (!response.ok) {
        const message = response.status === 401
          ? "Wrong user name or password (or the user is disabled)."
          : describe(response.status, doc);
        throw new ApiError(response.status, message);
      }
      $("login-password").value = "";
      remember(doc.access_token, username, doc.expires_in);
      showApp(true);
      loadAll();
      $("game-home").focus();
    });
  }

  function logout() {
    forget();
    showApp(false);
    clearError("login-error");
    $("login-username").focus();
  }

  function loadAll() {
    loadTeams();
    loadModels();
    loadDrift();
  }

  // Formatting ---------------------------------------------------------------------------------
  const percent = (p) => `${(p * 100).toFixed(1)}%`;
  const points = (x) => x.toFixed(1);
  const metric = (x) => (typeof x === "number" ? Number(x.toPrecision(4)).toString() : String(x));

  function setNumber(id, value, text) {
    const el = $(id);
    el.textContent = text;
    el.dataset.value = String(value);
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const teamCode = (id) => $(id).value.trim().toUpperCase();
  const teamName = (code) => (state.teams.get(code) || code);

  // Teams --------------------------------------------------------------------------------------
  async function loadTeams() {
    try {
      const doc = await api("/api/teams");
      const list = $("team-list");
      list.replaceChildren();
      state.teams.clear();
      for (const team of doc.teams) {
        state.teams.set(team.abbreviation, team.name);
        list.append(el("option", team.name, { value: team.abbreviation }));
      }
    } catch (err) {
      if (!err.silent) showError("game-error", `Team list unavailable: ${err.message}`);
    }
  }

  // Game predictions ---------------------------------------------------------------------------
  function matchup() {
    const body = { home_team: teamCode("game-home"), away_team: teamCode("game-away") };
    const day = $("game-date").value;
    if (day) body.game_date = day;
    return body;
  }

  async function predictGame(event) {
    event.preventDefault();
    const body = matchup();
    if (!body.home_team || !body.away_team) {
      showError("game-error", "Enter a home team and an away team (abbreviations, e.g. BOS).");
      return;
    }
    await run($("game-submit"), "game-error", async () => {
      $("game-result").hidden = true;
      const [simple, compare] = await Promise.all([
        api("/api/predict/simple", { method: "POST", body }),
        api("/api/predict/compare", { method: "POST", body }),
      ]);
      showGame(simple, compare);
    });
  }

  function showGame(simple, compare) {
    $("game-home-name").textContent = `${teamName(simple.home_team)} (${simple.home_team})`;
    setNumber("game-probability", simple.home_win_probability, percent(simple.home_win_probability));
    $("game-detail").textContent =
      `against ${teamName(simple.away_team)} (${simple.away_team}) on ${simple.game_date}` +
      ` (season ${simple.season}). Predicted winner: ${simple.predicted_winner}.` +
      ` Model: ${simple.model.name} v${simple.model.version} (champion)` +
      `${simple.cached ? ", from the cache" : ""}.`;
    showWarnings("game-warning", simple.warnings);
    drawCompare(compare);
    const rows = $("compare-table").tBodies[0];
    rows.replaceChildren();
    for (const p of compare.predictions) {
      const tr = el("tr", null, { "data-model": p.model.name });
      tr.append(el("td", p.model.name), el("td", `v${p.model.version}`));
      const prob = el("td", percent(p.home_win_probability), { class: "num" });
      prob.dataset.value = String(p.home_win_probability);
      tr.append(prob, el("td", p.predicted_winner));
      rows.append(tr);
    }
    $("game-result").hidden = false;
  }

  function drawCompare(compare) {
    const rows = compare.predictions;
    const width = 480;
    const label = 170;
    const barH = 26;
    const gap = 12;
    const top = 24;
    const plot = width - label - 62;
    const height = top + rows.length * (barH + gap) + 10;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `Home-win probability of ${compare.home_team} by model: ` +
        rows.map((p) => `${p.model.name} ${percent(p.home_win_probability)}`).join(", "),
    });
    const x = (p) => label + p * plot;
    chart.append(svg("text", { x: label, y: 16 }, "0%"));
    chart.append(svg("text", { x: x(0.5), y: 16, "text-anchor": "middle" }, "50%"));
    chart.append(svg("text", { x: x(1), y: 16, "text-anchor": "end" }, "100%"));
    rows.forEach((p, i) => {
      const y = top + i * (barH + gap);
      const home = p.home_win_probability;
      chart.append(svg("text", { x: 0, y: y + barH * 0.68 }, `${p.model.name} v${p.model.version}`));
      chart.append(svg("rect", {
        x: label, y, width: plot, height: barH, fill: "#fde2d2", class: "track",
        "data-model": p.model.name,
      }));
      chart.append(svg("rect", {
        x: label, y, width: Math.max(0, home * plot), height: barH, fill: "#1d4ed8",
        class: "bar", "data-model": p.model.name,
      }));
      chart.append(svg("text", { x: x(1) + 6, y: y + barH * 0.68 }, percent(home)));
    });
    chart.append(svg("line", { x1: x(0.5), x2: x(0.5), y1: top - 4, y2: height - 6, class: "half" }));
    const legend = el("p", `Blue: ${compare.home_team} (home) wins; orange: ${compare.away_team} (away) wins.`, { class: "detail" });
    $("compare-chart").replaceChildren(chart, legend);
  }

  // Players ------------------------------------------------------------------------------------
  async function searchPlayers(event) {
    event.preventDefault();
    const text = $("player-search").value.trim();
    if (!text) {
      showError("player-error", "Enter part of a player's name.");
      return;
    }
    await run($("player-search-submit"), "player-error", async () => {
      const doc = await api(`/api/players?search=${encodeURIComponent(text)}&limit=50`);
      const select = $("player-select");
      select.replaceChildren();
      if (!doc.players.length) {
        select.append(el("option", "No player found", { value: "" }));
        select.disabled = true;
        throw new ApiError(404, `No stored player's name contains "${text}".`);
      }
      for (const p of doc.players) {
        const team = p.team ? `${p.team}, ` : "";
        select.append(el("option", `${p.name} (${team}last game ${p.last_game_date})`, {
          value: String(p.player_id),
        }));
      }
      select.disabled = false;
      select.focus();
    });
  }

  async function predictPlayer(event) {
    event.preventDefault();
    const id = $("player-select").value;
    const opponent = teamCode("player-opponent");
    if (!id) {
      showError("player-error", "Search for a player and pick one first.");
      return;
    }
    if (!opponent) {
      showError("player-error", "Enter the opponent (an abbreviation, e.g. MIA).");
      return;
    }
    const body = { player: Number(id), opponent, home: $("player-home").checked };
    const team = teamCode("player-team");
    if (team) body.team = team; // else the team of his latest game before the date
    const day = $("player-date").value;
    if (day) body.game_date = day;
    await run($("player-submit"), "player-error", async () => {
      $("player-result").hidden = true;
      showPlayer(await api("/api/predict/player", { method: "POST", body }));
    });
  }

  function showPlayer(p) {
    $("player-name").textContent = `${p.player_name} (${p.team})`;
    setNumber("player-points", p.predicted_points, points(p.predicted_points));
    if (p.interval) {
      setNumber("player-low", p.interval.low, points(p.interval.low));
      setNumber("player-high", p.interval.high, points(p.interval.high));
      $("player-level").textContent = `${Math.round(p.interval.level * 100)}%, ${p.interval.basis}`;
    } else {
      setNumber("player-low", "", "n/a");
      setNumber("player-high", "", "n/a");
      $("player-level").textContent = "the model has no error figure";
    }
    $("player-detail").textContent =
      `${p.home ? "At home" : "Away"} against ${teamName(p.opponent)} (${p.opponent}) on ` +
      `${p.game_date}, season ${p.season}. Model: ${p.model.name} v${p.model.version}` +
      `${p.cached ? ", from the cache" : ""}.`;
    showWarnings("player-warning", p.warnings);
    drawInterval(p);
    $("player-result").hidden = false;
  }

  // What an answer cannot know (stored games far before its date), as the API words it.
  function showWarnings(id, warnings) {
    const text = (warnings || []).join(" ");
    $(id).textContent = text ? `Note: ${text}.` : "";
    $(id).hidden = !text;
  }

  function drawInterval(p) {
    const width = 480;
    const height = 64;
    const pad = 20;
    const high = p.interval ? p.interval.high : p.predicted_points;
    const max = Math.max(10, Math.ceil((high * 1.15) / 5) * 5);
    const x = (v) => pad + (Math.max(0, v) / max) * (width - 2 * pad);
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": p.interval
        ? `${points(p.predicted_points)} points, interval ${points(p.interval.low)} to ${points(p.interval.high)}`
        : `${points(p.predicted_points)} points`,
    });
    chart.append(svg("line", { x1: pad, x2: width - pad, y1: 40, y2: 40, class: "axis" }));
    for (let tick = 0; tick <= max; tick += max / 5) {
      chart.append(svg("text", { x: x(tick), y: 58, "text-anchor": "middle" }, String(tick)));
    }
    if (p.interval) {
      chart.append(svg("rect", {
        x: x(p.interval.low), y: 26, width: x(p.interval.high) - x(p.interval.low), height: 14,
        fill: "#bfdbfe",
      }));
    }
    chart.append(svg("circle", { cx: x(p.predicted_points), cy: 33, r: 7, fill: "#1d4ed8" }));
    chart.append(svg("text", { x: x(p.predicted_points), y: 16, "text-anchor": "middle" },
      points(p.predicted_points)));
    $("player-chart").replaceChildren(chart);
  }

  // Models -------------------------------------------------------------------------------------
  async function loadModels() {
    const button = $("models-refresh");
    await run(button, "models-error", async () => {
      const doc = await api("/api/models");
      const body = $("models-table").tBodies[0];
      body.replaceChildren();
      for (const m of doc.models) body.append(modelRow(m));
      if (!doc.models.length) {
        const tr = el("tr");
        tr.append(el("td", "No registered model yet: run the training flow.", { colspan: "5" }));
        body.append(tr);
      }
    });
  }

  function modelRow(m) {
    const tr = el("tr", null, { "data-model": m.name });
    tr.append(el("th", m.name, { scope: "row" }));
    tr.append(el("td", m.champion ? `v${m.champion}` : "none", {
      class: "num champion", "data-label": "Champion",
    }));
    const serving = m.serving ? `v${m.serving}` : (m.error ? `not serving: ${m.error}` : "not loaded");
    tr.append(el("td", serving, { class: "num serving", "data-label": "Serving" }));
    const champion = (m.versions || []).find((v) => v.version === m.champion);
    const metrics = el("ul", null, { class: "metrics" });
    for (const [key, value] of Object.entries((champion && champion.metrics) || {})) {
      const li = el("li", `${key}: ${metric(value)}`);
      li.dataset.metric = key;
      li.dataset.value = String(value);
      metrics.append(li);
    }
    const metricsCell = el("td", null, { "data-label": "Metrics" });
    metricsCell.append(metrics);
    tr.append(metricsCell);
    const versions = el("td", null, { class: "versions", "data-label": "Versions" });
    for (const v of m.versions || []) {
      const item = el("div", `v${v.version}`);
      for (const alias of v.aliases || []) item.append(el("span", alias, { class: "tag" }));
      if (v.trained_at) item.append(document.createTextNode(` ${v.trained_at.slice(0, 10)}`));
      versions.append(item);
    }
    tr.append(versions);
    return tr;
  }

  // Drift --------------------------------------------------------------------------------------
  // The kinds in the order a drift check writes them; any other kind follows, by name.
  const DRIFT_KINDS = ["features", "predictions", "performance"];

  async function loadDrift() {
    await run($("drift-refresh"), "drift-error", async () => {
      const doc = await api("/api/drift/latest");
      const list = $("drift-list");
      list.replaceChildren();
      const reports = latestReports(doc.by_model || {});
      $("drift-empty").hidden = reports.length > 0;
      for (const r of reports) list.append(driftItem(r));
    });
  }

  // Every model's newest report of each kind (a check of one task keeps the other's listed),
  // by model name, then kind.
  function latestReports(byModel) {
    const rank = (kind) => (DRIFT_KINDS.includes(kind) ? DRIFT_KINDS.indexOf(kind) : DRIFT_KINDS.length);
    return Object.values(byModel)
      .flatMap((byKind) => Object.values(byKind))
      .sort((a, b) => String(a.model_name).localeCompare(String(b.model_name))
        || rank(a.kind) - rank(b.kind) || a.kind.localeCompare(b.kind));
  }

  function driftItem(r) {
    const li = el("li", null, { "data-kind": r.kind, "data-model": r.model_name || "" });
    const title = el("strong", `${r.kind}: ${r.model_name} v${r.model_version}`);
    li.append(title, el("br"));
    const shift = r.summary && r.summary.prediction_shift;
    const share = shift
      ? `distance between the predictions ${shift.distance.toFixed(3)} (threshold ${shift.threshold})`
      : `drifted share ${typeof r.share_drifted === "number" ? percent(r.share_drifted) : "n/a"}`;
    li.append(document.createTextNode(
      `Current ${r.current_window} against ${r.reference_window}; ${share}; ` +
      `${r.failed_tests} failed test(s); ${r.created_at ? r.created_at.slice(0, 16).replace("T", " ") : ""}. `,
    ));
    li.append(el("span", r.drift_detected ? "Drift detected." : "No drift.", {
      class: r.drift_detected ? "drifted" : "",
    }));
    if (r.html_path) {
      const button = el("button", "Download the HTML report", { type: "button", class: "secondary" });
      const errorId = `drift-error-${r.id}`;
      const error = el("p", null, { id: errorId, class: "error", role: "alert", hidden: "" });
      button.addEventListener("click", () => run(button, errorId, () => downloadReport(r)));
      li.append(el("br"), button, error);
    }
    return li;
  }

  async function downloadReport(r) {
    const response = await send(`/api/drift/${r.id}/html`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
    if (response.status === 401) {
      expire("Your session has expired: log in again.");
      throw new ApiError(401, "Not logged in.", true);
    }
    if (!response.ok) throw new ApiError(response.status, describe(response.status, await readJson(response)));
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", null, { href: url, download: r.html_path.split("/").pop() });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // Start --------------------------------------------------------------------------------------
  function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("game-form").addEventListener("submit", predictGame);
    $("player-search-form").addEventListener("submit", searchPlayers);
    $("player-form").addEventListener("submit", predictPlayer);
    $("models-refresh").addEventListener("click", loadModels);
    $("drift-refresh").addEventListener("click", loadDrift);
    checkHealth();
    setInterval(checkHealth, HEALTH_EVERY_MS);
    const token = sessionStorage.getItem(TOKEN_KEY);
    const expires = Number(sessionStorage.getItem(EXPIRES_KEY));
    if (token && expires > Date.now()) {
      state.token = token;
      state.user = sessionStorage.getItem(USER_KEY) || "";
      scheduleExpiry(expires);
      showApp(true);
      loadAll();
    } else {
      forget();
      showApp(false);
    }
  }

  start();
})();
