package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Filter selects jobs for List. Empty fields select everything.
type Filter struct {
	Stages    []Stage  `json:"stages,omitempty"`
	Root      string   `json:"root,omitempty"`       // watch root (exact)
	RelPrefix string   `json:"rel_prefix,omitempty"` // with Root: rel equal to it or under it as a folder
	IDs       []string `json:"ids,omitempty"`
	Limit     int      `json:"limit,omitempty"` // stop after this many matches (0: no limit)
}

func (f Filter) match(j *Job) bool {
	if len(f.Stages) > 0 && !containsStage(f.Stages, j.Stage) {
		return false
	}
	if f.Root != "" && j.Key.Root != f.Root {
		return false
	}
	if f.RelPrefix != "" {
		p := strings.TrimSuffix(f.RelPrefix, "/")
		if j.Key.Rel != p && !strings.HasPrefix(j.Key.Rel, p+"/") {
			return false
		}
	}
	return true
}

func containsStage(list []Stage, s Stage) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// List returns the jobs matching f, ordered by path then enqueue order.
// It walks the narrowest index: ids, then stages, then the root's paths;
// its cost follows the number of candidates, not the number of jobs.
func (s *Store) List(ctx context.Context, f Filter) ([]*Job, error) {
	for _, st := range f.Stages {
		if !st.Valid() {
			return nil, fmt.Errorf("state: list: unknown stage %q", st)
		}
	}
	var jobs []*Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		add := func(j *Job) bool {
			if f.match(j) {
				jobs = append(jobs, j)
			}
			return f.Limit <= 0 || len(jobs) < f.Limit
		}
		return scanCandidates(tx, f, add)
	})
	if err != nil {
		return nil, fmt.Errorf("state: list jobs: %w", err)
	}
	sortJobs(jobs)
	return jobs, nil
}

func scanCandidates(tx *bolt.Tx, f Filter, add func(*Job) bool) error {
	var err error
	visit := func(id string) bool {
		var j *Job
		if j, err = getJob(tx, id); err != nil {
			return false
		}
		return add(j)
	}
	switch {
	case len(f.IDs) > 0:
		for _, id := range f.IDs {
			if tx.Bucket(bJobs).Get([]byte(id)) != nil && !visit(id) {
				break
			}
		}
	case len(f.Stages) > 0:
		for _, st := range f.Stages {
			more := true
			forEachInStage(tx, st, func(id string) bool { more = visit(id); return more })
			if !more {
				break
			}
		}
	case f.Root != "":
		prefix := pathKey(f.Root, strings.TrimSuffix(f.RelPrefix, "/"))
		if f.RelPrefix == "" {
			prefix = pathKey(f.Root, "")
		}
		forEachPrefix(tx.Bucket(bIdentity), prefix, func(_, v []byte) bool {
			id, _ := parseIdentityValue(v)
			return visit(id)
		})
	default:
		c := tx.Bucket(bJobs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			j, derr := decodeJob(string(k), v)
			if derr != nil {
				return derr
			}
			if !add(j) {
				break
			}
		}
	}
	return err
}

// Roots returns every watch root a job was ever recorded under.
func (s *Store) Roots(ctx context.Context) ([]string, error) {
	var roots []string
	err := s.read(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bRoots).ForEach(func(k, _ []byte) error {
			roots = append(roots, string(k))
			return nil
		})
	})
	return roots, err
}

// FindPath returns the latest job of the file at p, where p is absolute or
// relative to a watch root; when no file matches, the latest jobs of the
// files under p as a folder.
func (s *Store) FindPath(ctx context.Context, p string) ([]*Job, error) {
	roots, err := s.Roots(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: find %s: %w", p, err)
	}
	type cand struct{ root, rel string }
	var cands []cand
	for _, r := range roots {
		if rel, ok := relUnder(r, p); ok {
			cands = append(cands, cand{r, rel})
		}
	}
	var out []*Job
	for _, c := range cands {
		if c.rel == "" {
			continue
		}
		j, ok, err := s.ByPath(ctx, c.root, c.rel)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, j)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, c := range cands {
		jobs, err := s.List(ctx, Filter{Root: c.root, RelPrefix: c.rel})
		if err != nil {
			return nil, err
		}
		out = append(out, latestPerPath(jobs)...)
	}
	return out, nil
}

