package daemon

import "github.com/vodwatchd/vodwatchd/internal/state"

// jobQueue is the snapshot of due jobs the scheduler works off (refill),
// in the order they start, and how many of them are big: at or above the
// small-file threshold (every job when there is none). A dispatch pass
// that may start only big jobs stops when none is left, instead of
// walking the queue of small ones each time one of them ends.
type jobQueue struct {
	jobs    []*state.Job
	big     int   // big jobs in jobs, for bigFor
	bigFor  int64 // the threshold big was counted for
	counted bool
}

// bigJobs returns how many of the queue's jobs are big under threshold,
// counting them again only when the threshold is not the one counted for
// (a reload).
func (q *jobQueue) bigJobs(threshold int64) int {
	if !q.counted || q.bigFor != threshold {
		q.big, q.bigFor, q.counted = 0, threshold, true
		for _, j := range q.jobs {
			if threshold <= 0 || j.Bytes >= threshold {
				q.big++
			}
		}
	}
	return q.big
}
