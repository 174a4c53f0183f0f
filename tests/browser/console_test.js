// The admin console in Debian's chromium, driven by puppeteer-core
// (tests/browser/test_console.py prepares everything and runs this).
//
// Usage: node console_test.js CONFIG.json
// CONFIG: {puppeteer (module dir), chromium, admin_url, proxy_url, ca, out (downloads and
//          screenshots), screenshots (extra dir or null), admin_home, ops_home, curl_cert
//          (admin PEM cert/key for checks)}
//
// The admin session (the bootstrap ClusterAdmin, chosen by AutoSelectCertificateForUrls)
// creates a ValidUser, downloads its bundle, checks with curl that the bundle is
// authorized as that user, edits its database access (checked with curl), asks the
// policy, deletes it (curl is refused), imports PEM and PKCS#12 files, renews the server
// certificate and downloads the CA certificate. A page of another origin then posts a
// form and a JSON fetch to the admin API with the same browser: both are refused. The
// Operator session tries to create a ClusterAdmin and is refused. Any page error,
// console error, failed request or HTTP error the scenario does not expect fails it.
'use strict';

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const puppeteer = require(cfg.puppeteer);

const STEP_TIMEOUT = 15000;
const t0 = Date.now();

function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
}

async function launch(home, name) {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    userDataDir: fs.mkdtempSync(path.join(cfg.out, `profile-${name}-`)),
    env: { ...process.env, HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-default-apps', '--window-size=1280,1000'],
    defaultViewport: { width: 1280, height: 1000 },
    protocolTimeout: 60000,
  });
  return browser;
}

