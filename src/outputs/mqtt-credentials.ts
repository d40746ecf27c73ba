import { readFileSync } from 'node:fs';
import { UserError, errorMessage } from '../common/errors.js';
import type { MqttConfig } from './mqtt-settings.js';

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * The broker password from password_file (its first line) or the variable password_env names;
 * undefined for an anonymous login. What is missing is a one-line UserError.
 */
export function readPassword(cfg: MqttConfig, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const file = cfg.password_file;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UserError(
        `outputs.mqtt.password_file = ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
      );
    }
    const pw = text.split(/\r?\n/, 1)[0]!;
    if (pw === '') throw new UserError(`outputs.mqtt.password_file = ${file}: the first line is empty`);
    return pw;
  }
  const name = cfg.password_env;
  if (!name) return undefined;
  const v = env[name];
  if (v === undefined)
    throw new UserError(`outputs.mqtt.password_env = ${name}: the environment variable ${name} is not set`);
  return v;
}

/** The PEM files of outputs.mqtt.tls, read once; a missing one is a one-line UserError (a key's content is never in it). */
export function readTlsFiles(cfg: MqttConfig): TlsFiles {
  const t = cfg.tls;
  const out: TlsFiles = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = t[k];
    if (!file) continue;
    try {
      out[k] = readFileSync(file);
    } catch (e) {
      throw new UserError(
        `outputs.mqtt.tls.${k} = ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`,
      );
    }
  }
  return out;
}
