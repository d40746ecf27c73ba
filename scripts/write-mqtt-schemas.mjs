#!/usr/bin/env node
// Regenerates schemas/mqtt_request.schema.json and mqtt_response.schema.json from the zod
// schemas the control plane validates with (npm run build first). test/mqtt-control.test.ts
// fails when the committed files and the code drift apart.
//   node scripts/write-mqtt-schemas.mjs [OUT_DIR]   (schemas/ by default)
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlJsonSchemas } from '../dist/src/outputs/mqtt-control.js';
const out = process.argv[2] ? resolve(process.argv[2]) : fileURLToPath(new URL('../schemas', import.meta.url));
const s = controlJsonSchemas();
for (const k of ['request', 'response'])
  writeFileSync(join(out, `mqtt_${k}.schema.json`), JSON.stringify(s[k], null, 2) + '\n');
