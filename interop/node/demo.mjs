// `ostiary demo` in headless Chromium, as the reference's walk-through goes: the client application
// sends the browser to the authorization server, the demo user signs in and consents, the client
// shows the ID token's claims and userinfo, calls the resource server (a JWT route and an
// introspection route), and logs out — the server's front-channel logout reaching the client.
// Input (stdin, JSON): client_app, username, password, screenshots, tls. Output: {"steps": [...]}.
import { mkdirSync } from 'node:fs';
import { launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const { steps, step } = stepper();
mkdirSync(input.screenshots, { recursive: true });

const browser = await launchChromium();
try {
  // With --tls the demo's certificate is self-signed: the browser is told to go on.
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ignoreHTTPSErrors: !!input.tls });
  const page = await context.newPage();
  let shot = 0;
  const snap = async (name) => {
    shot += 1;
    await page.screenshot({ path: `${input.screenshots}/${String(shot).padStart(2, '0')}-${name}.png`, fullPage: true });
  };

  await page.goto(`${input.client_app}/`);
  step('signed out at first', (await page.textContent('#state')).includes('not signed in'));
  await snap('client-home');
  await page.click('a:has-text("Log in")');
  await page.waitForSelector('input[name="password"]');
  step('at the authorization server', !page.url().startsWith(input.client_app), page.url());
  await snap('login');
  await page.fill('input[name="username"]', input.username);
  await page.fill('input[name="password"]', input.password);
  await page.click('button[value="login"]');
  await page.waitForSelector('button[value="accept"], #id-token');
  if (await page.locator('button[value="accept"]').count()) {
    await snap('consent');
    await page.click('button[value="accept"]');
  }
  await page.waitForSelector('#id-token');
  const claims = await page.textContent('#id-token');
  step('ID token claims shown', claims.includes(input.username) || claims.includes('Demo User'), claims);
  step('userinfo shown', (await page.textContent('#userinfo')).includes('demo@example.com'));
  step('scope granted', (await page.textContent('#scope')).includes('reports:read'));
  await snap('profile');

  await page.click('button:has-text("Call the resource server")');
  const reports = await page.textContent('#reports');
  step('JWT route answered', reports.startsWith('200') && reports.includes('local JWT validation'), reports);
  const me = await page.textContent('#me');
  step('introspection route answered', me.startsWith('200') && me.includes('introspection')
    && me.includes('demo@example.com'), me);
  await snap('resource-server');

  await page.click('a:has-text("Back")');
  await page.click('button:has-text("Log out")');
  // The server ends the session, loads the clients' front-channel logout URIs, then returns.
  await page.waitForURL(`${input.client_app}/`, { timeout: 15000 });
  await page.waitForSelector('#state');
  step('signed out again', (await page.textContent('#state')).includes('not signed in'));
  const received = await page.textContent('#frontchannel');
  step('front-channel logout reached the client', /received from the server: [1-9]/.test(received), received);
  await snap('signed-out');

  // The server session is gone too: signing in asks for the password again.
  await page.click('a:has-text("Log in")');
  await page.waitForSelector('input[name="password"]');
  step('server session ended', true);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps }));
