'use strict';
// vod-node-sdk's upload guide (its README's "VodUploadClient" example), run
// once per case of the JSON file given as the first argument. Each case is
// {name, secretId, secretKey, token, region, request: {VodUploadRequest
// fields}} or, for an error the upload client cannot provoke,
// {name, ..., commit: "VodSessionKey"} which calls CommitUpload through the
// SDK's own API client. One JSON line per case on stdout:
// {name, FileId, MediaUrl, CoverUrl} or {name, code, message}.
const fs = require('fs');
const { VodUploadClient, VodUploadRequest } = require('vod-node-sdk');
const tencentcloud = require('tencentcloud-sdk-nodejs');

function upload(c) {
  const client = new VodUploadClient(c.secretId, c.secretKey, c.token);
  const req = new VodUploadRequest();
  Object.assign(req, c.request);
  return new Promise((resolve, reject) => {
    client.upload(c.region, req, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

function commit(c) {
  const cred = new tencentcloud.common.Credential(c.secretId, c.secretKey, c.token);
  const api = new tencentcloud.vod.v20180717.Client(cred, c.region);
  const req = new tencentcloud.vod.v20180717.Models.CommitUploadRequest();
  req.VodSessionKey = c.commit;
  return new Promise((resolve, reject) => {
    api.CommitUpload(req, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

async function main() {
  const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const c of cases) {
    const out = { name: c.name };
    try {
      const data = c.commit ? await commit(c) : await upload(c);
      out.FileId = data.FileId;
      out.MediaUrl = data.MediaUrl;
      out.CoverUrl = data.CoverUrl;
    } catch (err) {
      out.code = err.code || 'ClientError';
      out.message = String(err.message);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

main().catch((err) => {
  process.stderr.write('guide.js: ' + (err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
