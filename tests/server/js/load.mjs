// Load test of `ternion serve` (run by hand, loopback only; not part of ctest):
//   node tests/server/js/load.mjs BINARY MODEL [--seconds 60] [--clients 64] [--parallel 1,4,8,16] [--tokens 48]
// For each --parallel value a fresh server is started; `clients` workers send streaming chat requests back to back
// for `seconds`. Every request is greedy with one of a set of prompts whose answers were recorded beforehand, so a
// request that is lost, mixed up with another or cut short is detected. Prints aggregate generated tokens/s,
// time to first token p50/p99 and the server's RSS over the run.
import { readFileSync } from 'node:fs';
import { startServer } from './server_process.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const [binary, model] = argv;
const seconds = Number(opt('seconds', 60));
const clients = Number(opt('clients', 64));
const tokens = Number(opt('tokens', 48));
const parallels = opt('parallel', '1,4,8,16').split(',').map(Number);
const prompts = [
  'And God said', 'In the beginning', 'ROMEO:', 'JULIET:', 'Blessed are the', 'The LORD is my shepherd',
  'Now the serpent was', 'And it came to pass', 'KING HENRY:', 'Vanity of vanities',
  'For God so loved', 'Let us make man', 'First Citizen:', 'MENENIUS:', 'And the earth was', 'Hear, O Israel',
];

const rssKiB = (pid) => {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

async function streamChat(base, prompt) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: prompt }], max_tokens: tokens, temperature: 0, ignore_eos: true,
      stream: true, stream_options: { include_usage: true },
    }),
  });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
  const decoder = new TextDecoder();
  let buf = '', text = '', ttft = null, done = false, usage = null, finish = null, id = null;
  for await (const part of r.body) {
    buf += decoder.decode(part, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!frame.startsWith('data: ')) continue;
      const data = frame.slice(6);
      if (data === '[DONE]') { done = true; continue; }
      const j = JSON.parse(data);
      if (id === null) id = j.id;
      if (j.id !== id) throw new Error('chunk of another completion in the stream');
      if (j.usage) usage = j.usage;
      const c = j.choices[0];
      if (!c) continue;
      if (c.delta.content) {
        if (ttft === null) ttft = performance.now() - t0;
        text += c.delta.content;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  if (!done || finish !== 'length' || !usage || usage.completion_tokens !== tokens) {
    throw new Error(`truncated stream (done ${done}, finish ${finish}, usage ${JSON.stringify(usage)})`);
  }
  return { text, ttft: ttft ?? performance.now() - t0 };
}

for (const parallel of parallels) {
  const server = await startServer(binary, model, ['--parallel', String(parallel), '-c', '256', '--max-queue', String(clients)]);
  // The answer of every prompt, each run alone.
  const expected = new Map();
  for (const p of prompts) expected.set(p, (await streamChat(server.base, p)).text);
  const rss = [rssKiB(server.proc.pid)];
  const sampler = setInterval(() => rss.push(rssKiB(server.proc.pid)), 2000);
  const ttfts = [];
  let ok = 0, failed = 0, mixed = 0, i = 0;
  const errors = new Map();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const p = prompts[i++ % prompts.length];
        try {
          const r = await streamChat(server.base, p);
          ttfts.push(r.ttft);
          if (r.text === expected.get(p)) ++ok;
          else ++mixed;
        } catch (e) {
          ++failed;
          errors.set(e.message, (errors.get(e.message) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  rss.push(rssKiB(server.proc.pid));
  const alive = server.proc.exitCode === null;
  await server.stop();
  console.log(JSON.stringify({
    parallel, clients, seconds: +elapsed.toFixed(1), requests_ok: ok, requests_failed: failed, requests_wrong_text: mixed,
    tokens_per_s: +((ok + mixed) * tokens / elapsed).toFixed(1),
    ttft_ms_p50: +pct(ttfts, 50).toFixed(1), ttft_ms_p99: +pct(ttfts, 99).toFixed(1),
    rss_mib_start: +(rss[1] / 1024).toFixed(1), rss_mib_max: +(Math.max(...rss.slice(1)) / 1024).toFixed(1),
    rss_mib_end: +(rss[rss.length - 1] / 1024).toFixed(1), server_alive: alive,
    errors: Object.fromEntries(errors),
  }));
}