// relUnder returns p as a slash path relative to root ("" for root itself).
func relUnder(root, p string) (string, bool) {
	if !filepath.IsAbs(p) {
		rel := path.Clean(filepath.ToSlash(p))
		if rel == "." {
			return "", true
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return "", false
		}
		return rel, true
	}
	p = filepath.Clean(p)
	if p == root {
		return "", true
	}
	if !strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/") {
		return "", false
	}
	return filepath.ToSlash(strings.TrimPrefix(p, strings.TrimSuffix(root, "/")+"/")), true
}

// latestPerPath keeps the highest-Seq job of each path of a sorted list.
func latestPerPath(jobs []*Job) []*Job {
	var out []*Job
	for _, j := range jobs {
		if n := len(out); n > 0 && out[n-1].Key.Root == j.Key.Root && out[n-1].Key.Rel == j.Key.Rel {
			out[n-1] = j
			continue
		}
		out = append(out, j)
	}
	return out
}

// Due returns up to limit jobs ready to run at now (0: no limit), highest
// Priority first, then oldest first: queued jobs, failed jobs whose
// NextRetry has come (and Attempts < Options.MaxAttempts when set), and
// jobs that were in flight when the store was opened (a crash or restart
// interrupted them; their Stage says where to resume) and have not been
// updated since. Due is a snapshot: the caller keeps track of the jobs it
// is already running.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]*Job, error) {
	s.mu.Lock()
	resumable := make([]string, 0, len(s.resumable))
	for id := range s.resumable {
		resumable = append(resumable, id)
	}
	s.mu.Unlock()
	var jobs []*Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		var err error
		collect := func(st Stage, ok func(*Job) bool) {
			forEachInStage(tx, st, func(id string) bool {
				var j *Job
				if j, err = s.records.read(tx, id); err != nil {
					return false
				}
				if ok(j) {
					jobs = append(jobs, j)
				}
				return true
			})
		}
		collect(StageQueued, func(*Job) bool { return true })
		collect(StageFailed, func(j *Job) bool { return s.retryDue(j, now) })
		for _, id := range resumable {
			if err != nil {
				break
			}
			j, gerr := s.records.read(tx, id)
			if gerr == nil && j.Stage.InFlight() {
				jobs = append(jobs, j)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: due jobs: %w", err)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if jobs[a].Priority != jobs[b].Priority {
			return jobs[a].Priority > jobs[b].Priority
		}
		return jobs[a].Seq < jobs[b].Seq
	})
	if limit > 0 && len(jobs) > limit {
		jobs = jobs[:limit]
	}
	return jobs, nil
}

func (s *Store) retryDue(j *Job, now time.Time) bool {
	if j.NextRetry.IsZero() || j.NextRetry.After(now) {
		return false
	}
	return s.opts.MaxAttempts <= 0 || j.Attempts < s.opts.MaxAttempts
}

