// What the browser interop scripts share: their input, step reporting, the client's callback
// endpoint on loopback, and Debian's Chromium.
import http from 'node:http';
import { chromium } from 'playwright-core';

/** The JSON object on stdin. */
export const readInput = () => new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (c) => { data += c; });
  process.stdin.on('end', () => resolve(JSON.parse(data)));
});

/** `step(name, ok, detail)` records a passed step, or reports the failure and exits 1. */
export const stepper = () => {
  const steps = [];
  const step = (name, ok, detail) => {
    if (!ok) {
      console.error(`step ${name} failed: ${JSON.stringify(detail)}`);
      process.exit(1);
    }
    steps.push(name);
  };
  return { steps, step };
};

/**
 * The client's endpoints on 127.0.0.1:port: records what arrives at `paths` (query or form_post
 * body), in order. `next(path)` gives the next arrival at that path, waiting for it if need be.
 */
export const callbackServer = async (port, paths = ['/cb']) => {
  const base = `http://127.0.0.1:${port}`;
  const queues = new Map(paths.map((p) => [p, { arrived: [], waiting: [] }]));
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const url = new URL(req.url, base);
      if (req.method === 'POST') url.search = body;
      res.end('done');
      // Browsers also ask for /favicon.ico: only the client's endpoints count.
      const queue = queues.get(url.pathname);
      if (!queue) return;
      const waiter = queue.waiting.shift();
      if (waiter) waiter(url); else queue.arrived.push(url);
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const next = (path = '/cb') => new Promise((resolve, reject) => {
    const queue = queues.get(path);
    if (queue.arrived.length > 0) {
      resolve(queue.arrived.shift());
      return;
    }
    const timer = setTimeout(() => reject(new Error(`nothing at ${path} within 15 s`)), 15000);
    queue.waiting.push((url) => { clearTimeout(timer); resolve(url); });
  });
  return { base, next, close: () => server.close() };
};

/** Debian's headless Chromium. */
export const launchChromium = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
