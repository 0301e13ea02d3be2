'use strict';
// The least CPU any Node program can spend on the TLS benchmark's capture: read the file (1 MiB readSync, as
// walk.js) and decrypt as many records of each cipher and size as http_trace --keylog decrypts, with node:crypto
// (one decipher per record: the nonce changes per record and a node:crypto decipher cannot be re-keyed). No
// packet decoding, TCP reassembly, TLS record parsing, HTTP or output. Usage: node tls-floor.js FILE COUNTS.json
// (COUNTS from count-deciphers.js). tshark's CPU divided by this process's CPU is the highest ratio a Node
// program could reach on this capture.
const crypto = require('node:crypto');
const fs = require('node:fs');
const [file, countsFile] = process.argv.slice(2);
const counts = JSON.parse(fs.readFileSync(countsFile, 'utf8'));

const fd = fs.openSync(file, 'r');
const chunk = Buffer.allocUnsafe(1 << 20);
while (fs.readSync(fd, chunk) > 0);
fs.closeSync(fd);

for (const [cipher, { records, bytes }] of Object.entries(counts)) {
  if (!records) continue;
  const keyLength = /256|chacha/i.test(cipher) ? 32 : 16;
  const key = crypto.randomBytes(keyLength);
  const iv = Buffer.alloc(12);
  const aad = Buffer.alloc(13);
  const size = Math.max(1, Math.round(bytes / records));
  const options = { authTagLength: 16 };
  const cipherer = crypto.createCipheriv(cipher, key, iv, options);
  cipherer.setAAD(aad);
  const ciphertext = Buffer.concat([cipherer.update(Buffer.alloc(size, 0x61)), cipherer.final()]);
  const tag = cipherer.getAuthTag();
  for (let i = 0; i < records; i++) {
    const decipher = crypto.createDecipheriv(cipher, key, iv, options);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    decipher.update(ciphertext);
    decipher.final();
  }
}
