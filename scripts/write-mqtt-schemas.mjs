#!/usr/bin/env node
// Regenerates schemas/mqtt_request.schema.json and mqtt_response.schema.json from the zod
// schemas the control plane validates with (npm run build first). test/mqtt-control.test.ts
// fails when the committed files and the code drift apart.
import { writeFileSync } from 'node:fs';
import { controlJsonSchemas } from '../dist/src/outputs/mqtt-control.js';
const s = controlJsonSchemas();
for (const k of ['request', 'response']) writeFileSync(new URL(`../schemas/mqtt_${k}.schema.json`, import.meta.url), JSON.stringify(s[k], null, 2) + '\n');
