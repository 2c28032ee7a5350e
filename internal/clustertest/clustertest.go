// Package clustertest holds process-level tests of several vodwatchd
// nodes on one folder, coordinated by a real etcd: every file once, a
// killed or paused node's work taken over, etcd restarted mid-drop.
package clustertest
