// Package nodesdk holds the test that runs Tencent's official Node
// server-upload SDK (vod-node-sdk 1.1.0 from npm) unchanged against the
// emulator: its upload guide for every kind of upload and every error code
// users meet. The SDK is installed under testdata/node_modules (not
// committed) on the first run and reused afterwards.
package nodesdk
