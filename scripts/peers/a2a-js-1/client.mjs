// SPDX-License-Identifier: Apache-2.0
// An A2A 1.0 client on the official JS SDK (@a2a-js/sdk 1.x), for tests/peers/a2a_js1.py.
//
// Usage: node client.mjs URL TEXT [--stream] [--secret KEY=VALUE]... [--preconfigured] [--extension URI]...
//   URL    used verbatim as `new ClientFactory().createFromUrl(URL)`, which reads the card at
//          new URL('.well-known/agent-card.json', URL) (so a URL whose path does not end in "/" loses its
//          last segment) and then picks the card's best interface
//   --stream          SendStreamingMessage instead of a blocking SendMessage; each event goes to stderr as
//                     one JSON line "event {...}"
//   --secret K=V      if the task stops in TASK_STATE_AUTH_REQUIRED with Agent Stack secret demands, resume
//                     it (same taskId/contextId) with {"secret_fulfillments": {K: {"secret": V}}}
//   --preconfigured   send the --secret values already in the first message's metadata instead
//   --extension URI   ask for this extension on every call (the A2A-Extensions header)
// Prints the final task (or the agent's Message) as one line of A2A 1.0 JSON on stdout, with "kind":
// "task" or "message" added. Exit status 1 on an error.
// Environment: A2A_MODULES (node_modules of scripts/peers/a2a-js-1.sh's cache, required).

import * as crypto from 'node:crypto';

import { importFrom, modulesDirFromEnv } from '../resolve.mjs';

const SECRETS_URI = 'https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1';

const modules = modulesDirFromEnv('A2A_MODULES', 'scripts/peers/a2a-js-1.sh');
const sdk = await importFrom(modules, '@a2a-js/sdk');
const { ClientFactory, ServiceParameters, withA2AExtensions } = await importFrom(modules, '@a2a-js/sdk/client');

function parseArgs(argv) {
  const positional = [];
  const options = { stream: false, secrets: {}, preconfigured: false, extensions: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--stream') options.stream = true;
    else if (arg === '--preconfigured') options.preconfigured = true;
    else if (arg === '--extension') options.extensions.push(argv[++i]);
    else if (arg === '--secret') {
      const [key, ...rest] = (argv[++i] ?? '').split('=');
      options.secrets[key] = { secret: rest.join('=') };
    } else positional.push(arg);
  }
  if (positional.length !== 2) {
    console.error('usage: node client.mjs URL TEXT [--stream] [--secret K=V]... [--preconfigured] [--extension URI]...');
    process.exit(2);
  }
  return { url: positional[0], text: positional[1], ...options };
}

const userMessage = (text, extra = {}) => ({
  messageId: crypto.randomUUID(),
  role: 'ROLE_USER',
  parts: [{ text }],
  ...extra,
});

// A Task or a Message as A2A 1.0 JSON, tagged with its kind.
function plain(result) {
  if (result && 'status' in result && 'id' in result) return { kind: 'task', ...sdk.Task.toJSON(result) };
  return { kind: 'message', ...sdk.Message.toJSON(result) };
}

async function send(client, message, args, options) {
  const request = sdk.SendMessageRequest.fromJSON({ message });
  if (!args.stream) return plain(await client.sendMessage(request, options));
  let taskId;
  let last;
  for await (const event of client.sendMessageStream(request, options)) {
    const json = sdk.StreamResponse.toJSON(event);
    console.error(`event ${JSON.stringify(json)}`);
    last = json;
    taskId = json.task?.id ?? json.statusUpdate?.taskId ?? json.artifactUpdate?.taskId ?? taskId;
  }
  if (last?.message && !taskId) return { kind: 'message', ...last.message };
  // The stream carried events; the task as the server keeps it is the result.
  return plain(await client.getTask(sdk.GetTaskRequest.fromJSON({ id: taskId, historyLength: 100 }), options));
}

const args = parseArgs(process.argv.slice(2));
const haveSecrets = Object.keys(args.secrets).length > 0;
const options = args.extensions.length
  ? { serviceParameters: ServiceParameters.create(withA2AExtensions(...args.extensions)) }
  : undefined;
try {
  const client = await new ClientFactory().createFromUrl(args.url);
  const first = args.preconfigured && haveSecrets
    ? userMessage(args.text, { metadata: { [SECRETS_URI]: { secret_fulfillments: args.secrets } } })
    : userMessage(args.text);
  let result = await send(client, first, args, options);
  const demands = result.kind === 'task' && result.status?.state === 'TASK_STATE_AUTH_REQUIRED'
    ? result.status.message?.metadata?.[SECRETS_URI]?.secret_demands
    : undefined;
  if (demands && haveSecrets && !args.preconfigured) {
    const resume = userMessage('secrets provided', {
      taskId: result.id,
      contextId: result.contextId,
      metadata: { [SECRETS_URI]: { secret_fulfillments: args.secrets } },
    });
    result = await send(client, resume, args, options);
  }
  console.log(JSON.stringify(result));
} catch (err) {
  console.error(`client.mjs: ${err?.stack ?? err}`);
  process.exit(1);
}