// watch fails the scenario on anything going wrong in |page| that |expected| (a list of
// {status, url (substring), method}) does not name; expected entries are consumed.
function watch(page, expected) {
  const problems = [];
  const isExpected = (status, url, method) => {
    const i = expected.findIndex((e) => e.status === status && url.includes(e.url) &&
      (!e.method || e.method === method));
    if (i >= 0) {
      expected[i].seen = true;
      return true;
    }
    return false;
  };
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warn') {
      return;
    }
    const text = msg.text();
    // Chromium's own line for an HTTP error the scenario expects (checked on 'response').
    const m = /status of (\d+)/.exec(text);
    const url = (msg.location() && msg.location().url) || '';
    if (m && expected.some((e) => e.status === Number(m[1]) && url.includes(e.url))) {
      return;
    }
    problems.push(`console.${msg.type()}: ${text} (${url})`);
  });
  page.on('requestfailed', (req) => {
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure().errorText}`);
  });
  page.on('response', (resp) => {
    const status = resp.status();
    if (status >= 400 && !isExpected(status, resp.url(), resp.request().method())) {
      problems.push(`HTTP ${status}: ${resp.request().method()} ${resp.url()}`);
    }
  });
  return {
    check(where) {
      assert.deepEqual(problems, [], `problems in the page (${where})`);
      const missing = expected.filter((e) => !e.seen);
      assert.deepEqual(missing, [], `expected responses that did not happen (${where})`);
    },
  };
}

function curl(args) {
  const out = execFileSync('curl', ['-sS', '--max-time', '20', '--cacert', cfg.ca,
    '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
  const i = out.lastIndexOf('\n');
  const body = out.slice(0, i);
  let json = null;
  try {
    json = JSON.parse(body);
  } catch (e) {
    json = null;
  }
  return { status: Number(out.slice(i + 1)), body, json };
}

function seenHeaders(json) {
  const h = {};
  for (const [n, v] of json.headers) {
    h[n.toLowerCase()] = v;
  }
  return h;
}

async function waitForFile(file) {
  const deadline = Date.now() + STEP_TIMEOUT;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) {
      return fs.readFileSync(file);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`download ${file} did not arrive`);
}

async function screenshot(page, name) {
  const file = path.join(cfg.out, name);
  await page.screenshot({ path: file, fullPage: true });
  if (cfg.screenshots) {
    fs.copyFileSync(file, path.join(cfg.screenshots, name));
  }
  log(`screenshot ${file}`);
}

async function notice(page, kind, part) {
  await page.waitForFunction((k, p) => {
    const n = document.getElementById('notice');
    return !n.hidden && n.classList.contains(k) && n.textContent.includes(p);
  }, { timeout: STEP_TIMEOUT }, kind, part);
}

async function rowNames(page) {
  return page.$$eval('#certs-body tr[data-name]', (rows) => rows.map((r) => r.dataset.name));
}

async function openConsole(page, who) {
  await page.goto(cfg.admin_url + '/ui/', { waitUntil: 'networkidle0' });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: STEP_TIMEOUT });
  assert.equal(await page.$eval('#who', (e) => e.textContent), who);
}

async function fillDatabases(page, fieldset, dbs) {
  await page.$$eval(`${fieldset} .db-row`, (rows) => rows.forEach((r) => r.remove()));
  for (const [i, [name, level]] of dbs.entries()) {
    await page.click(`${fieldset} .add-db`);
    const row = `${fieldset} .db-row:nth-child(${i + 1})`;
    await page.type(`${row} .db-name`, name);
    await page.select(`${row} .db-level`, level);
  }
}

async function confirmYes(page) {
  await page.waitForSelector('#confirm-dialog[open]', { timeout: STEP_TIMEOUT });
  await page.click('#confirm-yes');
}

// ---- the admin session ---------------------------------------------------------------

async function adminSession() {
  const downloads = path.join(cfg.out, 'downloads');
  fs.mkdirSync(downloads, { recursive: true });
  const browser = await launch(cfg.admin_home, 'admin');
  try {
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    const page = await browser.newPage();
    const w = watch(page, []);
    await openConsole(page, 'admin (ClusterAdmin)');
    log('console open as the bootstrap ClusterAdmin');
    assert.deepEqual((await rowNames(page)).sort(), ['admin', 'ops']);
    // GET /admin/status gives requests_total and denials_by_reason: the live view shows them.
    assert.match(await page.$eval('#st-rps', (e) => e.textContent), /^(measuring…|[0-9.]+)$/);
    assert.notEqual(await page.$eval('#st-denials', (e) => e.textContent), 'not available');
    const routes = await page.$$eval('#routes-body tr', (rows) => rows.length);
    assert.ok(routes >= 3, 'the routes of the policy in force are shown');

    // Create a ValidUser with a short lifetime (the list warns under 30 days).
    const name = 'orders-app';
    await page.click('#show-create');
    await page.type('#create-name', name);
    await page.select('#create-clearance', 'ValidUser');
    await page.$eval('#create-days', (e) => { e.value = ''; });
    await page.type('#create-days', '20');
    await fillDatabases(page, '#create-dbs', [['orders', 'ReadOnly'], ['catalog', 'ReadOnly']]);
    await page.type('#create-ips', '127.0.0.1, ::1');
    await page.click('#create-submit');
    await page.waitForSelector('#bundle-section:not([hidden])', { timeout: STEP_TIMEOUT });
    const password = await page.$eval('#bundle-password', (e) => e.textContent);
    const thumbprint = await page.$eval('#bundle-thumbprint', (e) => e.textContent);
    assert.match(password, /^[A-Za-z0-9]{24}$/);
    assert.match(thumbprint, /^[0-9A-F]{40}$/);
    await page.waitForFunction((n) => [...document.querySelectorAll('#certs-body tr')]
      .some((r) => r.dataset.name === n), { timeout: STEP_TIMEOUT }, name);
    const warn = await page.$eval(`#certs-body tr[data-name="${name}"] .badge.warn`,
      (e) => e.textContent);
    assert.match(warn, /^1[89] days left$/);
    log(`created ${name} (${thumbprint})`);
    await screenshot(page, 'console-created.png');

    // Download the bundle: PKCS#12 and the PEM files.
    for (const file of ['p12', 'crt', 'key', 'ca']) {
      await page.click(`#bundle-downloads button[data-file="${file}"]`);
    }
    const p12 = path.join(downloads, `${name}.p12`);
    const crt = path.join(downloads, `${name}.crt`);
    const key = path.join(downloads, `${name}.key`);
    await waitForFile(p12);
    assert.match((await waitForFile(crt)).toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.match((await waitForFile(key)).toString(), /PRIVATE KEY-----/);
    assert.equal((await waitForFile(path.join(downloads, 'ca.crt'))).toString(),
      fs.readFileSync(cfg.ca, 'utf8'));
    execFileSync('openssl', ['pkcs12', '-info', '-noout', '-in', p12, '-passin', `pass:${password}`],
      { stdio: 'pipe' });
    log('bundle downloaded (.p12 opens with the password shown, PEM files)');

    // The bundle is authorized as that user, with what the page granted.
    const asApp = ['--cert-type', 'P12', '--cert', `${p12}:${password}`];
    let r = curl([...asApp, cfg.proxy_url + '/databases/orders/docs']);
    assert.equal(r.status, 200, r.body);
    let hs = seenHeaders(r.json);
    assert.equal(hs['x-client-name'], name);
    assert.equal(hs['x-client-clearance'], 'ValidUser');
    assert.equal(hs['x-client-database-access'], 'ReadOnly');
    assert.equal(hs['x-client-cert-thumbprint'], thumbprint);
    r = curl(['--cert', crt, '--key', key, '-X', 'PUT', cfg.proxy_url + '/databases/orders/docs']);
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.reason, 'insufficient_clearance');
    log('curl: the new bundle reads orders as orders-app, and may not write');

    await page.click('#bundle-done');
    assert.equal(await page.$eval('#bundle-password', (e) => e.textContent), '');

    // Filter and sort.
    await page.type('#filter', 'orders');
    assert.deepEqual(await rowNames(page), [name]);
    await page.$eval('#filter', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
    await page.click('button.sort[data-sort="name"]'); // name, descending
    assert.deepEqual(await rowNames(page), [name, 'ops', 'admin']);
    await page.click('button.sort[data-sort="clearance"]');
    assert.deepEqual(await rowNames(page), ['admin', 'ops', name]);

    // Edit its database access.
    await page.click(`#certs-body tr[data-name="${name}"] button[data-action="edit"]`);
    await page.waitForSelector('#edit-dialog[open]', { timeout: STEP_TIMEOUT });
    assert.deepEqual(await page.$$eval('#edit-dbs .db-name', (es) => es.map((e) => e.value)),
      ['orders', 'catalog']);
    await fillDatabases(page, '#edit-dbs', [['orders', 'ReadWrite']]);
    await page.click('#edit-save');
    await notice(page, 'ok', `Saved ${name}`);
    r = curl([...asApp, '-X', 'PUT', cfg.proxy_url + '/databases/orders/docs']);
    assert.equal(r.status, 200, r.body);
    assert.equal(seenHeaders(r.json)['x-client-database-access'], 'ReadWrite');
    r = curl([...asApp, cfg.proxy_url + '/databases/catalog/x']);
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.reason, 'database_not_allowed');
    log('edited: orders ReadWrite (curl writes), catalog removed (curl refused)');

    // Ask the policy about it.
    await page.$eval('#explain-method', (e) => { e.value = ''; });
    await page.type('#explain-method', 'PUT');
    await page.$eval('#explain-path', (e) => { e.value = ''; });
    await page.type('#explain-path', '/databases/orders/docs');
    await page.$eval('#explain-cert', (e, pem) => { e.value = pem; }, fs.readFileSync(crt, 'utf8'));
    await page.click('#explain-form button[type=submit]');
    await page.waitForSelector('#explain-result:not([hidden])', { timeout: STEP_TIMEOUT });
    const verdict = await page.$eval('#explain-result .verdict', (e) => e.textContent);
    assert.match(verdict, /^allow \(ok/);
    const explained = await page.$eval('#explain-result', (e) => e.textContent);
    assert.ok(explained.includes(`${name} (ValidUser), matched by thumbprint`), explained);
    assert.ok(explained.includes('X-Client-Database-Access'), explained);
    await screenshot(page, 'console.png');

    // Delete it, with confirmation.
    await page.click(`#certs-body tr[data-name="${name}"] button[data-action="delete"]`);
    await confirmYes(page);
    await notice(page, 'ok', `Deleted ${name}`);
    assert.ok(!(await rowNames(page)).includes(name));
    r = curl([...asApp, cfg.proxy_url + '/databases/orders/docs']);
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.reason, 'unknown_certificate');
    log('deleted: curl with the bundle is refused (unknown_certificate)');

    // Import the same certificate back, as PEM, then as PKCS#12.
    await page.click('#show-import');
    await page.type('#import-name', 'imported-pem');
    await fillDatabases(page, '#import-dbs', [['orders', 'ReadOnly']]);
    await (await page.$('#import-file')).uploadFile(crt);
    await page.click('#import-form button[type=submit]');
    await notice(page, 'ok', 'Imported imported-pem');
    r = curl([...asApp, cfg.proxy_url + '/databases/orders/docs']);
    assert.equal(r.status, 200, r.body);
    assert.equal(seenHeaders(r.json)['x-client-name'], 'imported-pem');
    await page.click('#certs-body tr[data-name="imported-pem"] button[data-action="delete"]');
    await confirmYes(page);
    await notice(page, 'ok', 'Deleted imported-pem');
    await page.click('#show-import');
    await page.type('#import-name', 'imported-p12');
    await (await page.$('#import-file')).uploadFile(p12);
    await page.type('#import-password', password);
    await page.click('#import-form button[type=submit]');
    await notice(page, 'ok', 'Imported imported-p12');
    r = curl([...asApp, cfg.proxy_url + '/anything']);
    assert.equal(r.status, 200, r.body);
    assert.equal(seenHeaders(r.json)['x-client-name'], 'imported-p12');
    log('imported the certificate back from its PEM file, then from its .p12');

    // Server certificates: renew, and the CA certificate download.
    const before = await page.$eval('#server-body', (e) => e.textContent);
    assert.ok(before.includes('tls.crt'), before);
    await page.click('#renew');
    await confirmYes(page);
    await notice(page, 'ok', 'Renewed');
    fs.rmSync(path.join(downloads, 'ca.crt'));
    await page.click('#ca-download');
    assert.equal((await waitForFile(path.join(downloads, 'ca.crt'))).toString(),
      fs.readFileSync(cfg.ca, 'utf8'));
    log('renewed the server certificate; downloaded the CA certificate');
    w.check('admin session');

    await crossOrigin(browser);
    await page.close();
  } finally {
    await browser.close();
  }
}

