import { configJsonSchema, SIGHUP_APPLIES } from './config.js';

/** The part of a JSON Schema node the reference reads (what z.toJSONSchema writes for our keys). */
interface Node {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, Node>;
  items?: Node;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Node[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

/** One key of the reference: a leaf of the configuration, or a section holding keys. */
export interface ReferenceKey {
  key: string;
  section: boolean;
  type: string;
  bounds: string;
  default: string;
  sighup: boolean;
  description: string | undefined;
}

function typeOf(n: Node): string {
  if (n.enum) return n.enum.map(String).join(' | ');
  if (n.const !== undefined) return typeof n.const === 'string' ? n.const : JSON.stringify(n.const);
  if (n.anyOf) return n.anyOf.map(typeOf).join(' | ');
  if (n.type === 'array') return `list of ${n.items ? typeOf(n.items) : 'values'}`;
  if (n.type === 'integer') return 'integer';
  if (n.type === 'object' && !n.properties) return 'mapping';
  return n.type ?? 'value';
}

function boundsOf(n: Node): string {
  const b: string[] = [];
  if (n.minimum !== undefined) b.push(`≥ ${n.minimum}`);
  if (n.exclusiveMinimum !== undefined) b.push(`> ${n.exclusiveMinimum}`);
  if (n.maximum !== undefined) b.push(`≤ ${n.maximum}`);
  if (n.exclusiveMaximum !== undefined) b.push(`< ${n.exclusiveMaximum}`);
  if (n.type === 'integer' && n.minimum === undefined && n.maximum === undefined) b.push('whole number');
  if (n.minLength !== undefined && n.minLength > 0)
    b.push(n.minLength === 1 ? 'non-empty' : `≥ ${n.minLength} characters`);
  if (n.maxLength !== undefined) b.push(`≤ ${n.maxLength} characters`);
  if (n.pattern !== undefined) b.push('pattern (see description)');
  if (n.minItems !== undefined && n.minItems > 0) b.push(`≥ ${n.minItems} items`);
  if (n.maxItems !== undefined) b.push(`≤ ${n.maxItems} items`);
  if (n.items) {
    const inner = boundsOf(n.items);
    if (inner) b.push(`each ${inner}`);
  }
  return b.join(', ');
}

function shown(v: unknown): string {
  if (v === undefined) return '';
  if (v === '') return '""';
  return `\`${JSON.stringify(v)}\``;
}

/** Every key of the composed configuration, sections first within their parent, in schema order. */
export function referenceKeys(schema: Record<string, unknown> = configJsonSchema()): ReferenceKey[] {
  const out: ReferenceKey[] = [];
  const walk = (n: Node, path: string): void => {
    for (const [k, child] of Object.entries(n.properties ?? {})) {
      const key = path ? `${path}.${k}` : k;
      const section = child.type === 'object' && child.properties !== undefined;
      const sighup = SIGHUP_APPLIES.some((a) => a === key || (section && a.startsWith(key + '.')));
      out.push({
        key,
        section,
        type: section ? 'section' : typeOf(child),
        bounds: section ? '' : boundsOf(child),
        default: section ? '' : shown(child.default),
        sighup,
        description: child.description,
      });
      if (section) walk(child, key);
    }
  };
  walk(schema, '');
  return out;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * docs/config.md: every key with its type, bounds, default, whether a SIGHUP applies it, and
 * its one sentence, all read from the composed schema. `npm run config-docs` writes it; a test
 * fails when the committed file differs from what the schema gives.
 */
export function configReferenceMarkdown(keys: readonly ReferenceKey[] = referenceKeys()): string {
  const leaves = keys.filter((k) => !k.section);
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from the configuration schema by `npm run config-docs` (scripts/write-config-reference.mjs); do not edit by hand. -->',
    '',
    `Every key of the configuration (${leaves.length} keys), as \`config_snapshot.yaml\` holds them. Set them in a YAML`,
    'file (`--config FILE`) or with `--set key=value` (USAGE.md, "Configuration", tells how, and how',
    '`streams` entries override them per band). Bounds are inclusive unless marked `>` or `<`; a value',
    'outside them, a wrong type or a misspelt key is refused with one line naming the key.',
    '',
    `**SIGHUP**: \`systemctl reload myostream\` (or \`kill -HUP\`) re-reads the configuration. Only the keys marked`,
    '"yes" are applied to the running daemon; a change of any other key is refused with its name in the log,',
    'and the run goes on with the configuration it started with until `systemctl restart myostream`.',
    '',
  ];
  const tops = keys.filter((k) => !k.key.includes('.'));
  for (const top of tops) {
    lines.push(`## \`${top.key}\``, '');
    if (top.description) lines.push(top.description, '');
    const rows = keys.filter((k) => k.key === top.key || k.key.startsWith(top.key + '.'));
    lines.push('| key | type | bounds | default | SIGHUP | what it does |', '|---|---|---|---|---|---|');
    for (const k of rows) {
      if (k.section && k.key === top.key) continue;
      const desc = k.description ?? '';
      lines.push(
        `| \`${k.key}\`${k.section ? ' (section)' : ''} | ${cell(k.type)} | ${cell(k.bounds)} | ${cell(k.default)} | ${k.sighup ? 'yes' : 'no'} | ${cell(desc)} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
