#!/usr/bin/env node
// escpos.mjs: encode receipt jobs with esc-pos-encoder, an ESC/POS encoder
// posagent did not write, so that possim's printer emulator and
// drivers/escpos can be checked against it
// (cmd/possim/emu/escpos/crosscheck_test.go).
//
// A job is JSON: {"options": {...}, "ops": [[method, arg...], ...]}.
// options go to `new EscPosEncoder(options)` (e.g. {"columns": 48,
// "imageMode": "raster"}); each op calls that encoder method with the
// arguments, in order. Only the content methods are allowed (see METHODS).
// For "image" the first argument may be {"rows": ["0110…", …]}: one string
// per pixel row, "1" black, "0" white; it becomes the RGBA object the
// encoder takes, so no canvas package is needed.
//
// Usage:
//   node escpos.mjs [job.json | -]          raw ESC/POS bytes of one job to stdout
//   node escpos.mjs --json [jobs.json | -]  JSON report of one job or of
//                                           {"jobs": {"name": job, …}}
//   node escpos.mjs --demo                  raw bytes of a small demo receipt
//
// The JSON report is {"versions": {package: version}, "jobs": {name:
// {"hex": "1b40…", "lines": [[{"type", "property", "value", "hex"}, …], …]}}}
// with "lines" as the encoder groups its commands (encode('lines'): one
// entry per printed line, before the newline bytes it appends). A job the
// encoder rejects reports {"error": message} instead (its range checks are
// part of what is compared). A single job is reported under the name "job".
//
// Install the encoder first: npm ci --prefix scripts/crosscheck

import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import EscPosEncoder from 'esc-pos-encoder';

const here = dirname(fileURLToPath(import.meta.url));

// Content methods a job may call (not encode/commands, which end a job).
const METHODS = new Set([
  'initialize', 'codepage', 'text', 'newline', 'line', 'underline', 'italic',
  'bold', 'invert', 'width', 'height', 'size', 'font', 'align', 'table', 'rule',
  'box', 'barcode', 'qrcode', 'pdf417', 'image', 'cut', 'pulse', 'raw',
]);

const DEMO = {
  options: {columns: 48, imageMode: 'raster'},
  ops: [
    ['initialize'],
    ['codepage', 'cp437'],
    ['align', 'center'], ['bold', true], ['line', 'CROSS-CHECK'], ['bold', false],
    ['align', 'left'], ['line', 'café 12.34'],
    ['barcode', 'T0000001', 'code128', {height: 60, width: 2, text: true}],
    ['qrcode', 'https://pos.example/r?stan=000042', {model: 2, size: 4, errorlevel: 'm'}],
    ['cut'],
  ],
};

function versions() {
  const require = createRequire(import.meta.url);
  const out = {};
  for (const name of ['esc-pos-encoder', '@point-of-sale/receipt-printer-encoder', '@point-of-sale/codepage-encoder']) {
    try {
      out[name] = JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      // Resolved elsewhere (e.g. a global install): ask the resolver.
      try {
        out[name] = require(`${name}/package.json`).version;
      } catch {
        out[name] = null;
      }
    }
  }
  return out;
}

// imageArg turns {"rows": [...]} into the {width, height, data} object the
// encoder accepts (type "object": plain RGBA bytes, no canvas).
function imageArg(arg) {
  if (!arg || !Array.isArray(arg.rows)) {
    return arg;
  }
  const height = arg.rows.length;
  const width = height ? arg.rows[0].length : 0;
  const data = new Uint8ClampedArray(width * height * 4);
  arg.rows.forEach((row, y) => {
    if (row.length !== width) {
      throw new Error(`image row ${y} has ${row.length} pixels, want ${width}`);
    }
    for (let x = 0; x < width; x++) {
      const v = row[x] === '1' ? 0 : 255;
      const i = (y * width + x) * 4;
      data[i] = data[i + 1] = data[i + 2] = v;
      data[i + 3] = 255;
    }
  });
  return {width, height, data};
}

// build runs a job's ops on a new encoder and returns it, ready to encode.
function build(job) {
  const enc = new EscPosEncoder(structuredClone(job.options || {}));
  for (const [i, op] of (job.ops || []).entries()) {
    if (!Array.isArray(op) || typeof op[0] !== 'string' || !METHODS.has(op[0])) {
      throw new Error(`op ${i}: ${JSON.stringify(op)} is not [method, args…] with a known method`);
    }
    const args = structuredClone(op.slice(1));
    if (op[0] === 'image') {
      args[0] = imageArg(args[0]);
    }
    enc[op[0]](...args);
  }
  return enc;
}

const hex = (bytes) => Buffer.from(Uint8Array.from(bytes)).toString('hex');

function report(job) {
  try {
    const bytes = build(job).encode();
    const lines = build(job).encode('lines').map((line) => line.map((item) => {
      const out = {type: item.type};
      if (item.property !== undefined) out.property = item.property;
      if (item.value !== undefined && typeof item.value !== 'object') out.value = item.value;
      out.hex = hex(item.payload || []);
      return out;
    }));
    return {hex: hex(bytes), lines};
  } catch (err) {
    return {error: String(err && err.message ? err.message : err)};
  }
}

function readInput(path) {
  const text = !path || path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  return JSON.parse(text);
}

function main(argv) {
  const args = argv.slice(2);
  if (args[0] === '--demo') {
    process.stdout.write(build(DEMO).encode());
    return 0;
  }
  if (args[0] === '--json') {
    const input = readInput(args[1]);
    const jobs = input.jobs ? input.jobs : {job: input};
    const out = {versions: versions(), jobs: {}};
    for (const [name, job] of Object.entries(jobs)) {
      out.jobs[name] = report(job);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    return 0;
  }
  if (args[0] && args[0].startsWith('--')) {
    process.stderr.write('usage: node escpos.mjs [--json] [job.json | -] | --demo\n');
    return 2;
  }
  const input = readInput(args[0]);
  if (input.jobs) {
    process.stderr.write('escpos.mjs: several jobs need --json\n');
    return 2;
  }
  process.stdout.write(build(input).encode());
  return 0;
}

process.exitCode = main(process.argv);