// crossOrigin opens a page of another origin in the same browser (which presents the
// admin certificate to the admin listener whenever asked) and lets it attack the admin
// API: a form post, which needs no preflight, and a JSON fetch, which does.
async function crossOrigin(browser) {
  const target = cfg.admin_url + '/admin/certificates';
  const evil = `<!doctype html><title>evil</title>
<form id="f" method="POST" action="${target}" enctype="text/plain">
<input name='{"name":"pwned-form","clearance":"ClusterAdmin","x":"' value='"}'>
</form>
<script>
window.fetchResult = fetch(${JSON.stringify(target)}, {method: 'POST', credentials: 'include',
  headers: {'Content-Type': 'application/json'},
  body: JSON.stringify({name: 'pwned-fetch', clearance: 'ClusterAdmin'})})
  .then((r) => 'answered ' + r.status, (e) => 'refused: ' + e.message);
</script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(evil);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  try {
    const page = await browser.newPage();
    await page.goto(origin + '/', { waitUntil: 'load' });
    // The fetch: its CORS preflight gets no grant, so the POST is never sent.
    const fetched = await page.evaluate(() => window.fetchResult);
    assert.match(fetched, /^refused: /);
    // The form: sent (no preflight for a form), and refused by the admin API.
    const [resp] = await Promise.all([
      page.waitForNavigation({ timeout: STEP_TIMEOUT }),
      page.$eval('#f', (f) => f.submit()),
    ]);
    assert.equal(resp.status(), 403);
    const answer = JSON.parse(await page.$eval('body', (b) => b.innerText));
    assert.ok(['cross_origin_request', 'cross_site_request'].includes(answer.reason), answer.reason);
    await page.close();
    const list = curl(['--cert', cfg.curl_cert[0], '--key', cfg.curl_cert[1],
      cfg.admin_url + '/admin/certificates']);
    const names = list.json.certificates.map((c) => c.name);
    assert.ok(!names.includes('pwned-form') && !names.includes('pwned-fetch'), names.join(','));
    log(`another origin: its form post was refused (${answer.reason}), its JSON fetch ` +
        `stopped by the preflight (${fetched}); nothing was created`);
  } finally {
    server.close();
  }
}

// ---- the Operator session ------------------------------------------------------------

async function operatorSession() {
  const browser = await launch(cfg.ops_home, 'ops');
  try {
    const page = await browser.newPage();
    const w = watch(page, [{ status: 403, url: '/admin/certificates', method: 'POST' }]);
    await openConsole(page, 'ops (Operator)');
    await page.click('#show-create');
    await page.type('#create-name', 'ops-made-admin');
    await page.select('#create-clearance', 'ClusterAdmin');
    await page.click('#create-submit');
    await notice(page, 'error', '403: insufficient_clearance');
    assert.ok(!(await rowNames(page)).includes('ops-made-admin'));
    await screenshot(page, 'console-operator-refused.png');
    const list = curl(['--cert', cfg.curl_cert[0], '--key', cfg.curl_cert[1],
      cfg.admin_url + '/admin/certificates']);
    assert.ok(!list.json.certificates.some((c) => c.name === 'ops-made-admin'));
    log('Operator: creating a ClusterAdmin was refused (403 insufficient_clearance)');
    w.check('operator session');
  } finally {
    await browser.close();
  }
}

(async () => {
  try {
    await adminSession();
    await operatorSession();
    log('all checks passed');
  } catch (err) {
    console.error(err && err.stack ? err.stack : err);
    process.exitCode = 1;
  }
})();
