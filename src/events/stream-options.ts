// The --mqtt-* and --events-* serve options -> StreamOptions (problems reported with the others).
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { readUserFile, readUserText, unreadableReason } from '../user-file.js';
import type { StreamOptions } from './streams.js';
import { DEFAULT_TOPICS, groupProblem, sharedTopicProblem } from '../mqtt/topics.js';
import { urlForMessages } from '../outbound-http.js';
import { isEnvName, NOT_AN_ENV_NAME } from '../cli/env-name.js';

export type { StreamOptions };

/** --events-redact: the field names, for the events and the dashboard alike (with or without a sink). */
export function redactList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** `sources`: where each option's value came from (`--flag` or `$VARIABLE`), to name it in messages. */
export function resolveStreamOptions(out: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[], sources: Record<string, string> = {}): StreamOptions | undefined {
  const str = (k: string) => out[k] as string | undefined;
  const url = str('mqttUrl');
  // The pattern alone let through what the URL parser then refused (a port past 65535, a space in
  // the host): the server failed to start with "Invalid URL" or a port range error, naming no option.
  if (url !== undefined && (!/^(mqtts?|wss?):\/\/[^/]+/.test(url) || !URL.canParse(url))) problems.push(`--mqtt-url: '${urlForMessages(url)}' is not an MQTT URL (mqtt://host:port, mqtts://host:port, ws:// or wss://)`);
  const password = secretOption('mqtt-password', 'password', str('mqttPasswordEnv'), str('mqttPasswordFile'), env, problems, (text) => text.replace(/\r?\n$/, ''));
  for (const [key, flag] of [['mqttCaFile', 'mqtt-ca-file'], ['mqttCertFile', 'mqtt-cert-file'], ['mqttKeyFile', 'mqtt-key-file']] as const) {
    const path = str(key);
    if (path !== undefined) {
      try { readUserFile(path, 'secret'); } catch (err) { problems.push(`--${flag}: ${path} ${unreadableReason(err)}`); }
    }
  }
  for (const [key, flag] of [['mqttRequestTopic', 'mqtt-request-topic'], ['mqttPredictionsTopic', 'mqtt-predictions-topic'], ['mqttErrorsTopic', 'mqtt-errors-topic'], ['eventsMqttTopic', 'events-mqtt-topic']] as const) {
    const topic = str(key);
    if (topic !== undefined && /[+#]/.test(topic)) problems.push(`--${flag}: '${topic}' has a wildcard (+ or #); give a plain topic`);
    const shared = topic === undefined ? undefined : sharedTopicProblem(topic);
    if (shared !== undefined) problems.push(`--${flag}: ${shared}`);
  }
  const group = str('mqttGroup');
  const badGroup = group === undefined ? undefined : groupProblem(group);
  if (badGroup !== undefined) problems.push(`--mqtt-group: ${badGroup}`);
  const request = str('mqttRequestTopic') ?? DEFAULT_TOPICS.request;
  for (const [key, flag] of [['mqttPredictionsTopic', 'mqtt-predictions-topic'], ['mqttErrorsTopic', 'mqtt-errors-topic']] as const) {
    if ((str(key) ?? DEFAULT_TOPICS[key === 'mqttErrorsTopic' ? 'errors' : 'predictions']) === request) problems.push(`--${flag}: '${request}' is also the request topic: every answer would come back as a request`);
  }
  const sample = Number(str('eventsSample') ?? '1');
  if (!(sample >= 0 && sample <= 1)) problems.push(`--events-sample: '${str('eventsSample')}' is not a fraction between 0 and 1`);
  const webhook = str('eventsWebhook');
  if (webhook !== undefined && (!/^https?:\/\/[^/]+/.test(webhook) || !URL.canParse(webhook))) problems.push(`--events-webhook: '${urlForMessages(webhook)}' is not an http(s) URL`);
  const webhookHeaders = webhookAuthorization(webhook, sources.eventsWebhook ?? '--events-webhook', str('eventsWebhookTokenEnv'), str('eventsWebhookTokenFile'), env, problems);
  const tokenFile = str('eventsWebhookTokenFile');
  const webhookCredentials = webhookHeaders === undefined ? undefined
    : tokenFile !== undefined ? `the token in ${tokenFile} (${sources.eventsWebhookTokenFile ?? '--events-webhook-token-file'})`
      : `the token in $${str('eventsWebhookTokenEnv')} (named by ${sources.eventsWebhookTokenEnv ?? '--events-webhook-token-env'})`;
  if (str('eventsMqttTopic') !== undefined && url === undefined) problems.push('--events-mqtt-topic: needs --mqtt-url (the broker to publish the events to)');
  const eventsFile = str('eventsFile');
  const fileProblem = eventsFile === undefined ? undefined : appendProblem(eventsFile);
  if (fileProblem !== undefined) problems.push(`--events-file: ${eventsFile} ${fileProblem}`);
  const events = str('eventsMqttTopic') || webhook || str('eventsFile')
    ? {
      mqttTopic: str('eventsMqttTopic'),
      webhook,
      webhookHeaders,
      webhookCredentials,
      webhookSource: sources.eventsWebhook,
      file: str('eventsFile'),
      fileMaxBytes: out.eventsFileMaxBytes as number,
      fileKeep: out.eventsFileKeep as number,
      maxQueue: out.eventsQueue as number,
      maxQueueBytes: out.eventsQueueBytes as number,
      sampleRate: sample,
      redact: redactList(str('eventsRedact')),
    }
    : undefined;
  const mqtt = url === undefined ? undefined : {
    url,
    username: str('mqttUsername'),
    password,
    caFile: str('mqttCaFile'),
    certFile: str('mqttCertFile'),
    keyFile: str('mqttKeyFile'),
    clientId: str('mqttClientId'),
    group: str('mqttGroup'),
    topics: { request: str('mqttRequestTopic'), predictions: str('mqttPredictionsTopic'), errors: str('mqttErrorsTopic') },
    maxPayload: out.mqttMaxPayload as number,
    required: out.mqttRequired as boolean,
  };
  return mqtt || events ? { mqtt, events } : undefined;
}


/**
 * A secret from --<option>-env NAME (the variable's value) or --<option>-file PATH (its text, through
 * `fromFile`; the file wins when both are given). Each problem names its option; the secret itself never.
 */
function secretOption(option: string, what: string, envName: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv, problems: string[], fromFile: (text: string) => string): string | undefined {
  let secret: string | undefined;
  if (envName !== undefined) {
    if (!isEnvName(envName)) problems.push(`--${option}-env: ${NOT_AN_ENV_NAME} (give the NAME of the variable holding the ${what})`);
    else if (env[envName] === undefined || env[envName] === '') problems.push(`--${option}-env: environment variable ${envName} is not set or empty`);
    else secret = env[envName];
  }
  if (file !== undefined) {
    try {
      secret = fromFile(readUserText(file, 'secret'));
    } catch (err) {
      problems.push(`--${option}-file: ${file} ${unreadableReason(err)}`);
    }
  }
  return secret;
}

/** --events-webhook-token-env / -file as an Authorization header (never from the command line, where ps shows it). */
/** `webhookSource`: where the URL came from (`--events-webhook` or `$MODELSERVE_EVENTS_WEBHOOK`). */
function webhookAuthorization(webhook: string | undefined, webhookSource: string, envName: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv, problems: string[]): Record<string, string> | undefined {
  const token = secretOption('events-webhook-token', 'token', envName, file, env, problems, (text) => text.trim());
  if (token === undefined) return undefined;
  const flag = file !== undefined ? '--events-webhook-token-file' : '--events-webhook-token-env';
  if (webhook === undefined) problems.push(`${flag}: needs --events-webhook or MODELSERVE_EVENTS_WEBHOOK (the URL the token is sent to)`);
  // Named as given: a URL set in its variable was reported as --events-webhook, which the user never typed.
  else if (URL.canParse(webhook) && (new URL(webhook).username !== '' || new URL(webhook).password !== '')) problems.push(`${flag}: ${webhookSource} has a user name and password too; give one of them`);
  // A header value cannot hold a line break or control character: every send would fail, for good.
  if (!/^[\x21-\x7e]+$/.test(token)) problems.push(`${flag}: the token is empty or holds spaces, line breaks or non-ASCII characters, which an HTTP header cannot carry`);
  return { authorization: `Bearer ${token}` };
}

/**
 * Why events could not be appended to this path (a folder, no folder to create it in, no right to
 * write: a container's read-only root filesystem or a folder its user does not own), checked at
 * start rather than at the first write.
 */
function appendProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a regular file (events are appended to a file)';
    return writeProblem(path, 'cannot be written');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot be used: ${(err as Error).message}`;
  }
  try {
    if (!statSync(dirname(path)).isDirectory()) return `cannot be created: ${dirname(path)} is not a folder`;
  } catch {
    return `cannot be created: the folder ${dirname(path)} does not exist`;
  }
  return writeProblem(dirname(path), `cannot be created in ${dirname(path)}`);
}

function writeProblem(path: string, what: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' || code === 'EPERM' ? `permission denied to uid ${process.getuid?.() ?? '?'}` : (err as Error).message;
    return `${what} (${why})`;
  }
}
