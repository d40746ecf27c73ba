#!/usr/bin/env node
// Regenerates schemas/config_snapshot.schema.json from the zod schema (npm run build first).
// test/artifacts.test.ts fails when the committed file and the schema drift apart.
//   node scripts/write-config-schema.mjs [OUT_DIR]   (schemas/ by default)
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '../dist/src/daemon/config.js';
const out = process.argv[2] ? resolve(process.argv[2]) : fileURLToPath(new URL('../schemas', import.meta.url));
writeFileSync(join(out, 'config_snapshot.schema.json'), JSON.stringify(configJsonSchema(), null, 2) + '\n');
