// SPDX-License-Identifier: Apache-2.0
// An A2A 0.3 client on the official JS SDK (@a2a-js/sdk 0.3.x), for tests/peers/a2a_js.py.
//
// Usage: node client.mjs URL TEXT [--stream] [--secret KEY=VALUE]... [--preconfigured]
//   URL    the agent's base URL; the card is read from URL/.well-known/agent-card.json
//          (ClientFactory.createFromUrl, which then picks the card's preferred transport)
//   --stream          message/stream instead of a blocking message/send; each event goes to stderr as
//                     one JSON line "event {...}"
//   --secret K=V      if the task stops in auth-required with Agent Stack secret demands, resume it (same
//                     taskId/contextId) with {"secret_fulfillments": {K: {"secret": V}}}
//   --preconfigured   send the --secret values already in the first message's metadata instead
// Prints the final task (or the agent's Message) as one JSON line on stdout. Exit status 1 on an error.
// Environment: A2A_MODULES (node_modules of scripts/peers/a2a-js.sh's cache, required).

import * as crypto from 'node:crypto';

import { importFrom, modulesDirFromEnv } from '../resolve.mjs';

const SECRETS_URI = 'https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1';

const modules = modulesDirFromEnv('A2A_MODULES', 'scripts/peers/a2a-js.sh');
const { ClientFactory } = await importFrom(modules, '@a2a-js/sdk/client');

function parseArgs(argv) {
  const positional = [];
  const options = { stream: false, secrets: {}, preconfigured: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--stream') options.stream = true;
    else if (arg === '--preconfigured') options.preconfigured = true;
    else if (arg === '--secret') {
      const [key, ...rest] = (argv[++i] ?? '').split('=');
      options.secrets[key] = { secret: rest.join('=') };
    } else positional.push(arg);
  }
  if (positional.length !== 2) {
    console.error('usage: node client.mjs URL TEXT [--stream] [--secret KEY=VALUE]... [--preconfigured]');
    process.exit(2);
  }
  return { url: positional[0], text: positional[1], ...options };
}

function userMessage(text, extra = {}) {
  return { kind: 'message', role: 'user', messageId: crypto.randomUUID(), parts: [{ kind: 'text', text }], ...extra };
}

async function send(client, message, stream) {
  if (!stream) return client.sendMessage({ message });
  let last;
  let taskId;
  for await (const event of client.sendMessageStream({ message })) {
    console.error(`event ${JSON.stringify(event)}`);
    last = event;
    taskId = event.kind === 'task' ? event.id : event.taskId ?? taskId;
  }
  if (last?.kind === 'message' && !taskId) return last;
  // The stream carried events; the task as the server keeps it is the result.
  return client.getTask({ id: taskId, historyLength: 100 });
}

const args = parseArgs(process.argv.slice(2));
const haveSecrets = Object.keys(args.secrets).length > 0;
try {
  const client = await new ClientFactory().createFromUrl(args.url);
  const first = args.preconfigured && haveSecrets
    ? userMessage(args.text, { metadata: { [SECRETS_URI]: { secret_fulfillments: args.secrets } } })
    : userMessage(args.text);
  let result = await send(client, first, args.stream);
  const demands = result.kind === 'task' && result.status.state === 'auth-required'
    ? result.status.message?.metadata?.[SECRETS_URI]?.secret_demands
    : undefined;
  if (demands && haveSecrets && !args.preconfigured) {
    const resume = userMessage('secrets provided', {
      taskId: result.id,
      contextId: result.contextId,
      metadata: { [SECRETS_URI]: { secret_fulfillments: args.secrets } },
    });
    result = await send(client, resume, args.stream);
  }
  console.log(JSON.stringify(result));
} catch (err) {
  console.error(`client.mjs: ${err?.stack ?? err}`);
  process.exit(1);
}
