'use strict';
// Preloaded (node -r) into a run of http_trace --keylog by `npm run bench -- tls`: counts the records node:crypto
// decrypts, per cipher, and their bytes, and writes them as JSON to $COUNT_DECIPHERS_OUT at exit. The TLS floor
// (tls-floor.js) then decrypts the same number of records of the same ciphers and total size.
const crypto = require('node:crypto');
const fs = require('node:fs');
const create = crypto.createDecipheriv;
const counts = {};
crypto.createDecipheriv = function countingDecipheriv(cipher, ...rest) {
  const decipher = create.call(this, cipher, ...rest);
  const entry = (counts[cipher] ??= { records: 0, bytes: 0 });
  entry.records++;
  const update = decipher.update;
  decipher.update = function countingUpdate(data, ...more) {
    entry.bytes += data.length;
    return update.call(this, data, ...more);
  };
  return decipher;
};
process.on('exit', () => fs.writeFileSync(process.env.COUNT_DECIPHERS_OUT, JSON.stringify(counts)));
