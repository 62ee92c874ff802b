// The official `openai` npm client against `ternion serve` with the fixture model: a plain completion, a stream
// with usage, concurrent requests, and error cases. Run by ctest:
//   node client.test.mjs <ternion binary> <model.gguf>
// Exits 77 (skipped) when `npm ci` has not been run in this folder.
import assert from 'node:assert/strict';
import { test, after, before } from 'node:test';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', 'openai'))) {
  console.error(`*** SKIPPED: ${here}/node_modules/openai missing (run: npm ci --prefix ${here}) ***`);
  process.exit(77);
}
const [binary, model] = process.argv.slice(2);
if (!binary || !model || !existsSync(model)) {
  console.error(`*** SKIPPED: usage: node client.test.mjs TERNION_BINARY MODEL (model: ${model}) ***`);
  process.exit(77);
}
const { default: OpenAI } = await import('openai');
const { startServer } = await import('./server_process.mjs');

let server;
let client;
const MODEL = 'kjv-llama-Q8_0';
const messages = [{ role: 'user', content: 'Who made the heaven and the earth?' }];

before(async () => {
  server = await startServer(binary, model, ['--parallel', '4', '-c', '256', '-t', '2', '--api-key', 'test-key']);
  client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'test-key', maxRetries: 0 });
});
after(async () => {
  const code = await server.stop();
  assert.equal(code, 0, 'the server stops cleanly on SIGTERM');
});

test('models list', async () => {
  const list = await client.models.list();
  assert.deepEqual(
    list.data.map((m) => m.id),
    [MODEL],
  );
});

test('chat completion, not streamed', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0, seed: 1 });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 12);
});

test('chat completion streamed with usage equals the unstreamed text', async () => {
  const whole = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0 });
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages,
    max_tokens: 16,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let role = null;
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) {
      usage = chunk.usage;
      continue;
    }
    const c = chunk.choices[0];
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(chunks >= 3);
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test('legacy completions with a stop string', async () => {
  const base = { model: MODEL, prompt: 'And God said, Let there be light: and there was', max_tokens: 20, temperature: 0 };
  const r = await client.completions.create(base);
  const text = r.choices[0].text;
  const stop = text.slice(6, 9);
  const s = await client.completions.create({ ...base, stop: [stop] });
  assert.equal(s.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(s.choices[0].finish_reason, 'stop');
});

test('concurrent requests each get their own answer', async () => {
  const prompts = ['In the beginning', 'ROMEO:', 'Blessed are the', 'The LORD is my shepherd', 'Now the serpent', 'JULIET:'];
  const alone = [];
  for (const p of prompts) {
    alone.push((await client.completions.create({ model: MODEL, prompt: p, max_tokens: 12, temperature: 0 })).choices[0].text);
  }
  const together = await Promise.all(
    prompts.map((p) =>
      client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: p }], max_tokens: 10, stream: true })
        .then(async (s) => {
          let n = 0;
          for await (const c of s) if (c.choices[0]?.delta?.content) ++n;
          return n;
        })
        .then(() => client.completions.create({ model: MODEL, prompt: p, max_tokens: 12, temperature: 0 })),
    ),
  );
  assert.deepEqual(
    together.map((r) => r.choices[0].text),
    alone,
  );
});

test('errors surface as typed API errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 4 }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /no-such-model/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, n: 129 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'n',
  );
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, max_tokens: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && /max_tokens/.test(e.message),
  );
  const unauth = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(unauth.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('n choices, streamed and not, and completions prompt arrays', async () => {
  const base = { model: MODEL, messages, max_tokens: 8, temperature: 1.5, seed: 5 };
  const whole = await client.chat.completions.create({ ...base, n: 3 });
  assert.deepEqual(
    whole.choices.map((c) => c.index),
    [0, 1, 2],
  );
  const second = await client.chat.completions.create({ ...base, seed: 6 });
  assert.equal(whole.choices[1].message.content, second.choices[0].message.content, 'choice 1 samples with seed + 1');
  const stream = await client.chat.completions.create({ ...base, n: 3, stream: true });
  const texts = ['', '', ''];
  for await (const chunk of stream) {
    for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
  }
  assert.deepEqual(
    texts,
    whole.choices.map((c) => c.message.content),
  );
  const prompts = ['In the beginning', 'And God said'];
  const many = await client.completions.create({ model: MODEL, prompt: prompts, max_tokens: 5, temperature: 0 });
  assert.equal(many.choices.length, 2);
  for (let i = 0; i < 2; ++i) {
    const one = await client.completions.create({ model: MODEL, prompt: prompts[i], max_tokens: 5, temperature: 0 });
    assert.equal(many.choices[i].text, one.choices[0].text);
  }
});

test('tools: a tool turn is sent back; tool_choice none works, required needs a template with a call format', async () => {
  const tools = [
    {
      type: 'function',
      function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    },
  ];
  const history = [
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    },
    { role: 'tool', tool_call_id: 'call_1', content: '11 degrees' },
  ];
  for (const tool_choice of ['auto', 'none']) {
    const r = await client.chat.completions.create({ model: MODEL, messages: history, tools, tool_choice, max_tokens: 4 });
    assert.equal(typeof r.choices[0].message.content, 'string');
  }
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 4 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'tool_choice' && /tool-call format/.test(e.message),
  );
});
