// x402scope test environment: validate JSON documents against a JSON Schema
// (draft-07) with ajv. Reads one JSON document per stdin line and prints one
// JSON line per document: {valid, errors}.
//   node validate-schema.mjs SCHEMA_FILE < documents.jsonl
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Ajv = require("ajv");
const [schemaFile] = process.argv.slice(2);
if (!schemaFile) { console.error("usage: node validate-schema.mjs SCHEMA_FILE < documents.jsonl"); process.exit(2); }
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
const input = readFileSync(0, "utf8").split("\n").filter((l) => l.trim() !== "");
for (const line of input) {
  const valid = validate(JSON.parse(line));
  console.log(JSON.stringify({ valid, errors: valid ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`) }));
}
