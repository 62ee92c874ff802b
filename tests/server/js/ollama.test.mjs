// The official `ollama` npm client (and LangChain's ChatOllama over it) against `ternion serve` with the fixture
// model: chat, streamed chat, generate, list (tags), show, ps, version and errors. Run by ctest:
//   node ollama.test.mjs <ternion binary> <model.gguf>
// Exits 77 (skipped) when `npm ci` has not been run in this folder.
import assert from 'node:assert/strict';
import { test, after, before } from 'node:test';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', 'ollama'))) {
  console.error(`*** SKIPPED: ${here}/node_modules/ollama missing (run: npm ci --prefix ${here}) ***`);
  process.exit(77);
}
const [binary, model] = process.argv.slice(2);
if (!binary || !model || !existsSync(model)) {
  console.error(`*** SKIPPED: usage: node ollama.test.mjs TERNION_BINARY MODEL (model: ${model}) ***`);
  process.exit(77);
}
const { Ollama } = await import('ollama');
const { startServer } = await import('./server_process.mjs');

let server;
let ollama;
const MODEL = 'kjv-llama-Q8_0';
const messages = [{ role: 'user', content: 'Who made the heaven and the earth?' }];
const options = { temperature: 0, num_predict: 10 };

before(async () => {
  server = await startServer(binary, model, ['--parallel', '2', '-c', '256', '-t', '2']);
  ollama = new Ollama({ host: server.base });
});
after(async () => {
  const code = await server.stop();
  assert.equal(code, 0, 'the server stops cleanly on SIGTERM');
});

test('version and list', async () => {
  assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+$/);
  const list = await ollama.list();
  assert.deepEqual(
    list.models.map((m) => m.name),
    [`${MODEL}:latest`],
  );
  const m = list.models[0];
  assert.equal(m.details.format, 'gguf');
  assert.equal(m.details.family, 'llama');
  assert.ok(m.size > 0);
  assert.ok(!Number.isNaN(new Date(m.modified_at).getTime()));
});

test('show and ps', async () => {
  const s = await ollama.show({ model: MODEL });
  assert.equal(s.details.quantization_level, 'Q8_0');
  assert.equal(s.model_info['general.architecture'], 'llama');
  assert.ok(s.capabilities.includes('completion'));
  assert.equal(typeof s.template, 'string');
  const ps = await ollama.ps();
  assert.equal(ps.models[0].name, `${MODEL}:latest`);
  assert.equal(ps.models[0].context_length, 256);
});

test('chat, whole and streamed, give the same text', async () => {
  const r = await ollama.chat({ model: MODEL, messages, options, keep_alive: '5m' });
  assert.equal(r.done, true);
  assert.equal(r.message.role, 'assistant');
  assert.equal(typeof r.message.content, 'string');
  assert.equal(r.eval_count, 10);
  assert.equal(r.done_reason, 'length');
  assert.ok(r.prompt_eval_count > 0);
  assert.ok(r.total_duration >= r.eval_duration && r.eval_duration > 0, 'durations in nanoseconds');
  const stream = await ollama.chat({ model: `${MODEL}:latest`, messages, options, stream: true });
  let text = '';
  let last = null;
  let parts = 0;
  for await (const part of stream) {
    ++parts;
    text += part.message.content;
    last = part;
  }
  assert.ok(parts > 2, 'streamed in several parts');
  assert.equal(last.done, true);
  assert.equal(last.eval_count, 10);
  assert.equal(text, r.message.content);
});

test('generate, whole and streamed', async () => {
  const r = await ollama.generate({ model: MODEL, prompt: 'In the beginning', raw: true, options });
  assert.equal(r.done, true);
  assert.equal(r.eval_count, 10);
  assert.ok(r.response.length > 0);
  const stream = await ollama.generate({ model: MODEL, prompt: 'In the beginning', raw: true, options, stream: true });
  let text = '';
  for await (const part of stream) text += part.response;
  assert.equal(text, r.response);
  const templated = await ollama.generate({ model: MODEL, prompt: 'Hello', system: 'Be brief.', options });
  assert.ok(templated.prompt_eval_count > 5, 'the prompt went through the chat template');
});

test('tools are accepted and a tool result can be sent back', async () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Get the weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ];
  const r = await ollama.chat({
    model: MODEL,
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '11 degrees', tool_name: 'get_weather' },
    ],
    tools,
    options,
  });
  assert.equal(r.done, true);
  assert.equal(typeof r.message.content, 'string');
});

test('format: a schema gives JSON of that shape, json an object', async () => {
  const schema = {
    type: 'object',
    properties: { book: { type: 'string', maxLength: 12 }, chapter: { type: 'integer' } },
    required: ['book', 'chapter'],
    additionalProperties: false,
  };
  const r = await ollama.chat({ model: MODEL, messages, format: schema, options: { num_predict: 200, seed: 4 } });
  assert.equal(r.done_reason, 'stop', r.message.content);
  const out = JSON.parse(r.message.content);
  assert.equal(typeof out.book, 'string');
  assert.ok(Number.isInteger(out.chapter));
  // Any object: the reply opens one, and is one whenever the model ends it within the limit.
  const j = await ollama.chat({ model: MODEL, messages, format: 'json', options: { num_predict: 200, seed: 4 } });
  assert.match(j.message.content, /^\s*\{/);
  if (j.done_reason === 'stop') assert.equal(typeof JSON.parse(j.message.content), 'object');
});

test('errors come back as the client expects', async () => {
  await assert.rejects(ollama.chat({ model: 'no-such-model', messages }), (e) => {
    assert.equal(e.name, 'ResponseError');
    assert.equal(e.status_code, 404);
    assert.match(e.message, /model 'no-such-model' not found/);
    return true;
  });
  await assert.rejects(ollama.chat({ model: MODEL, messages, format: 'xml' }), (e) => {
    assert.equal(e.status_code, 400);
    assert.match(e.message, /format/);
    return true;
  });
  await assert.rejects(ollama.embed({ model: MODEL, input: 'x' }), (e) => {
    assert.equal(e.status_code, 400);
    assert.match(e.message, /does not support embeddings/);
    return true;
  });
});

// LangChain 1.x runs on node 20 and later; Debian 12's own nodejs is 18.
const nodeMajor = Number(process.versions.node.split('.')[0]);
const langchainSkip = nodeMajor < 20 ? `LangChain 1.x needs node >= 20, this is node ${process.versions.node}` : false;
if (langchainSkip) console.error(`*** SKIPPED: ${langchainSkip} ***`);

test("LangChain's ChatOllama: invoke, stream and tools bound", { skip: langchainSkip }, async () => {
  const { ChatOllama } = await import('@langchain/ollama');
  const chat = new ChatOllama({ baseUrl: server.base, model: MODEL, temperature: 0, numPredict: 8 });
  const whole = await chat.invoke([['human', 'Who made the heaven and the earth?']]);
  assert.equal(typeof whole.content, 'string');
  assert.ok(whole.content.length > 0);
  assert.equal(whole.usage_metadata.output_tokens, 8);
  let streamed = '';
  for await (const chunk of await chat.stream([['human', 'Who made the heaven and the earth?']])) {
    streamed += chunk.content;
  }
  assert.equal(streamed, whole.content);
  const withTools = chat.bindTools([
    {
      type: 'function',
      function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} } },
    },
  ]);
  const r = await withTools.invoke([['human', 'Weather in Paris?']]);
  assert.deepEqual(r.tool_calls, [], "the fixture's template has no call format: no calls");
});
