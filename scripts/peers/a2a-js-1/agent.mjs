// SPDX-License-Identifier: Apache-2.0
// A small A2A 1.0 agent on the official JS SDK (@a2a-js/sdk 1.x, express), for tests/peers/a2a_js1.py.
//
// Transports: JSON-RPC at /a2a/jsonrpc and HTTP+JSON at /a2a/rest, both A2A 1.0 (`supportedInterfaces`);
// the card at /.well-known/agent-card.json declares the Agent Stack secrets extension with its demands.
// Events are built as A2A 1.0 JSON and read by the SDK's own codecs (`fromJSON`).
//
// What it does with the text of the user's message (the same as scripts/peers/a2a-js/agent.mjs):
//   "/secret ..."   needs the secret(s) of A2A_SECRET_DEMANDS. Taken from the message that creates the task
//                   if that carries them (pre-configured fulfilment); else the task goes
//                   TASK_STATE_AUTH_REQUIRED with the demands in status.message.metadata[SECRETS_URI]. A
//                   resume (same taskId and contextId) carrying {"secret_fulfillments": {key: {"secret":
//                   "..."}}} completes it; a resume without them fails it. The reply names each key with the
//                   sha256 of its value (never the value), so a test can check what arrived.
//   "/message ..."  answers with a plain Message, no task.
//   anything else   a task that echoes "echo: <text>" as an artifact in 4-character chunks (append: true),
//                   through submitted -> working -> completed.
// Environment: A2A_MODULES (node_modules of scripts/peers/a2a-js-1.sh's cache, required), A2A_PORT
// (default 0: any free port), A2A_SECRET_DEMANDS (JSON, default {"api_key": {"name": "API key", ...}}).
// On start it prints one JSON line: {"url": "http://127.0.0.1:N", "port": N}.

import * as crypto from 'node:crypto';

import { importFrom, modulesDirFromEnv } from '../resolve.mjs';

const SECRETS_URI = 'https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1';

const modules = modulesDirFromEnv('A2A_MODULES', 'scripts/peers/a2a-js-1.sh');
const sdk = await importFrom(modules, '@a2a-js/sdk');
const { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } = await importFrom(modules, '@a2a-js/sdk/server');
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
const sha256 = (value) => crypto.createHash('sha256').update(value, 'utf8').digest('hex');
// The SDK's messages as A2A 1.0 JSON: parts are {text}, metadata a plain object.
const asJson = (message) => (message ? sdk.Message.toJSON(message) : undefined);
const textOf = (message) => (asJson(message)?.parts ?? []).map((p) => p.text ?? '').join('');

function agentMessage(ctx, text, metadata) {
  return {
    messageId: crypto.randomUUID(),
    role: 'ROLE_AGENT',
    taskId: ctx.taskId,
    contextId: ctx.contextId,
    parts: text === undefined ? [] : [{ text }],
    ...(metadata ? { metadata } : {}),
  };
}

const task = (ctx, state, history) => AgentEvent.task(sdk.Task.fromJSON({
  id: ctx.taskId,
  contextId: ctx.contextId,
  status: { state, timestamp: now() },
  history,
}));

const status = (ctx, state, message) => AgentEvent.statusUpdate(sdk.TaskStatusUpdateEvent.fromJSON({
  taskId: ctx.taskId,
  contextId: ctx.contextId,
  status: { state, timestamp: now(), ...(message ? { message } : {}) },
}));

// The fulfilled secrets of a message, or undefined unless every demanded key has a string `secret`.
function fulfilments(message) {
  const given = asJson(message)?.metadata?.[SECRETS_URI]?.secret_fulfillments;
  if (!given || typeof given !== 'object') return undefined;
  return Object.keys(secretDemands).every((k) => typeof given[k]?.secret === 'string') ? given : undefined;
}

function streamText(ctx, bus, artifactId, text) {
  const chunks = text.match(/[\s\S]{1,4}/g) ?? [''];
  chunks.forEach((chunk, i) => {
    bus.publish(AgentEvent.artifactUpdate(sdk.TaskArtifactUpdateEvent.fromJSON({
      taskId: ctx.taskId,
      contextId: ctx.contextId,
      append: i > 0,
      lastChunk: i === chunks.length - 1,
      artifact: { artifactId, name: 'reply', parts: [{ text: chunk }] },
    })));
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
      bus.publish(AgentEvent.message(sdk.Message.fromJSON(message)));
      bus.finished();
      return;
    }
    // Every call publishes a task first, a resumed one too (the SDK's AgentExecutor contract).
    const previous = resuming ? sdk.Task.toJSON(ctx.task) : undefined;
    bus.publish(task(ctx, previous?.status?.state ?? 'TASK_STATE_SUBMITTED', [asJson(ctx.userMessage)]));
    const wantsSecret = text.startsWith('/secret') || previous?.status?.state === 'TASK_STATE_AUTH_REQUIRED';
    if (wantsSecret) {
      const given = fulfilments(ctx.userMessage);
      if (!given && !resuming) {
        const ask = agentMessage(ctx, undefined, { [SECRETS_URI]: { secret_demands: secretDemands } });
        bus.publish(status(ctx, 'TASK_STATE_AUTH_REQUIRED', ask));
        bus.finished();
        return;
      }
      if (!given) {
        const why = agentMessage(ctx, 'Secrets has not been provided in response.');
        bus.publish(status(ctx, 'TASK_STATE_FAILED', why));
        bus.finished();
        return;
      }
      bus.publish(status(ctx, 'TASK_STATE_WORKING'));
      const report = Object.keys(secretDemands)
        .map((key) => `${key} sha256=${sha256(given[key].secret)}`)
        .join('\n');
      streamText(ctx, bus, 'secret-report', `secrets received:\n${report}`);
      bus.publish(status(ctx, 'TASK_STATE_COMPLETED', agentMessage(ctx, 'done')));
      bus.finished();
      return;
    }
    bus.publish(status(ctx, 'TASK_STATE_WORKING'));
    streamText(ctx, bus, 'echo', `echo: ${text}`);
    bus.publish(status(ctx, 'TASK_STATE_COMPLETED', agentMessage(ctx, 'done')));
    bus.finished();
  }

  async cancelTask(taskId, bus) {
    const ctx = { taskId, contextId: this.contexts.get(taskId) };
    bus.publish(status(ctx, 'TASK_STATE_CANCELED'));
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

const card = sdk.AgentCard.fromJSON({
  name: 'a2a-js 1.x echo agent',
  description: 'Echoes text; "/secret" needs an Agent Stack secret first (keybroker test peer).',
  version: '0.1.0',
  supportedInterfaces: [
    { url: `${base}/a2a/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    { url: `${base}/a2a/rest`, protocolBinding: 'HTTP+JSON', protocolVersion: '1.0' },
  ],
  capabilities: {
    streaming: true,
    pushNotifications: false,
    extensions: [{ uri: SECRETS_URI, required: false, params: { secret_demands: secretDemands } }],
  },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Echoes the text back', tags: ['test'] }],
});

const requestHandler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new EchoExecutor());
app.use(`/${sdk.AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler }));
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