// NextRetryAt returns the earliest NextRetry among failed jobs still
// allowed to retry, so the pipeline knows when to look at Due again.
func (s *Store) NextRetryAt(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	err := s.read(ctx, func(tx *bolt.Tx) error {
		var err error
		forEachInStage(tx, StageFailed, func(id string) bool {
			var j *Job
			if j, err = getJob(tx, id); err != nil {
				return false
			}
			if j.NextRetry.IsZero() || (s.opts.MaxAttempts > 0 && j.Attempts >= s.opts.MaxAttempts) {
				return true
			}
			if next.IsZero() || j.NextRetry.Before(next) {
				next = j.NextRetry
			}
			return true
		})
		return err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("state: next retry: %w", err)
	}
	return next, !next.IsZero(), nil
}

// compactBatch bounds the size of one compaction transaction.
const compactBatch = 1000

// Compact shrinks done jobs finished more than olderThan ago (and whose
// post-action is not pending) to their identity, result and times: the
// identity stays, so the file is never uploaded again. It returns how many
// records it shrank. Work is split into transactions of compactBatch jobs.
func (s *Store) Compact(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan)
	total, after := 0, ""
	for {
		var ids []string
		err := s.read(ctx, func(tx *bolt.Tx) error {
			ids = doneIDsAfter(tx, after, compactBatch)
			return nil
		})
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		n := 0
		err = s.write(ctx, "compact done jobs", func(tx *bolt.Tx) error {
			n = 0 // a batched write may run again
			for _, id := range ids {
				j, err := getJob(tx, id)
				if err != nil {
					continue // forgotten meanwhile
				}
				if j.Stage != StageDone || j.Compacted || !j.Finished.Before(cutoff) || j.Post.State == PostPending ||
					j.Post.State == PostWaiting || following(j) {
					continue
				}
				if err := putJob(tx, j, compacted(j)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
}

// doneIDsAfter returns up to n ids of done jobs that sort after the id after.
func doneIDsAfter(tx *bolt.Tx, after string, n int) []string {
	prefix := pairKey(string(StageDone), "")
	c := tx.Bucket(bStage).Cursor()
	var ids []string
	for k, _ := c.Seek(pairKey(string(StageDone), after)); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		id := string(k[len(prefix):])
		if id == after {
			continue
		}
		if ids = append(ids, id); len(ids) == n {
			break
		}
	}
	return ids
}

func compacted(j *Job) *Job {
	return &Job{
		ID: j.ID, Seq: j.Seq, Key: j.Key, Kind: j.Kind, Rule: j.Rule, Stage: j.Stage,
		Attempts: j.Attempts, Created: j.Created, Updated: j.Updated, Started: j.Started,
		Finished: j.Finished, Bytes: j.Bytes, BytesDone: j.BytesDone, ContentHash: j.ContentHash,
		Result: j.Result, Post: Post{State: j.Post.State, Action: j.Post.Action, MovedTo: j.Post.MovedTo, Sidecar: j.Post.Sidecar},
		Play: j.Play.clone(), RenamedTo: j.RenamedTo, Compacted: true,
	}
}

// Keys calls fn with the key and id of every job under root, from the
// identity index (no job record is read), until fn returns false.
func (s *Store) Keys(ctx context.Context, root string, fn func(k Key, id string) bool) error {
	prefix := append([]byte(root), 0)
	return s.read(ctx, func(tx *bolt.Tx) error {
		forEachPrefix(tx.Bucket(bIdentity), prefix, func(k, v []byte) bool {
			key, ok := decodeIdentityKey(root, k[len(prefix):])
			id, fast := parseIdentityValue(v)
			key.Dev, key.Ino, key.CtimeNs = fast.Dev, fast.Ino, fast.CtimeNs
			return !ok || fn(key, id)
		})
		return nil
	})
}

// decodeIdentityKey reads what follows "root NUL" in an identity key
// (identityKey: rel NUL, size and mtime big-endian, then the variant).
func decodeIdentityKey(root string, b []byte) (Key, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || len(b) < i+1+16 {
		return Key{}, false
	}
	n := i + 1
	return Key{Root: root, Rel: string(b[:i]), Size: int64(binary.BigEndian.Uint64(b[n:])),
		MtimeNs: int64(binary.BigEndian.Uint64(b[n+8:])), Variant: string(b[n+16:])}, true
}

// QueueSummary describes the jobs not yet done or failed (queued and in
// flight): how many, by priority, and when the oldest was created.
type QueueSummary struct {
	Count      int
	ByPriority map[int]int
	Oldest     time.Time
}

// Pending summarises the queue for the metrics without decoding whole
// records: it runs every few seconds over every pending job, which during
// a drop of thousands of files cost as much as the jobs' own records.
func (s *Store) Pending(ctx context.Context) (QueueSummary, error) {
	sum := QueueSummary{ByPriority: map[int]int{}}
	err := s.read(ctx, func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bJobs)
		var err error
		for _, st := range []Stage{StageQueued, StageApplied, StageUploading, StageCommitting} {
			forEachInStage(tx, st, func(id string) bool {
				var head struct {
					Priority int       `json:"priority"`
					Created  time.Time `json:"created"`
				}
				if err = json.Unmarshal(jobs.Get([]byte(id)), &head); err != nil {
					err = fmt.Errorf("job %s: record unreadable: %w", id, err)
					return false
				}
				sum.Count++
				sum.ByPriority[head.Priority]++
				if sum.Oldest.IsZero() || head.Created.Before(sum.Oldest) {
					sum.Oldest = head.Created
				}
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return QueueSummary{}, fmt.Errorf("state: pending jobs: %w", err)
	}
	return sum, nil
}
