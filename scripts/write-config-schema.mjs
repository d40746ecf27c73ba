#!/usr/bin/env node
// Regenerates schemas/config_snapshot.schema.json from the zod schema (npm run build first).
// test/artifacts.test.ts fails when the committed file and the schema drift apart.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/src/config/json-schema.js';
writeFileSync(new URL('../schemas/config_snapshot.schema.json', import.meta.url), JSON.stringify(configJsonSchema(), null, 2) + '\n');
