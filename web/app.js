// pmdapipe's dashboard: start, watch and stop shared runs through pmproxy's
// REST API (PMWEBAPI), with the caller's own pmcd login (HTTP Basic auth,
// which pmproxy turns into SASL).
//
// Security: every value shown here comes from the agent, and a run's output
// is whatever its command prints, so the page never parses data as HTML: it
// builds elements and sets textContent (or appends strings, which become
// text nodes). The credentials live in this closure only: no storage, no URL.
'use strict';

(() => {
  // pmproxy drops a context after this many seconds without a request.
  const POLL_TIMEOUT = 30;
  // How often the watched run is fetched, and how often the list of runs
  // (which also keeps the control context alive) is refreshed.
  const WATCH_INTERVAL_MS = 500;
  const RUNS_INTERVAL_MS = 3000;
  const REQUEST_TIMEOUT_MS = 15000;
  // Lines kept in the output pane; older ones are dropped from the page only.
  const MAX_LINES = 20000;
  const FINAL_STATUSES = new Set(['stopped', 'exited', 'failed']);

  const $ = (id) => document.getElementById(id);

  /** The element `tag` with text content `text` (never parsed as HTML). */
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // MARK: - Errors and status lines

  function showError(message) {
    const box = $('error');
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    const box = $('error');
    box.textContent = '';
    box.hidden = true;
  }

  // MARK: - pmproxy's REST API

  /** A failed REST request: the HTTP status and pmproxy's message. */
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }

    /** pmproxy forgot the context (expired after polltimeout, or restarted). */
    get contextGone() {
      return /unknown context identifier|expired context identifier/.test(this.message);
    }
  }

  function basicAuthorization(user, password) {
    const bytes = new TextEncoder().encode(user + ':' + password);
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return 'Basic ' + btoa(binary);
  }

  /** One pmproxy, one login. */
  class Api {
    constructor(base, hostspec, authorization) {
      this.base = base;
      this.hostspec = hostspec;
      this.authorization = authorization;
    }

    async request(path, params, body) {
      const query = new URLSearchParams(params).toString();
      const url = this.base + path + (query ? '?' + query : '');
      const headers = { Authorization: this.authorization, Accept: 'application/json' };
      const init = { method: 'GET', headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
      if (body !== undefined) {
        init.method = 'POST';
        init.body = body;
        headers['Content-Type'] = 'text/plain; charset=utf-8';
      }
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
      init.signal = abort.signal;
      let response;
      let text;
      try {
        response = await fetch(url, init);
        text = await response.text();
      } catch (error) {
        const where = this.base || location.origin;
        throw new ApiError(0, abort.signal.aborted
          ? `pmproxy at ${where} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`
          : `cannot reach pmproxy at ${where} (${error.message}). A pmproxy on another origin refuses ` +
            'the Authorization header to browsers: serve this page from the same origin (web/README.md).');
      } finally {
        clearTimeout(timer);
      }
      let json = null;
      try { json = JSON.parse(text); } catch (_) { /* not JSON: reported below */ }
      if (!response.ok || json === null || json.success === false) {
        const message = (json && typeof json.message === 'string') ? json.message
          : `HTTP ${response.status}${text ? ': ' + text.slice(0, 200) : ''}`;
        throw new ApiError(response.status, message);
      }
      return json;
    }

    /** A new context for this login: GET /pmapi/context. */
    async newContext() {
      return this.request('/pmapi/context', { hostspec: this.hostspec, polltimeout: String(POLL_TIMEOUT) });
    }

    /** Values by metric name, then by instance number (null for no instance domain). */
    async fetchValues(context, names) {
      const json = await this.request(`/pmapi/${context}/fetch`, { names: names.join(',') });
      const values = new Map();
      for (const metric of json.values || []) {
        const byInstance = new Map();
        for (const entry of metric.instances || []) byInstance.set(entry.instance, entry.value);
        values.set(metric.name, byInstance);
      }
      return values;
    }

    /** Instance names by number, of `metric`'s instance domain (optionally only `iname`). */
    async instances(context, metric, iname) {
      const params = { name: metric };
      if (iname !== undefined) params.iname = iname;
      const json = await this.request(`/pmapi/${context}/indom`, params);
      const names = new Map();
      for (const entry of json.instances || []) names.set(entry.instance, entry.name);
      return names;
    }

    /** Stores `value` (the POST body, so any bytes and any length pmcd accepts). */
    async store(context, metric, value, instance) {
      const params = { name: metric };
      if (instance !== undefined) params.instance = String(instance);
      return this.request(`/pmapi/${context}/store`, params, value);
    }

    /** Adds instances to (expr=add) or removes them from (expr=del) the context's profile. */
    async profile(context, expr, metric, instance) {
      const params = { expr, name: metric };
      if (instance !== undefined) params.instance = String(instance);
      return this.request(`/pmapi/${context}/profile`, params);
    }
  }

  /**
   * A pmproxy context that is reopened when pmproxy has forgotten it. Requests
   * that depend on each other (a store, then the fetch of its answer) run
   * one after another through `exclusive`.
   */
  class Context {
    constructor(api, onReopen) {
      this.api = api;
      this.id = null;
      this.labels = {};
      this.onReopen = onReopen;
      this.queue = Promise.resolve();
    }

    async open() {
      const json = await this.api.newContext();
      this.id = json.context;
      this.labels = json.labels || {};
      return this;
    }

    /** Runs `body(id)`; on a forgotten context, reopens it and runs `body` once more. */
    async use(body) {
      if (this.id === null) await this.open();
      try {
        return await body(this.id);
      } catch (error) {
        if (!(error instanceof ApiError) || !error.contextGone) throw error;
        await this.open();
        if (this.onReopen) await this.onReopen(this.id);
        return body(this.id);
      }
    }

    /** `use`, never interleaved with another `exclusive` call on this context. */
    exclusive(body) {
      const result = this.queue.then(() => this.use(body));
      this.queue = result.catch(() => {});
      return result;
    }
  }

  // MARK: - Session

  /** What the page knows while connected; null otherwise. */
  let session = null;

  function readConnection() {
    const proxy = $('proxy').value.trim().replace(/\/+$/, '');
    if (proxy !== '') {
      let url;
      try { url = new URL(proxy); } catch (_) { throw new Error('the pmproxy URL is not a URL'); }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the pmproxy URL must be http or https');
      if (url.username || url.password) throw new Error('put the user and password in their own fields, not in the URL');
    }
    const hostspec = $('hostspec').value.trim() || 'localhost';
    const user = $('user').value.trim();
    const password = $('password').value;
    if (user === '' || password === '') throw new Error('enter a user and a password');
    if (user.includes(':')) throw new Error('a user name cannot contain ":" (HTTP Basic auth)');
    return { proxy, hostspec, user, password };
  }

  async function connect(event) {
    event.preventDefault();
    clearError();
    let form;
    try {
      form = readConnection();
    } catch (error) {
      showError(error.message);
      return;
    }
    disconnect();
    $('connect-button').disabled = true;
    const api = new Api(form.proxy, form.hostspec, basicAuthorization(form.user, form.password));
    $('password').value = '';
    const current = { api, user: form.user, proxy: form.proxy || location.origin, control: null,
                      commands: new Map(), runNames: new Map(), runsTimer: null, watch: null };
    try {
      current.control = await new Context(api).open();
      session = current;
      showConnected();
      await loadCommands();
      await refreshRuns();
    } catch (error) {
      if (session === current) disconnect();
      showError(`Connecting failed: ${error.message}`);
    } finally {
      $('connect-button').disabled = false;
    }
  }

  function showConnected() {
    const labels = session.control.labels;
    const who = labels.userid !== undefined ? `${session.user} (uid ${labels.userid})` : session.user;
    $('session').textContent = `Connected to pmcd on ${labels.hostname || session.api.hostspec} as ${who}, ` +
      `through ${session.proxy}.`;
    $('connect').hidden = true;
    $('workspace').hidden = false;
    $('disconnect-button').hidden = false;
  }

  function disconnect() {
    if (session) {
      clearTimeout(session.runsTimer);
      stopWatching();
    }
    session = null;   // the credentials go with it; pmproxy drops the contexts after polltimeout
    $('session').textContent = 'Not connected.';
    $('connect').hidden = false;
    $('workspace').hidden = true;
    $('disconnect-button').hidden = true;
    $('command-list').replaceChildren();
    $('run-rows').replaceChildren();
    $('run-view').hidden = true;
    $('run-none').hidden = false;
  }

  // MARK: - Commands

  async function loadCommands() {
    const current = session;
    const { names, values } = await current.control.exclusive(async (id) => ({
      names: await current.api.instances(id, 'pipe.commands'),
      values: await current.api.fetchValues(id, ['pipe.commands', 'pipe.paramtypes']),
    }));
    if (session !== current) return;
    const lines = values.get('pipe.commands') || new Map();
    const types = values.get('pipe.paramtypes') || new Map();
    current.commands.clear();
    // The agent answers pipe.commands only for the commands this login may run.
    for (const [instance, commandLine] of lines) {
      if (!names.has(instance) || typeof commandLine !== 'string') continue;
      const paramtypes = types.get(instance);
      current.commands.set(names.get(instance), {
        name: names.get(instance), instance, commandLine,
        types: typeof paramtypes === 'string' && paramtypes !== '' ? paramtypes.split('\n') : [],
      });
    }
    renderCommands();
  }

  function renderCommands() {
    const list = $('command-list');
    const commands = [...session.commands.values()].sort((a, b) => a.name.localeCompare(b.name));
    $('commands-empty').hidden = commands.length > 0;
    list.replaceChildren(...commands.map((command, index) => commandCard(command, index)));
  }

  function commandCard(command, index) {
    const card = el('li', undefined, 'card');
    card.dataset.command = command.name;
    const head = el('div', undefined, 'head');
    head.append(el('h3', command.name), el('span', command.commandLine, 'mono command-line'));
    card.append(head);

    const form = el('form', undefined, 'start');
    const types = el('ul', undefined, 'types');
    types.setAttribute('aria-label', `Parameters of ${command.name}`);
    for (const line of command.types) types.append(el('li', line, 'mono'));
    if (command.types.length === 0) types.append(el('li', 'no parameters'));
    form.append(types);
    const inputId = `params-${index}`;
    const label = el('label', 'Parameters', 'visually-hidden');
    label.htmlFor = inputId;
    const input = el('input');
    input.id = inputId;
    input.type = 'text';
    input.spellcheck = false;
    input.autocomplete = 'off';
    input.placeholder = 'parameters';
    input.setAttribute('aria-label', `Parameters for ${command.name}`);
    const button = el('button', 'Start');
    button.type = 'submit';
    button.setAttribute('aria-label', `Start ${command.name}`);
    // A command without placeholders takes no parameters: no field to fill.
    if (command.types.length > 0) form.append(label, input);
    form.append(button);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      startRun(command, input.value, button);
    });
    card.append(form);
    return card;
  }

  // MARK: - Starting and stopping

  /** The agent's once-only answer to a control store: a JSON object, or an error sentence. */
  function parseAnswer(value, what) {
    // The agent reads its control metrics as "" until a store leaves an answer.
    if (typeof value !== 'string' || value === '') return { error: `no answer from the agent to ${what}`, unanswered: true };
    try {
      const answer = JSON.parse(value);
      if (answer && typeof answer === 'object') return answer;
    } catch (_) { /* fall through */ }
    return { error: `unexpected answer to ${what}: ${value}`, unanswered: true };
  }

  async function startRun(command, params, button) {
    clearError();
    const current = session;
    button.disabled = true;
    try {
      // Through pipe.control.launch ("COMMAND PARAMETERS", no instances), not
      // pipe.control.start[COMMAND]: pmproxy 6.0.3 sends a string stored into
      // one instance as an in-situ value without its text (libpcp_web's
      // webgroup_store sets valfmt from the profile's status), which the
      // agent refuses as "Bad input to pmstore".
      const request = params.trim() === '' ? command.name : `${command.name} ${params}`;
      const answer = await current.control.exclusive(async (id) => {
        // A refused start fails the store too, but the agent's answer says why.
        let refused = null;
        try {
          await current.api.store(id, 'pipe.control.launch', request);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status === 0 || error.contextGone) throw error;
          refused = error;
        }
        const values = await current.api.fetchValues(id, ['pipe.control.launch']);
        const reply = parseAnswer((values.get('pipe.control.launch') || new Map()).get(null),
                                  `starting ${command.name}`);
        if (refused && reply.unanswered) reply.error = refused.message;
        return reply;
      });
      if (session !== current) return;
      if (typeof answer.run !== 'string') {
        showError(`${command.name}: ${answer.error || 'the agent did not start a run'}`);
        return;
      }
      watchRun(answer.run, { command: command.commandLine, params, owner: current.user });
      refreshRuns().catch(() => {});
    } catch (error) {
      if (session === current) showError(`${command.name}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function stopRun() {
    const current = session;
    const watch = current && current.watch;
    if (!watch) return;
    clearError();
    $('stop-button').disabled = true;
    try {
      const answer = await current.control.exclusive(async (id) => {
        let refused = null;
        try {
          await current.api.store(id, 'pipe.control.stop', watch.run);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status === 0 || error.contextGone) throw error;
          refused = error;
        }
        const values = await current.api.fetchValues(id, ['pipe.control.stop']);
        const reply = parseAnswer((values.get('pipe.control.stop') || new Map()).get(null), `stopping ${watch.run}`);
        if (refused && reply.unanswered) reply.error = refused.message;
        return reply;
      });
      // pmproxy repeats the last value of a metric without instances when the
      // agent sends none: only an answer that names this run counts.
      if (answer.stopped !== watch.run) {
        showError(`${watch.run}: ${answer.error || 'the agent did not confirm the stop'}`);
        if (current.watch === watch && !watch.finished) $('stop-button').disabled = false;
      }
    } catch (error) {
      if (session === current) showError(`${watch.run}: ${error.message}`);
      if (current.watch === watch && !watch.finished) $('stop-button').disabled = false;
    }
  }

  // MARK: - Watching one run

  const RUN_FACTS = ['pipe.run.status', 'pipe.run.exitstatus', 'pipe.run.lines', 'pipe.run.dropped'];
  const RUN_LABELS = ['pipe.run.owner', 'pipe.run.command', 'pipe.run.params'];

  function stopWatching() {
    if (session && session.watch) {
      session.watch.cancelled = true;
      clearTimeout(session.watch.timer);
      session.watch = null;
    }
  }

  /**
   * Shows `run` and polls it in a context of its own: pipe.run.text hands each
   * context the lines since that context's previous fetch, so a fresh context
   * starts with the run's beginning and the runs list never takes its lines.
   */
  async function watchRun(run, known) {
    const current = session;
    stopWatching();
    const watch = { run, instance: null, context: null, timer: null, cancelled: false,
                    finished: false, lines: [], lineCount: 0, first: true };
    current.watch = watch;
    $('run-none').hidden = true;
    $('run-view').hidden = false;
    $('run-view').dataset.run = run;
    delete $('run-view').dataset.finished;
    $('run-name').textContent = run;
    $('run-command').textContent = known.command || '';
    $('run-params').textContent = known.params || '';
    $('run-owner').textContent = known.owner || '';
    $('run-status').textContent = 'starting';
    $('run-exit').textContent = '';
    $('run-lines').textContent = '0';
    $('run-dropped').textContent = '0';
    $('stop-button').disabled = false;
    $('output').replaceChildren();

    watch.context = new Context(current.api, async (id) => {
      watch.instance = null;
      appendNotice(watch, 'reconnected to pmproxy: lines may be missing or repeated here');
    });
    pollRun(current, watch);
  }

  async function findRunInstance(api, id, run) {
    // The run's instance appears as soon as the agent has started it; allow a moment.
    for (let attempt = 0; attempt < 10; attempt++) {
      for (const [instance, name] of await api.instances(id, 'pipe.run.status', run)) {
        if (name === run) return instance;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the run ${run} is not (or no longer) visible to you`);
  }

  async function pollRun(current, watch) {
    let delay = WATCH_INTERVAL_MS;
    try {
      const values = await watch.context.use(async (id) => {
        if (watch.instance === null) {
          watch.instance = await findRunInstance(current.api, id, watch.run);
          // Only this run's text, please: the profile keeps other runs out of this context's fetches.
          await current.api.profile(id, 'del', 'pipe.run.text').catch(() => {});
          await current.api.profile(id, 'add', 'pipe.run.text', watch.instance).catch(() => {});
          watch.first = true;
        }
        const names = ['pipe.run.text', ...RUN_FACTS, ...(watch.first ? RUN_LABELS : [])];
        return current.api.fetchValues(id, names);
      });
      if (watch.cancelled) return;
      watch.first = false;
      const value = (name) => (values.get(name) || new Map()).get(watch.instance);
      const text = value('pipe.run.text');
      if (typeof text === 'string') appendText(watch, text);
      for (const [name, field] of [['pipe.run.owner', 'run-owner'], ['pipe.run.command', 'run-command'],
                                   ['pipe.run.params', 'run-params']]) {
        if (typeof value(name) === 'string') $(field).textContent = value(name);
      }
      const status = value('pipe.run.status');
      if (typeof status === 'string') $('run-status').textContent = status;
      const exit = value('pipe.run.exitstatus');
      if (typeof exit === 'number' && FINAL_STATUSES.has(status)) $('run-exit').textContent = String(exit);
      if (typeof value('pipe.run.lines') === 'number') $('run-lines').textContent = String(value('pipe.run.lines'));
      if (typeof value('pipe.run.dropped') === 'number') $('run-dropped').textContent = String(value('pipe.run.dropped'));
      if (FINAL_STATUSES.has(status)) {
        if (watch.finished) {     // this was the fetch after the end: nothing more will come
          $('stop-button').disabled = true;
          $('run-view').dataset.finished = 'true';
          refreshRuns().catch(() => {});   // the list shows the end now, not in 3 s
          return;
        }
        watch.finished = true;    // fetch once more for lines read just before the end
        delay = 0;
      }
    } catch (error) {
      if (watch.cancelled) return;
      showError(`${watch.run}: ${error.message}`);
      if (/not \(or no longer\) visible/.test(error.message)) {
        $('stop-button').disabled = true;
        return;
      }
      delay = 2000;
    }
    if (!watch.cancelled) watch.timer = setTimeout(() => pollRun(current, watch), delay);
  }

  const output = () => $('output');

  function nearBottom(pane) {
    return pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8;
  }

  /** Appends text as a text node, and drops the oldest lines beyond MAX_LINES from the page. */
  function appendText(watch, text) {
    // The agent hands over exactly what was read: whole lines end with a
    // newline; a long line's piece or a last line without one does not.
    if (text === '') return;
    const pane = output();
    const follow = nearBottom(pane);
    const node = document.createTextNode(text);
    const count = (text.match(/\n/g) || []).length;
    pane.append(node);
    watch.lines.push({ node, count });
    watch.lineCount += count;
    while (watch.lineCount > MAX_LINES && watch.lines.length > 1) {
      const oldest = watch.lines.shift();
      oldest.node.remove();
      watch.lineCount -= oldest.count;
    }
    if (follow) pane.scrollTop = pane.scrollHeight;
  }

  function appendNotice(watch, message) {
    const pane = output();
    const node = el('span', `[${message}]\n`, 'notice');
    pane.append(node);
    watch.lines.push({ node, count: 1 });
    watch.lineCount += 1;
  }

  // MARK: - The runs this login may read

  async function refreshRuns() {
    const current = session;
    if (!current) return;
    clearTimeout(current.runsTimer);
    try {
      const values = await current.control.exclusive(async (id) => {
        const fetched = await current.api.fetchValues(id, ['pipe.run.status', 'pipe.run.owner', 'pipe.run.params',
                                                           'pipe.run.command']);
        const instances = [...(fetched.get('pipe.run.status') || new Map()).keys()];
        if (instances.some((instance) => !current.runNames.has(instance))) {
          for (const [instance, name] of await current.api.instances(id, 'pipe.run.status')) {
            current.runNames.set(instance, name);
          }
        }
        return fetched;
      });
      if (session !== current) return;
      renderRuns(current, values);
    } catch (error) {
      if (session !== current) return;
      if (error instanceof ApiError && error.status === 401) {
        disconnect();
        showError(`pmproxy refused the login: ${error.message}`);
        return;
      }
      showError(`Refreshing the runs failed: ${error.message}`);
    }
    if (session === current) current.runsTimer = setTimeout(refreshRuns, RUNS_INTERVAL_MS);
  }

  function renderRuns(current, values) {
    const get = (name, instance) => (values.get(name) || new Map()).get(instance);
    const rows = [];
    for (const [instance, status] of values.get('pipe.run.status') || new Map()) {
      const run = current.runNames.get(instance);
      if (typeof run !== 'string') continue;
      rows.push({ run, status, owner: get('pipe.run.owner', instance), params: get('pipe.run.params', instance),
                  command: get('pipe.run.command', instance) });
    }
    rows.sort((a, b) => a.run.localeCompare(b.run, undefined, { numeric: true }));
    $('runs-empty').hidden = rows.length > 0;
    $('run-table').hidden = rows.length === 0;
    $('run-rows').replaceChildren(...rows.map((row) => {
      const tr = el('tr');
      tr.dataset.run = row.run;
      tr.append(el('td', row.run, 'mono'), el('td', row.owner ?? ''), el('td', row.params ?? '', 'mono'),
                el('td', row.status ?? ''));
      const cell = el('td');
      const button = el('button', 'Watch');
      button.type = 'button';
      button.setAttribute('aria-label', `Watch ${row.run}`);
      button.addEventListener('click', () => {
        clearError();
        watchRun(row.run, { command: row.command, params: row.params, owner: row.owner });
      });
      cell.append(button);
      tr.append(cell);
      return tr;
    }));
  }

  // MARK: - Wiring

  document.addEventListener('DOMContentLoaded', () => {
    $('login').addEventListener('submit', connect);
    $('disconnect-button').addEventListener('click', () => { clearError(); disconnect(); });
    $('stop-button').addEventListener('click', stopRun);
    $('clear-button').addEventListener('click', () => {
      if (session && session.watch) {
        session.watch.lines = [];
        session.watch.lineCount = 0;
      }
      output().replaceChildren();
    });
  });
})();
