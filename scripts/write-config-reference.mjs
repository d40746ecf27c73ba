#!/usr/bin/env node
// Regenerates docs/config.md, the configuration reference, from the composed configuration
// schema (npm run build first; `npm run config-docs` does both). test/config-reference.test.ts
// and test/scripts.test.ts fail when the committed file and the schema drift apart.
//   node scripts/write-config-reference.mjs [OUT_FILE]   (docs/config.md by default)
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown } from '../dist/src/daemon/config-reference.js';
const out = process.argv[2] ? resolve(process.argv[2]) : fileURLToPath(new URL('../docs/config.md', import.meta.url));
writeFileSync(out, configReferenceMarkdown());
