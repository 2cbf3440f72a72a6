// The management portal in headless Chromium, as an operator uses it: log in, create a client
// description and see it listed, edit a field, rotate keys and see a new kid in /jwks, revoke a
// user's tokens and see introspection turn inactive, discover a server description and register a
// client configuration dynamically. A screenshot of each page goes to input.screenshots.
// Input (stdin, JSON): base, issuer, username, password, screenshots, user, user_token,
// introspect_id, introspect_secret. Output: {"steps": [...]}.
import { mkdirSync } from 'node:fs';
import { launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const { steps, step } = stepper();
mkdirSync(input.screenshots, { recursive: true });

const kids = async () => {
  const jwks = await (await fetch(`${input.issuer}/jwks`)).json();
  return jwks.keys.map((k) => k.kid);
};
const introspect = async (token) => {
  const basic = Buffer.from(`${input.introspect_id}:${input.introspect_secret}`).toString('base64');
  const response = await fetch(`${input.issuer}/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  return response.json();
};

const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  let shot = 0;
  const snap = async (name) => {
    shot += 1;
    await page.screenshot({ path: `${input.screenshots}/${String(shot).padStart(2, '0')}-${name}.png`, fullPage: true });
  };

  // 1. Log in.
  await page.goto(`${input.base}/admin`);
  step('sent to the login page', page.url().endsWith('/admin/login'), page.url());
  await snap('login');
  await page.fill('#username', input.username);
  await page.fill('#password', input.password);
  await page.click('button:has-text("Log in")');
  await page.waitForURL(`${input.base}/admin`);
  step('logged in', (await page.textContent('h1')) === 'Dashboard', await page.textContent('main'));
  await snap('dashboard');

  // 2. A client description: created, listed, edited.
  await page.click('header a:has-text("Client descriptions")');
  await snap('clients-empty');
  await page.click('a:has-text("Create a client description")');
  await page.fill('[name="name"]', 'Billing');
  await page.fill('[name="grant_types"]', 'client_credentials');
  await page.fill('[name="redirect_uris"]', '');
  await snap('client-new');
  await page.click('button:has-text("Save")');
  const secret = (await page.textContent('#client-secret')).trim();
  step('secret shown once', secret.length >= 32, secret);
  await snap('client-secret');
  await page.click('a:has-text("Done")');
  await page.click('header a:has-text("Client descriptions")');
  step('listed', (await page.textContent('table')).includes('Billing'));
  await snap('clients');
  await page.click('table a');
  await page.fill('[name="description"]', 'Pays the bills');
  await page.click('form button:has-text("Save")');
  step('edited', (await page.textContent('.notice')) === 'Saved.'
    && (await page.inputValue('[name="description"]')) === 'Pays the bills');
  await snap('client-edited');

  // 3. Rotate keys: a new kid is published (the server re-reads its keys within 2 s).
  const before = await kids();
  await page.click('header a:has-text("Authorization server")');
  await snap('server-general');
  await page.click('.tabs a:has-text("JWT Settings")');
  await snap('server-jwt');
  await page.click('button:has-text("Rotate keys")');
  await new Promise((r) => setTimeout(r, 2500));
  const after = await kids();
  step('new kid in /jwks', after.some((k) => !before.includes(k)), { before, after });

  // 4. Revoke a user's tokens: introspection turns inactive.
  step('token active before', (await introspect(input.user_token)).active === true);
  await page.click('header a:has-text("Users")');
  await snap('users');
  await page.click(`table a:has-text("${input.user}")`);
  await snap('user');
  await page.click('button:has-text("Revoke every token of this user")');
  step('revoked', (await page.textContent('.notice')).includes('tokens revoked'));
  step('token inactive after', (await introspect(input.user_token)).active === false);

  // 5. The client side: Discover and Save, then Dynamic Registration and Save.
  await page.click('header a:has-text("Server descriptions")');
  await page.fill('#issuer', input.issuer);
  await page.click('button:has-text("Discover and Save")');
  step('discovered', (await page.textContent('h1')).includes('Server description'));
  await snap('server-description');
  await page.fill('#app', 'portal-app');
  await page.fill('#metadata', '{"grant_types": ["client_credentials"], "client_name": "Portal app"}');
  await page.click('button:has-text("Register and Save")');
  step('registered', (await page.textContent('h1')) === 'Client configuration portal-app'
    && (await page.inputValue('[name="client_id"]')).length > 0);
  await snap('client-configuration');
  await page.click('header a:has-text("Server descriptions")');
  step('one configuration listed', (await page.textContent('table tbody')).includes('1'));
  await snap('server-descriptions');

  await page.click('header a:has-text("Activity")');
  await snap('activity');
  await page.click('header a:has-text("Dashboard")');
  step('dashboard chart', (await page.locator('#issued-chart rect').count()) === 60);
  await snap('dashboard-after');

  // 6. Everything above is in the audit log.
  await page.click('header a:has-text("Audit log")');
  const audit = await page.textContent('table');
  step('audited', ['client.create', 'client.update', 'keys.rotate', 'tokens.revoke_user',
    'server_description.discover', 'client_configuration.register'].every((a) => audit.includes(a)), audit);
  await snap('audit');
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps }));
