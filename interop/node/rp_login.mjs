// Drives headless Chromium through an application that uses Ostiary's login layer against node
// oidc-provider: the application sends the browser to the provider, whose development pages ask
// for a login and for consent, and the browser comes back to the application signed in.
//
// stdin: {"start_url", "login", "password", "expect"}: `expect` is text the application's page
// shows once signed in. stdout: {"steps": [...], "page": the page's text}; exit 1 on a failure.
import { launchChromium, readInput, stepper } from './lib.mjs';

const input = await readInput();
const { steps, step } = stepper();
const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  if (process.env.DEBUG_NAV) {
    page.on('framenavigated', (f) => console.error(`nav ${f.url()}`));
    page.on('requestfailed', (r) => console.error(`failed ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => console.error(`response ${r.status()} ${r.url()} ${r.headers().location || ''}`));
  }
  await page.goto(input.start_url);
  await page.waitForSelector('input[name=login]');
  step('provider login page', page.url().startsWith('http://127.0.0.1'), page.url());
  await page.fill('input[name=login]', input.login);
  await page.fill('input[name=password]', input.password);
  await page.click('button[type=submit]');
  // The provider redirects through its interaction URLs; wait until a page settles.
  const consent = await page
    .waitForSelector('input[name=prompt][value=consent]', { state: 'attached', timeout: 15000 })
    .catch(() => null);
  step('provider consent page', consent !== null, { url: page.url(), page: await page.content().catch(() => '') });
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.href.startsWith(input.start_url), { timeout: 15000 });
  var text = await page.textContent('body');
  step('back at the application, signed in', text.includes(input.expect), text);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps, page: text }));
