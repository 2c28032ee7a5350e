package state

import (
	"bytes"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxCachedRecords bounds the decoded records kept by recordCache: the
// jobs in flight and those about to be, a few MiB at most.
const maxCachedRecords = 2048

// recordCache keeps the decoded form of the job records written or read
// last, keyed by id and checked against the stored bytes: a job in flight
// is read and rewritten several times, and decoding its JSON each time was
// a large part of the daemon's cost per file. A record that changed by any
// other path (another transaction, a write that was rolled back) no longer
// matches its bytes and is decoded afresh.
type recordCache struct {
	mu sync.Mutex
	m  map[string]cachedRecord
}

type cachedRecord struct {
	raw []byte
	job *Job
}

// get returns a copy of the decoded record of id whose stored bytes are
// raw, or nil.
func (c *recordCache) get(id string, raw []byte) *Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	if !ok || !bytes.Equal(r.raw, raw) {
		return nil
	}
	return r.job.Clone()
}

// peek is get without the copy: the cached record itself, which the
// caller must not change or keep, or nil.
func (c *recordCache) peek(id string, raw []byte) *Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.m[id]; ok && bytes.Equal(r.raw, raw) {
		return r.job
	}
	return nil
}

// put remembers j as the decoded form of raw (both kept as given: the
// caller hands over copies).
func (c *recordCache) put(id string, raw []byte, j *Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if settled(j) {
		delete(c.m, id) // not read again in the normal course
		return
	}
	if c.m == nil {
		c.m = make(map[string]cachedRecord, 64)
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxCachedRecords {
		for k := range c.m { // an arbitrary one: map order is random
			delete(c.m, k)
			break
		}
	}
	c.m[id] = cachedRecord{raw: raw, job: j}
}

// job reads job id in tx through the cache, remembering a record it had
// to decode.
func (c *recordCache) job(tx *bolt.Tx, id string) (*Job, error) { return c.lookup(tx, id, true) }

// read is job for a listing: a record it had to decode is not remembered
// (a list's jobs are mostly not about to be written).
func (c *recordCache) read(tx *bolt.Tx, id string) (*Job, error) { return c.lookup(tx, id, false) }

func (c *recordCache) lookup(tx *bolt.Tx, id string, keep bool) (*Job, error) {
	v := tx.Bucket(bJobs).Get([]byte(id))
	if v == nil {
		return getJob(tx, id) // its not-found error
	}
	if j := c.get(id, v); j != nil {
		return j, nil
	}
	j, err := decodeJob(id, v)
	if err != nil {
		return nil, err
	}
	if keep {
		c.put(id, bytes.Clone(v), j.Clone())
	}
	return j, nil
}

// settled reports whether j has nothing left to do: done with its
// post-action, or quarantined.
func settled(j *Job) bool {
	return (j.Stage == StageDone && j.Post.State != PostPending) || j.Stage == StageQuarantined
}
