// certgate console: the admin API (docs/operations.md "Admin API") in a page.
//
// Served from the admin listener itself and talking to it with fetch(): same origin, so
// the API's refusal of cross-site calls (Origin, Sec-Fetch-Site, application/json)
// lets these through and nothing else. The DOM is built with textContent and
// createElement only (the Content-Security-Policy requires Trusted Types for HTML
// sinks, and entry names are arbitrary text). Secrets of a new bundle (its key and
// password) live in one object until "Done", and are never stored.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // ---- state -------------------------------------------------------------------------

  const state = {
    etag: null, // ETag of the policy generation, sent back in If-Match
    certs: [], // GET /admin/certificates
    sort: { key: 'name', dir: 1 },
    me: null, // GET /admin/whoami
    lastRequests: null, // {total, at} for requests per second
    bundle: null, // the certificate just created, until "Done"
  };

  // ---- the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const reason = body && (body.reason || body.error);
      super(`${status}${reason ? ': ' + reason : ''}`);
      this.status = status;
      this.body = body;
    }
  }

  // Each change reloads what it changed before it says it is done, so that the message
  // and the page agree.
  //
  // api calls the admin API. A JSON body is sent as application/json (which also makes
  // the call one that no other site can make without a CORS preflight); state-changing
  // calls carry If-Match with the policy generation of the certificate list the operator
  // is looking at, so that a change made meanwhile elsewhere answers 412.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && state.etag) {
      headers['If-Match'] = state.etag;
    }
    const resp = await fetch(path, init);
    const type = resp.headers.get('Content-Type') || '';
    const data = type.startsWith('application/json') ? await resp.json() : await resp.text();
    if (!resp.ok) {
      throw new ApiError(resp.status, typeof data === 'object' ? data : null);
    }
    return { data, etag: resp.headers.get('ETag') };
  }

  // ---- small DOM helpers ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') {
        e.className = v;
      } else if (k === 'text') {
        e.textContent = v;
      } else if (k.startsWith('data-') || k === 'title' || k === 'type' || k.startsWith('aria-')) {
        e.setAttribute(k, v);
      } else {
        e[k] = v;
      }
    }
    for (const c of children) {
      if (c !== null && c !== undefined) {
        e.append(c);
      }
    }
    return e;
  }

  function notice(text, kind) {
    $('notice-text').textContent = text;
    $('notice').className = 'notice ' + (kind || 'info');
    $('notice').hidden = false;
  }

  function failed(what, err) {
    if (err instanceof ApiError && err.status === 412) {
      notice(`${what}: the policy changed meanwhile (another operator or a reload); ` +
             'the page now shows the current one, please try again.', 'error');
      refresh();
      return;
    }
    notice(`${what} failed: ${err.message}`, 'error');
  }

  function daysUntil(iso) {
    const t = Date.parse(iso);
    return Number.isNaN(t) ? null : Math.floor((t - Date.now()) / 86400000);
  }

  // expiry renders an expiry time with a warning under 30 days.
  function expiry(iso) {
    if (!iso) {
      return el('span', { class: 'muted', text: '—' });
    }
    const days = daysUntil(iso);
    const span = el('span', { text: iso.replace('T', ' ').replace('Z', ' UTC') });
    if (days !== null && days < 0) {
      span.className = 'expired';
      span.append(el('span', { class: 'badge bad', text: 'expired' }));
    } else if (days !== null && days < 30) {
      span.className = 'expiring';
      span.append(el('span', { class: 'badge warn', text: `${days} days left` }));
    }
    return span;
  }

  function duration(s) {
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
  }

  function safeFileName(name) {
    return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'certificate';
  }

  function download(fileName, data, type) {
    const url = URL.createObjectURL(new Blob([data], { type }));
    const a = el('a', { href: url, download: fileName });
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // generatePassword makes a bundle password like the server's (pki/password.c): 24
  // letters and digits without look-alikes, from the browser's CSPRNG.
  function generatePassword() {
    const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    const limit = 256 - (256 % alphabet.length);
    let out = '';
    while (out.length < 24) {
      for (const b of crypto.getRandomValues(new Uint8Array(32))) {
        if (b < limit && out.length < 24) {
          out += alphabet[b % alphabet.length];
        }
      }
    }
    return out;
  }

  function splitList(text) {
    return text.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s !== '');
  }

  function base64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function unbase64(text) {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      out[i] = s.charCodeAt(i);
    }
    return out;
  }

  // ---- database editors ----------------------------------------------------------------

  function addDbRow(fieldset, name, level) {
    const row = $('db-row').content.firstElementChild.cloneNode(true);
    row.querySelector('.db-name').value = name || '';
    row.querySelector('.db-level').value = level || 'ReadOnly';
    row.querySelector('.remove-db').addEventListener('click', () => row.remove());
    fieldset.querySelector('.db-rows').append(row);
  }

  function setDbs(fieldset, dbs) {
    fieldset.querySelector('.db-rows').replaceChildren();
    for (const [name, level] of Object.entries(dbs || {})) {
      addDbRow(fieldset, name, level);
    }
  }

  function readDbs(fieldset) {
    const dbs = {};
    for (const row of fieldset.querySelectorAll('.db-row')) {
      const name = row.querySelector('.db-name').value.trim();
      if (name !== '') {
        dbs[name] = row.querySelector('.db-level').value;
      }
    }
    return dbs;
  }

  for (const fs of document.querySelectorAll('fieldset.dbs')) {
    fs.querySelector('.add-db').addEventListener('click', () => addDbRow(fs));
  }

  // ---- confirmation --------------------------------------------------------------------

  function confirmAction(title, text, yes) {
    return new Promise((resolve) => {
      const d = $('confirm-dialog');
      $('confirm-title').textContent = title;
      $('confirm-text').textContent = text;
      $('confirm-yes').textContent = yes;
      const done = (answer) => {
        $('confirm-yes').onclick = null;
        $('confirm-no').onclick = null;
        d.close();
        resolve(answer);
      };
      $('confirm-yes').onclick = () => done(true);
      $('confirm-no').onclick = () => done(false);
      d.addEventListener('cancel', () => resolve(false), { once: true });
      d.showModal();
    });
  }

  // ---- client certificates -------------------------------------------------------------

  function sortValue(c, key) {
    switch (key) {
      case 'databases':
        return Object.keys(c.databases || {}).join(',').toLowerCase();
      case 'thumbprint':
        return (c.thumbprints || [])[0] || '';
      case 'expires':
        return c.expires || '9999';
      case 'pins':
        return (c.pins || []).length;
      case 'clearance':
        return { ClusterAdmin: 0, Operator: 1, ValidUser: 2 }[c.clearance] ?? 3;
      default:
        return (c.name || '').toLowerCase();
    }
  }

  // certCount counts the certificates of an entry: each is registered by its SHA-1 and
  // its SHA-256 thumbprint (or by one of them, in a hand-written policy).
  function certCount(c) {
    const tps = c.thumbprints || [];
    const sha1 = tps.filter((t) => t.replace(/:/g, '').length === 40).length;
    return Math.max(sha1, tps.length - sha1);
  }

  function matches(c, q) {
    if (!q) {
      return true;
    }
    const hay = [c.name, c.clearance, ...Object.keys(c.databases || {}),
      ...(c.thumbprints || []), ...(c.allow_ips || [])].join(' ').toLowerCase();
    return q.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
  }

  function renderCerts() {
    const q = $('filter').value.trim();
    const { key, dir } = state.sort;
    const rows = state.certs.filter((c) => matches(c, q)).sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    const body = $('certs-body');
    body.replaceChildren();
    for (const c of rows) {
      const tp = (c.thumbprints || [])[0] || '';
      const dbs = c.clearance === 'ValidUser'
        ? Object.entries(c.databases || {}).map(([n, l]) => `${n}: ${l}`).join(', ') || '—'
        : 'all (Admin)';
      const pins = (c.pins || []).map((p) => p.spki_sha256 || '').filter(Boolean);
      const ips = c.allow_ips ? el('div', { class: 'muted small', text: 'from ' + c.allow_ips.join(', ') }) : null;
      const edit = el('button', { type: 'button', class: 'link', text: 'Edit', 'data-action': 'edit' });
      const del = el('button', { type: 'button', class: 'link danger', text: 'Delete', 'data-action': 'delete' });
      edit.addEventListener('click', () => openEdit(c));
      del.addEventListener('click', () => deleteCert(c));
      body.append(el('tr', { 'data-name': c.name, 'data-thumbprint': tp },
        el('td', {}, el('strong', { text: c.name }), ips),
        el('td', {}, el('span', { class: 'badge ' + c.clearance, text: c.clearance })),
        el('td', { text: dbs }),
        el('td', { class: 'mono', title: (c.thumbprints || []).join('\n') },
          tp ? tp.slice(0, 16) + '…' : '—',
          certCount(c) > 1 ? el('span', { class: 'muted', text: ` (${certCount(c)} certificates)` }) : null),
        el('td', {}, expiry(c.expires)),
        el('td', { class: 'mono', title: pins.join('\n'), text: pins.length ? `${pins.length} (${pins[0].slice(0, 10)}…)` : '—' }),
        el('td', { class: 'row-actions' }, edit, del)));
    }
    if (rows.length === 0) {
      body.append(el('tr', {}, el('td', { colSpan: 7, class: 'muted', text: q ? 'No certificate matches the filter.' : 'No client certificate is registered.' })));
    }
    $('cert-count').textContent = `${rows.length} of ${state.certs.length}`;
    for (const b of document.querySelectorAll('button.sort')) {
      b.classList.toggle('sorted', b.dataset.sort === key);
      b.classList.toggle('desc', b.dataset.sort === key && dir < 0);
    }
  }

  async function loadCerts() {
    const { data, etag } = await api('GET', '/admin/certificates');
    state.etag = etag;
    state.certs = data.certificates || [];
    renderCerts();
  }

  for (const b of document.querySelectorAll('button.sort')) {
    b.addEventListener('click', () => {
      const key = b.dataset.sort;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderCerts();
    });
  }
  $('filter').addEventListener('input', renderCerts);

  // ---- create --------------------------------------------------------------------------

  function showOnly(section) {
    for (const id of ['create-section', 'import-section']) {
      $(id).hidden = id !== section;
    }
  }

  $('show-create').addEventListener('click', () => {
    showOnly('create-section');
    $('create-name').focus();
  });
  $('show-import').addEventListener('click', () => {
    showOnly('import-section');
    $('import-name').focus();
  });
  for (const b of document.querySelectorAll('section .cancel')) {
    b.addEventListener('click', () => showOnly(null));
  }

  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('create-name').value.trim();
    const password = generatePassword();
    const body = {
      name,
      clearance: $('create-clearance').value,
      databases: readDbs($('create-dbs')),
      days: Number($('create-days').value),
      password,
      format: 'pem',
    };
    const ips = splitList($('create-ips').value);
    if (ips.length > 0) {
      body.allow_ips = ips;
    }
    $('create-submit').disabled = true;
    try {
      const { data: r } = await api('POST', '/admin/certificates', body);
      state.bundle = { name, password, ...r };
      $('bundle-name').textContent = name;
      $('bundle-password').textContent = password;
      $('bundle-thumbprint').textContent = r.thumbprint;
      $('bundle-section').hidden = false;
      $('create-form').reset();
      setDbs($('create-dbs'), {});
      showOnly(null);
      await loadCerts();
      notice(`Created ${name}: download its bundle below.`, 'ok');
      $('bundle-section').scrollIntoView({ block: 'nearest' });
    } catch (err) {
      failed(`Creating ${name}`, err);
    } finally {
      $('create-submit').disabled = false;
    }
  });

  $('bundle-downloads').addEventListener('click', (ev) => {
    const which = ev.target.dataset && ev.target.dataset.file;
    const b = state.bundle;
    if (!which || !b) {
      return;
    }
    const base = safeFileName(b.name);
    if (which === 'p12') {
      download(`${base}.p12`, unbase64(b.pkcs12_base64), 'application/x-pkcs12');
    } else if (which === 'crt') {
      download(`${base}.crt`, b.certificate, 'application/x-pem-file');
    } else if (which === 'key') {
      download(`${base}.key`, b.key, 'application/x-pem-file');
    } else if (which === 'ca') {
      download('ca.crt', b.ca, 'application/x-pem-file');
    }
  });

  $('bundle-done').addEventListener('click', () => {
    state.bundle = null;
    $('bundle-password').textContent = '';
    $('bundle-section').hidden = true;
  });

  // ---- import --------------------------------------------------------------------------

  $('import-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const file = $('import-file').files[0];
    const name = $('import-name').value.trim();
    if (!file) {
      return;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    const body = {
      name,
      clearance: $('import-clearance').value,
      databases: readDbs($('import-dbs')),
    };
    if (text.includes('-----BEGIN')) {
      body.certificate = text;
    } else if (/\.(p12|pfx)$/i.test(file.name)) {
      body.pkcs12_base64 = base64(bytes);
    } else {
      // A DER certificate: the API takes PEM text.
      const b64 = base64(bytes).replace(/(.{64})/g, '$1\n');
      body.certificate = `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
    }
    if ($('import-password').value !== '') {
      body.password = $('import-password').value;
    }
    try {
      await api('POST', '/admin/certificates/import', body);
      $('import-form').reset();
      setDbs($('import-dbs'), {});
      showOnly(null);
      await loadCerts();
      notice(`Imported ${name}.`, 'ok');
    } catch (err) {
      failed(`Importing ${name}`, err);
    }
  });

  // ---- edit and delete -----------------------------------------------------------------

  let editing = null;

  function openEdit(c) {
    editing = c;
    $('edit-name').textContent = c.name;
    $('edit-thumbprint').textContent = (c.thumbprints || [])[0] || '';
    $('edit-clearance').value = c.clearance;
    setDbs($('edit-dbs'), c.databases);
    $('edit-ips').value = (c.allow_ips || []).join(', ');
    $('edit-dialog').showModal();
  }

  $('edit-dialog').querySelector('.cancel').addEventListener('click', () => $('edit-dialog').close());

  $('edit-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = editing;
    const ips = splitList($('edit-ips').value);
    const body = {
      clearance: $('edit-clearance').value,
      databases: readDbs($('edit-dbs')),
      allow_ips: ips.length > 0 ? ips : null,
    };
    try {
      await api('PUT', '/admin/certificates/' + encodeURIComponent(c.thumbprints[0]), body);
      $('edit-dialog').close();
      await loadCerts();
      notice(`Saved ${c.name}.`, 'ok');
    } catch (err) {
      $('edit-dialog').close();
      failed(`Editing ${c.name}`, err);
    }
  });

  async function deleteCert(c) {
    const ok = await confirmAction(`Delete ${c.name}?`,
      `Every certificate of this entry (${(c.thumbprints || []).length}) is refused from its ` +
      'next request, also on connections already open.', 'Delete');
    if (!ok) {
      return;
    }
    try {
      await api('DELETE', '/admin/certificates/' + encodeURIComponent(c.thumbprints[0]));
      await loadCerts();
      notice(`Deleted ${c.name}.`, 'ok');
    } catch (err) {
      failed(`Deleting ${c.name}`, err);
    }
  }

  // ---- server certificates, status, policy --------------------------------------------

  function renderServerCerts(status) {
    const listener = (status.listeners || []).find((l) => l.name === status.admin_listener);
    const body = $('server-body');
    body.replaceChildren();
    for (const c of (listener && listener.certificates) || []) {
      body.append(el('tr', {}, el('td', { text: c.subject }), el('td', { class: 'mono small', text: c.file }),
        el('td', {}, expiry(c.not_after))));
    }
  }

  function renderStatus(status) {
    $('st-generation').textContent = status.generation;
    $('st-reloads').textContent = status.reloads;
    $('st-reload-failures').textContent = status.reload_failures;
    $('st-reload-failures').classList.toggle('bad', status.reload_failures > 0);
    $('st-connections').textContent = status.connections;
    $('st-uptime').textContent = duration(status.uptime_s);
    // Request counters come from the status and metrics work: shown when the status
    // has them, and never guessed.
    if (typeof status.requests_total === 'number') {
      const now = Date.now();
      const last = state.lastRequests;
      $('st-rps').textContent = last && now > last.at
        ? ((status.requests_total - last.total) * 1000 / (now - last.at)).toFixed(1)
        : 'measuring…';
      state.lastRequests = { total: status.requests_total, at: now };
    } else {
      $('st-rps').textContent = 'not available';
    }
    const denials = status.denials_by_reason;
    if (denials && typeof denials === 'object') {
      const list = Object.entries(denials).filter(([, n]) => n > 0);
      $('st-denials').textContent = list.length ? list.map(([r, n]) => `${r}: ${n}`).join(', ') : 'none';
    } else {
      $('st-denials').textContent = 'not available';
    }
    for (const id of ['st-rps', 'st-denials']) {
      $(id).classList.toggle('muted', $(id).textContent === 'not available');
    }
    renderServerCerts(status);
  }

  async function loadStatus() {
    renderStatus((await api('GET', '/admin/status')).data);
  }

  async function loadPolicy() {
    const { data } = await api('GET', '/admin/policy');
    const p = data.policy;
    const hostLabel = (name) => name === '' ? "the listener's own" : name;
    $('policy-host').textContent = hostLabel(data.host);
    $('policy-file').textContent = data.file || '(none)';
    const hosts = $('hosts-body');
    hosts.replaceChildren();
    for (const h of data.hosts) {
      hosts.append(el('tr', {},
        el('td', { text: hostLabel(h.name) + (h.managed ? ' (managed here)' : '') }),
        el('td', { class: 'mono', text: h.names.length ? h.names.join(', ') : 'every other name' }),
        el('td', { text: h.upstream }),
        el('td', { class: 'mono', text: h.paths.map((r) => `${r.prefix} → ${r.upstream}`).join(', ') || '—' }),
        el('td', { class: 'mono', text: h.policy_file || '(none)' }),
        el('td', { text: String(h.generation) })));
    }
    $('hosts').hidden = data.hosts.length < 2;
    $('policy-generation').textContent = data.generation;
    $('policy-mode').textContent = p.mode;
    $('policy-ips').textContent = p.allow_ips === null ? 'any' : p.allow_ips.length ? p.allow_ips.join(', ') : 'none';
    const body = $('routes-body');
    body.replaceChildren();
    for (const r of p.routes) {
      const db = r.database;
      const dbText = !db ? '—' : db.source === 'path' ? '{db} in the path'
        : db.source === 'fixed' ? db.name : `query parameter ${db.param}`;
      body.append(el('tr', {},
        el('td', { text: String(r.index) }),
        el('td', { class: 'mono', text: r.path }),
        el('td', { text: r.methods ? r.methods.join(', ') : 'any' }),
        el('td', {}, el('span', { class: 'badge ' + r.require, text: r.require })),
        el('td', { text: dbText }),
        el('td', { text: r.mode })));
    }
  }

  $('renew').addEventListener('click', async () => {
    const ok = await confirmAction('Renew the server certificates?',
      'Every serving certificate issued by the private CA is replaced by a new one with a ' +
      'fresh key; new handshakes get it at once, open connections are not touched.', 'Renew');
    if (!ok) {
      return;
    }
    try {
      const { data: r } = await api('POST', '/admin/server-certificate/renew');
      await loadStatus();
      notice(`Renewed ${r.renewed.map((x) => x.file).join(', ')}.`, 'ok');
    } catch (err) {
      failed('Renewing', err);
    }
  });

  // ---- explain -------------------------------------------------------------------------

  function renderExplain(x) {
    const dl = $('explain-result');
    dl.replaceChildren();
    const row = (k, v, cls) => dl.append(el('dt', { text: k }), el('dd', { class: cls || '', text: v }));
    const verdict = x.decision === 'deny' ? 'bad' : x.decision === 'audit' ? 'warn' : 'ok';
    row('Decision', `${x.decision} (${x.reason}${x.status ? ', HTTP ' + x.status : ''})`, 'verdict ' + verdict);
    row('Route', x.route ? `#${x.route.index} ${x.route.path} requires ${x.route.require}` : 'none matched');
    if (x.database) {
      row('Database', `${x.database.name} (from the ${x.database.source}), level ${x.database.level || '—'}`);
    }
    row('Certificate', x.certificate ? `${x.certificate.subject}, SHA-1 ${x.certificate.sha1}` : 'none');
    if (x.entry) {
      row('Entry', `${x.entry.name} (${x.entry.clearance}), matched by ${x.entry.matched_by}`);
    }
    for (const h of [...x.headers, ...x.forwarded]) {
      row(h.name, h.value.length > 80 ? h.value.slice(0, 60) + '…' : h.value, 'mono');
    }
    for (const n of x.notes) {
      row('Note', n, 'muted');
    }
    dl.hidden = false;
  }

  $('explain-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { method: $('explain-method').value.trim(), path: $('explain-path').value.trim() };
    for (const [key, id] of [['ip', 'explain-ip'], ['host', 'explain-host'], ['certificate', 'explain-cert']]) {
      const v = $(id).value.trim();
      if (v !== '') {
        body[key] = v;
      }
    }
    try {
      renderExplain((await api('POST', '/admin/explain', body)).data);
    } catch (err) {
      failed('Explaining', err);
    }
  });

  // ---- start ---------------------------------------------------------------------------

  $('notice-close').addEventListener('click', () => {
    $('notice').hidden = true;
  });

  async function refresh() {
    try {
      await Promise.all([loadCerts(), loadStatus(), loadPolicy()]);
      document.body.dataset.loaded = 'true';
    } catch (err) {
      failed('Loading', err);
    }
  }

  async function start() {
    try {
      state.me = (await api('GET', '/admin/whoami')).data;
      $('who').textContent = `${state.me.name} (${state.me.clearance})`;
      $('listener-name').textContent = state.me.host ? `${state.me.listener}, host ${state.me.host}`
        : state.me.listener;
    } catch (err) {
      failed('Signing in', err);
      return;
    }
    await refresh();
    setInterval(() => {
      if (document.visibilityState === 'visible') {
        loadStatus().catch((err) => failed('Status', err));
      }
    }, 5000);
  }

  start();
})();
