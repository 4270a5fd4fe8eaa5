#!/usr/bin/env node
// Cross-check driver for core/iso8583 (see core/iso8583/crosscheck_test.go
// and the section "Checked against an independent codec" in docs/iso8583.md).
//
// It runs the npm package iso_8583@2.6.7 (an implementation we did not
// write) on a batch of requests, so that one node process serves a whole
// test run.
//
// stdin: a JSON array of requests, each one of
//   {"op": "pack",   "fields": {"0": "0200", "2": "...", ...}, "formats": {...}}
//   {"op": "unpack", "hex": "3032...", "bitmapEncoding": "utf8", "formats": {...}}
// "formats" (optional) is passed unchanged to the library as its custom
// formats (constructor argument); "bitmapEncoding" (optional) is the
// library's unpack option ("hex" = 8/16 binary bytes, its default; "utf8" =
// 32 ASCII hex characters). Values of b fields are hex text, as the library
// wants them. Messages carry no length header in either direction
// (getRawMessage / getIsoJSON with lenHeader: false).
//
// stdout: a JSON array with one result per request, in order:
//   {"hex": "..."}            packed message
//   {"fields": {"0": ...}}    unpacked message
//   {"error": "..."}          what the library reported (or threw)
'use strict';

const ISO8583 = require('iso_8583');

function pack(req) {
  const msg = Object.assign({}, req.fields);
  const out = new ISO8583(msg, req.formats || undefined).getRawMessage();
  if (!Buffer.isBuffer(out)) {
    return { error: String((out && out.error) || JSON.stringify(out)) };
  }
  return { hex: out.toString('hex') };
}

function unpack(req) {
  const buf = Buffer.from(req.hex, 'hex');
  const config = { lenHeader: false };
  if (req.bitmapEncoding) config.bitmapEncoding = req.bitmapEncoding;
  const out = new ISO8583(undefined, req.formats || undefined).getIsoJSON(buf, config);
  if (!out || out.error) {
    return { error: String((out && out.error) || 'no result') };
  }
  return { fields: out };
}

function run(req) {
  try {
    switch (req.op) {
      case 'pack':
        return pack(req);
      case 'unpack':
        return unpack(req);
      default:
        return { error: 'unknown op ' + JSON.stringify(req.op) };
    }
  } catch (e) {
    return { error: 'threw: ' + (e && e.message ? e.message : String(e)) };
  }
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  let reqs;
  try {
    reqs = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    process.stderr.write('iso8583.js: stdin is not JSON: ' + e.message + '\n');
    process.exit(2);
  }
  if (!Array.isArray(reqs)) {
    process.stderr.write('iso8583.js: stdin must be a JSON array of requests\n');
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(reqs.map(run)));
});
