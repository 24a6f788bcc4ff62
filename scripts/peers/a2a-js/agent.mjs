// SPDX-License-Identifier: Apache-2.0
// A small A2A 0.3 agent on the official JS SDK (@a2a-js/sdk 0.3.x, express), for tests/peers/a2a_js.py.
//
// Transports: JSON-RPC at /a2a/jsonrpc (the card's url) and HTTP+JSON at /a2a/rest; the card at
// /.well-known/agent-card.json declares the Agent Stack secrets extension with its demands.
//
// What it does with the text of the user's message:
//   "/secret ..."   needs the secret(s) of A2A_SECRET_DEMANDS. Taken from the message that creates the task
//                   if that carries them (pre-configured fulfilment); else the task goes `auth-required`
//                   with the demands in status.message.metadata[SECRETS_URI] (final: true). A resume (same
//                   taskId and contextId) carrying {"secret_fulfillments": {key: {"secret": "..."}}} completes
//                   it; a resume without them fails it. The reply names each key with the sha256 of its value
//                   (never the value), so a test can check what arrived.
//   "/message ..."  answers with a plain Message, no task.
//   anything else   a task that echoes "echo: <text>" as an artifact in 4-character chunks (append: true),
//                   through submitted -> working -> completed.
// Environment: A2A_MODULES (node_modules of scripts/peers/a2a-js.sh's cache, required), A2A_PORT (default 0:
// any free port), A2A_SECRET_DEMANDS (JSON, default {"api_key": {"name": "API key", ...}}).
// On start it prints one JSON line: {"url": "http://127.0.0.1:N", "port": N}.

import * as crypto from 'node:crypto';

import { importFrom, modulesDirFromEnv } from '../resolve.mjs';

const SECRETS_URI = 'https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1';

const modules = modulesDirFromEnv('A2A_MODULES', 'scripts/peers/a2a-js.sh');
const { AGENT_CARD_PATH } = await importFrom(modules, '@a2a-js/sdk');
const { DefaultRequestHandler, InMemoryTaskStore } = await importFrom(modules, '@a2a-js/sdk/server');
const { agentCardHandler, jsonRpcHandler, restHandler, UserBuilder } = await importFrom(
  modules,
  '@a2a-js/sdk/server/express',
);
const { default: express } = await importFrom(modules, 'express');

const port = Number(process.env.A2A_PORT || '0');
const secretDemands = JSON.parse(
  process.env.A2A_SECRET_DEMANDS
    || '{"api_key": {"name": "API key", "description": "The key the echo agent needs for /secret"}}',
);

const now = () => new Date().toISOString();
const textOf = (message) => (message?.parts ?? []).filter((p) => p.kind === 'text').map((p) => p.text).join('');
const sha256 = (value) => crypto.createHash('sha256').update(value, 'utf8').digest('hex');

function agentMessage(ctx, text, metadata) {
  return {
    kind: 'message',
    role: 'agent',
    messageId: crypto.randomUUID(),
    taskId: ctx.taskId,
    contextId: ctx.contextId,
    parts: text === undefined ? [] : [{ kind: 'text', text }],
    ...(metadata ? { metadata } : {}),
  };
}

function status(ctx, state, message, final = false) {
  return {
    kind: 'status-update',
    taskId: ctx.taskId,
    contextId: ctx.contextId,
    status: { state, timestamp: now(), ...(message ? { message } : {}) },
    final,
  };
}

// The fulfilled secrets of a message, or undefined unless every demanded key has a string `secret`.
function fulfilments(message) {
  const given = message?.metadata?.[SECRETS_URI]?.secret_fulfillments;
  if (!given || typeof given !== 'object') return undefined;
  const keys = Object.keys(secretDemands);
  return keys.every((k) => typeof given[k]?.secret === 'string') ? given : undefined;
}

async function streamText(ctx, bus, artifactId, text) {
  const chunks = text.match(/[\s\S]{1,4}/g) ?? [''];
  chunks.forEach((chunk, i) => {
    bus.publish({
      kind: 'artifact-update',
      taskId: ctx.taskId,
      contextId: ctx.contextId,
      append: i > 0,
      lastChunk: i === chunks.length - 1,
      artifact: { artifactId, name: 'reply', parts: [{ kind: 'text', text: chunk }] },
    });
  });
}

class EchoExecutor {
  contexts = new Map();

  async execute(ctx, bus) {
    this.contexts.set(ctx.taskId, ctx.contextId);
    const text = textOf(ctx.userMessage);
    const resuming = ctx.task !== undefined;
    if (!resuming && text.startsWith('/message')) {
      const { taskId: _none, ...message } = agentMessage(ctx, `echo: ${text}`);
      bus.publish(message);
      bus.finished();
      return;
    }
    if (!resuming) {
      bus.publish({
        kind: 'task',
        id: ctx.taskId,
        contextId: ctx.contextId,
        status: { state: 'submitted', timestamp: now() },
        history: [ctx.userMessage],
      });
    }
    const wantsSecret = text.startsWith('/secret') || ctx.task?.status?.state === 'auth-required';
    if (wantsSecret) {
      const given = fulfilments(ctx.userMessage);
      if (!given && !resuming) {
        bus.publish(status(ctx, 'auth-required', agentMessage(ctx, undefined, {
          [SECRETS_URI]: { secret_demands: secretDemands },
        }), true));
        bus.finished();
        return;
      }
      if (!given) {
        bus.publish(status(ctx, 'failed', agentMessage(ctx, 'Secrets has not been provided in response.'), true));
        bus.finished();
        return;
      }
      bus.publish(status(ctx, 'working'));
      const report = Object.keys(secretDemands)
        .map((key) => `${key} sha256=${sha256(given[key].secret)}`)
        .join('\n');
      await streamText(ctx, bus, 'secret-report', `secrets received:\n${report}`);
      bus.publish(status(ctx, 'completed', agentMessage(ctx, 'done'), true));
      bus.finished();
      return;
    }
    bus.publish(status(ctx, 'working'));
    await streamText(ctx, bus, 'echo', `echo: ${text}`);
    bus.publish(status(ctx, 'completed', agentMessage(ctx, 'done'), true));
    bus.finished();
  }

  async cancelTask(taskId, bus) {
    const ctx = { taskId, contextId: this.contexts.get(taskId) };
    bus.publish(status(ctx, 'canceled', undefined, true));
    bus.finished();
  }
}

const app = express();
const server = app.listen(port, '127.0.0.1');
await new Promise((resolve, reject) => {
  server.once('listening', resolve);
  server.once('error', reject);
});
const base = `http://127.0.0.1:${server.address().port}`;

const card = {
  name: 'a2a-js echo agent',
  description: 'Echoes text; "/secret" needs an Agent Stack secret first (keybroker test peer).',
  protocolVersion: '0.3.0',
  version: '0.1.0',
  url: `${base}/a2a/jsonrpc`,
  preferredTransport: 'JSONRPC',
  additionalInterfaces: [
    { url: `${base}/a2a/jsonrpc`, transport: 'JSONRPC' },
    { url: `${base}/a2a/rest`, transport: 'HTTP+JSON' },
  ],
  capabilities: {
    streaming: true,
    pushNotifications: false,
    extensions: [{ uri: SECRETS_URI, required: false, params: { secret_demands: secretDemands } }],
  },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Echoes the text back', tags: ['test'] }],
};

const requestHandler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new EchoExecutor());
app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler }));
app.use('/a2a/jsonrpc', jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication }));
app.use('/a2a/rest', restHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication }));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
console.log(JSON.stringify({ url: base, port: server.address().port }));
